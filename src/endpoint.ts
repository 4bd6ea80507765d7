import os = require('node:os');
import path = require('node:path');
import { argTypeError, argValueError } from './errors';

/** Where a transport connects or a server listens. */
export type Endpoint =
  | string
  | { type: 'unix'; path: string }
  | { type: 'abstract'; name: string }
  | { type: 'pipe'; name: string }
  | { type: 'tcp'; host?: string; port: number };

export type ResolvedEndpoint =
  /** `privateDir`: for `pipe:name`, the owner-only directory that `listen` creates if needed. */
  | { kind: 'unix'; path: string; abstract: false; display: string; privateDir?: string }
  | { kind: 'unix'; path: string; abstract: true; display: string }
  /** A Windows named pipe, `\\.\pipe\name`. */
  | { kind: 'pipe'; path: string; display: string }
  | { kind: 'tcp'; host: string; port: number; display: string };

const IS_WINDOWS = process.platform === 'win32';
const WINDOWS_PIPE_PREFIX = '\\\\.\\pipe\\';

/**
 * Turns an endpoint string or object into what the transports use.
 *
 * - `unix:/abs/path` (or a bare absolute path): a Unix domain socket file; a relative path is resolved
 *   against the working directory.
 * - `unix:@name`: a socket in the Linux abstract namespace (no file; `name` is used byte for byte).
 * - `pipe:name`: one name for every OS. On Windows the named pipe `\\.\pipe\name`; elsewhere a Unix
 *   socket `name.sock` in an owner-only directory: `$XDG_RUNTIME_DIR/symphony-ipc/` when that variable
 *   is set, else `<tmpdir>/symphony-ipc-<uid>/`.
 * - `\\.\pipe\name` (Windows only): a named pipe by its full name.
 * - `tcp:host:port`, `tcp:[::1]:port`, `tcp:port`: TCP; the host defaults to 127.0.0.1.
 */
export function resolveEndpoint(endpoint: Endpoint): ResolvedEndpoint {
  if (typeof endpoint === 'string') return parseString(endpoint);
  if (endpoint === null || typeof endpoint !== 'object') {
    throw argTypeError('endpoint', 'a string or an endpoint object', endpoint);
  }
  switch (endpoint.type) {
    case 'unix':
      return unixPath(endpoint.path);
    case 'abstract':
      return abstractName(endpoint.name);
    case 'pipe':
      return pipeName(endpoint.name);
    case 'tcp':
      return tcp(endpoint.host ?? '127.0.0.1', endpoint.port, `tcp:${endpoint.host ?? '127.0.0.1'}:${endpoint.port}`);
    default:
      throw argValueError(`Unknown endpoint type '${String((endpoint as { type?: unknown }).type)}'`);
  }
}

function parseString(s: string): ResolvedEndpoint {
  if (s.startsWith('unix:')) {
    const rest = s.slice(5);
    return rest.startsWith('@') ? abstractName(rest.slice(1)) : unixPath(rest);
  }
  if (s.startsWith('tcp:')) {
    const rest = s.slice(4);
    let host = '127.0.0.1';
    let portText = rest;
    const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(rest);
    if (bracket) {
      host = bracket[1]!;
      portText = bracket[2]!;
    } else if (rest.includes(':')) {
      const i = rest.lastIndexOf(':');
      host = rest.slice(0, i);
      portText = rest.slice(i + 1);
    }
    if (!/^\d+$/.test(portText)) throw argValueError(`Invalid TCP endpoint '${s}': expected tcp:host:port`);
    return tcp(host, Number(portText), s);
  }
  if (s.startsWith('pipe:')) return pipeName(s.slice(5));
  if (s.toLowerCase().startsWith(WINDOWS_PIPE_PREFIX)) {
    if (!IS_WINDOWS) throw argValueError(`'${s}' is a Windows named pipe; on ${process.platform} use pipe:name or unix:/path`);
    return pipeName(s.slice(WINDOWS_PIPE_PREFIX.length));
  }
  if (path.isAbsolute(s) && !IS_WINDOWS) return unixPath(s);
  throw argValueError(`Invalid endpoint '${s}': expected pipe:name, unix:/path, unix:@name or tcp:host:port`);
}

/** The owner-only directory that holds the sockets of `pipe:` endpoints on Unix. */
export function pipeDirectory(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && path.isAbsolute(runtime)) return path.join(runtime, 'symphony-ipc');
  return path.join(os.tmpdir(), `symphony-ipc-${process.getuid?.() ?? 'user'}`);
}

function pipeName(name: unknown): ResolvedEndpoint {
  if (typeof name !== 'string' || name.length === 0) throw argTypeError('name', 'a non-empty string', name);
  if (/[\\/\0]/.test(name) || name === '.' || name === '..') {
    throw argValueError(`Invalid pipe name '${name}': it must not contain '/', '\\' or NUL`);
  }
  if (IS_WINDOWS) {
    const full = WINDOWS_PIPE_PREFIX + name;
    return { kind: 'pipe', path: full, display: full };
  }
  const dir = pipeDirectory();
  const file = path.join(dir, `${name}.sock`);
  return { kind: 'unix', path: file, abstract: false, display: file, privateDir: dir };
}

function unixPath(p: unknown): ResolvedEndpoint {
  if (typeof p !== 'string' || p.length === 0) throw argTypeError('path', 'a non-empty string', p);
  if (IS_WINDOWS) throw argValueError('Unix socket paths are not supported on Windows: use pipe:name');
  if (p.includes('\0')) throw argValueError('A socket path must not contain NUL bytes');
  const abs = path.resolve(p);
  return { kind: 'unix', path: abs, abstract: false, display: abs };
}

function abstractName(name: unknown): ResolvedEndpoint {
  if (typeof name !== 'string' || name.length === 0) throw argTypeError('name', 'a non-empty string', name);
  if (process.platform !== 'linux') {
    throw argValueError('The abstract socket namespace (unix:@name) exists only on Linux');
  }
  return { kind: 'unix', path: name, abstract: true, display: `unix:@${name}` };
}

function tcp(host: string, port: unknown, display: string): ResolvedEndpoint {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw argValueError(`Invalid TCP port in '${display}': expected an integer from 0 to 65535`);
  }
  return { kind: 'tcp', host, port, display };
}

/** The bytes that go into sun_path: the path itself, or a NUL then the abstract name. */
export function unixAddressBytes(ep: ResolvedEndpoint & { kind: 'unix' }): Buffer {
  return ep.abstract ? Buffer.concat([Buffer.from([0]), Buffer.from(ep.path)]) : Buffer.from(ep.path);
}
