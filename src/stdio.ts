// Child processes as transports: the child's stdin and stdout are pipes that the native engine writes
// and reads directly (uv_spawn with UV_CREATE_PIPE), so no child_process stream sits on the hot path.
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { DEFAULTS, OPEN_STDIO_KEYS, SPAWN_KEYS, reconnectConfig, restartConfig, transportConfig, type TransportConfig, type TransportOptions } from './config';
import { debug } from './debug';
import { ErrorCodes, argTypeError, argValueError, ipcError, systemError } from './errors';
import { FRAME_TABLE, NativeProcess, NativeStream, StreamKind, dupFd, guessHandle, newStream, type NativeOwner } from './native';
import { ReconnectingTransport } from './reconnect';
import { StdioCarrier } from './stdio-carrier';
import { Transport, type ChildExit, type ChildLink, kLink } from './transport';
import { FramingCode } from './wire';

export interface SpawnStdioOptions extends TransportOptions {
  /** Working directory of the child. Default: this process's. */
  cwd?: string;
  /** Environment of the child. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /**
   * `'pipe'` (default): drained by us, each line emitted as a `'stderr'` event, the last 64 KiB kept for
   * `stderrTail()`. `'inherit'`: the child writes to our stderr. `'ignore'`: discarded.
   */
  stderr?: 'pipe' | 'inherit' | 'ignore';
  /**
   * Respawn the child when it dies (exits with a non-zero code or by a signal); off by default. `true`
   * or `{ maxRestarts, restartDelay }` (defaults 5 and 500 ms). spawnStdio() then returns a
   * ReconnectingTransport: frames sent while the child is down are queued for the next one, and
   * frames the dead child never read from its stdin pipe are sent again. A clean exit (code 0) ends
   * the transport; so does a death past `maxRestarts`, with ERR_IPC_PEER_EXITED.
   */
  restart?: boolean | RestartPolicy;
}

export interface RestartPolicy {
  /** Restarts over the transport's life. Default 5. */
  maxRestarts?: number;
  /** Milliseconds between a death and the respawn. Default 500. */
  restartDelay?: number;
}

const STDERR_MODES = { pipe: 0, inherit: 1, ignore: 2 } as const;
const STDERR_TAIL = 64 * 1024;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(os.constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

/** A transport over a child process's stdin and stdout. */
export class StdioTransport extends Transport {
  /** The child's process id. */
  readonly pid: number;
  #link: ChildProcessLink;

  /** @internal */
  constructor(reader: NativeStream, writer: NativeStream, config: TransportConfig, endpoint: string, link: ChildProcessLink) {
    super(new StdioCarrier(reader, writer, true), config, endpoint, { pid: link.pid }, link);
    this.pid = link.pid;
    this.#link = link;
    link.attach(this);
  }

  /** Sends `signal` (default SIGTERM) to the child; false if it has already exited. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    return this.#link.kill(signal);
  }

  /** The last 64 KiB the child wrote to stderr (with `stderr: 'pipe'`), for diagnostics. */
  stderrTail(): string {
    return this.#link.stderrTail();
  }

  override unref(): this {
    super.unref();
    this.#link.unref();
    return this;
  }

  override ref(): this {
    super.ref();
    this.#link.ref();
    return this;
  }
}

/**
 * Spawns `command` with `args` and returns at once a transport over its stdin and stdout (default
 * framing `'lines'`). A command that cannot be started throws (`ENOENT`, `EACCES`), synchronously, like
 * `child_process.spawn` would report it.
 */
export function spawnStdio(command: string, args: readonly string[], options: SpawnStdioOptions & { restart: true | RestartPolicy }): ReconnectingTransport;
export function spawnStdio(command: string, args?: readonly string[], options?: SpawnStdioOptions): StdioTransport;
export function spawnStdio(command: string, args: readonly string[] = [], options?: SpawnStdioOptions): StdioTransport | ReconnectingTransport {
  if (typeof command !== 'string' || command.length === 0) throw argTypeError('command', 'a non-empty string', command);
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw argTypeError('args', 'an array of strings', args);
  const raw = options ?? {};
  if (raw === null || typeof raw !== 'object') throw argTypeError('options', 'an object', raw);
  if (raw.restart !== undefined && raw.restart !== false) return restartingStdio(command, args, raw);
  const { restart: _off, ...plain } = raw;
  return spawnOne(command, args, plain);
}

/** A child restarted when it dies, behind one ReconnectingTransport (spawnStdio's `restart`). */
function restartingStdio(command: string, args: readonly string[], raw: SpawnStdioOptions): ReconnectingTransport {
  const { restart, ...once } = raw;
  const { maxRestarts, restartDelay: delay } = restartConfig(restart);
  // The first child is spawned here, so a command that cannot start throws at the call, as without restart.
  let next: StdioTransport | null = spawnOne(command, args, once);
  let lastExit: ChildExit | null = null;
  let lastEndpoint = next.endpoint;
  const watch = (t: StdioTransport): StdioTransport => {
    lastExit = null;
    lastEndpoint = t.endpoint;
    void t.exited?.then((exit) => (lastExit = exit));
    return t;
  };
  watch(next);
  const factory = async (): Promise<Transport> => {
    const first = next;
    next = null;
    return first ?? watch(spawnOne(command, args, once));
  };
  const transportKeys = new Set(Object.keys(DEFAULTS));
  const cfg = reconnectConfig(Object.fromEntries(Object.entries({ framing: 'lines', ...once }).filter(([k]) => transportKeys.has(k))));
  const failed = (): boolean => lastExit === null || lastExit.code !== 0 || lastExit.signal !== null;
  const r = new ReconnectingTransport(factory, `stdio:${path.basename(command)}`, cfg, {
    delay,
    maxRestarts,
    shouldRestart: failed,
    endError: () => {
      const exit = lastExit;
      if (exit === null || !failed()) return null;
      const how = exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      return ipcError(ErrorCodes.PEER_EXITED, `${lastEndpoint} ${how} after ${maxRestarts} restart(s); not restarting it again`, {
        address: lastEndpoint,
        exitCode: exit.code,
        signal: exit.signal,
        restarts: maxRestarts,
      });
    },
  });
  // Closed before its first dial (close() or destroy() at once): the child spawned above was never
  // taken, and nothing else would ever end it.
  r.once('close', () => {
    const unused = next;
    next = null;
    if (unused === null) return;
    unused.on('error', () => {});
    void unused.close();
  });
  return r;
}

function spawnOne(command: string, args: readonly string[], raw: SpawnStdioOptions): StdioTransport {
  const config = transportConfig({ framing: 'lines', ...raw }, SPAWN_KEYS, 'spawnStdio()');
  const { cwd, env, stderr = 'pipe' } = raw;
  if (cwd !== undefined && typeof cwd !== 'string') throw argTypeError('options.cwd', 'a string', cwd);
  if (env !== undefined && (env === null || typeof env !== 'object')) throw argTypeError('options.env', 'an object', env);
  if (!(stderr in STDERR_MODES)) throw argValueError(`options.stderr must be 'pipe', 'inherit' or 'ignore'. Received ${String(stderr)}`);

  const stdin = newStream(StreamKind.PIPE, config);
  const stdout = newStream(StreamKind.PIPE, config);
  const errPipe = stderr === 'pipe' ? new NativeStream(StreamKind.PIPE, FramingCode.Raw, 0xffffffff, STDERR_TAIL) : null;
  const proc = new NativeProcess();
  const envList = env === undefined ? null : Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  const r = proc.spawn(command, [...args], envList, cwd ?? null, stdin, stdout, STDERR_MODES[stderr], errPipe);
  if (r < 0) {
    stdin.close();
    stdout.close();
    errPipe?.close();
    const err = systemError('spawn', r, command);
    Object.assign(err, { path: command, spawnargs: [...args] });
    throw err;
  }
  const pid = proc.pid();
  const endpoint = `stdio:${path.basename(command)}[${pid}]`;
  debug('spawned %s %o', endpoint, args);
  return new StdioTransport(stdout, stdin, config, endpoint, new ChildProcessLink(proc, pid, errPipe));
}

/** The child process behind a StdioTransport: its exit, signals, and stderr. */
class ChildProcessLink implements ChildLink {
  readonly pid: number;
  exit: ChildExit | null = null;
  readonly exited: Promise<ChildExit>;

  #proc: NativeProcess;
  #stderr: NativeStream | null;
  #stderrOpen: boolean;
  #procOpen = true;
  #resolveExit!: (exit: ChildExit) => void;
  #transport: Transport | null = null;
  #tail: Buffer[] = [];
  #tailBytes = 0;
  #partialLine: Buffer[] = [];
  #partialBytes = 0;
  #releaseWaiters: (() => void)[] = [];
  #releasing = false;

  constructor(proc: NativeProcess, pid: number, stderr: NativeStream | null) {
    this.pid = pid;
    this.#proc = proc;
    this.#stderr = stderr;
    this.#stderrOpen = stderr !== null;
    this.exited = new Promise((resolve) => (this.#resolveExit = resolve));
    proc.owner = {
      onExit: (status, signal) => {
        this.exit = { code: signal !== 0 ? null : status, signal: signal !== 0 ? (SIGNAL_NAMES.get(signal) ?? null) : null };
        debug('child %d exited %o', pid, this.exit);
        this.#resolveExit(this.exit);
        this.#maybeFinishRelease();
      },
      onClose: () => {
        this.#procOpen = false;
        this.#maybeFinishRelease();
      },
    };
    if (stderr !== null) {
      const owner: NativeOwner = {
        onFrames: (slab, count) => this.#onStderr(slab, count),
        onEnd: () => this.#flushStderrLine(),
        onWrite() {},
        onShutdown() {},
        onConnection() {},
        onConnect() {},
        onClose: () => {
          this.#stderrOpen = false;
          this.#maybeFinishRelease();
        },
      };
      stderr.owner = owner;
      // Always drained, so a chatty child can never block on a full stderr pipe.
      stderr.readStart();
    }
  }

  attach(t: Transport): void {
    this.#transport = t;
  }

  kill(signal: NodeJS.Signals): boolean {
    if (this.exit !== null || !this.#procOpen) return false;
    const num = os.constants.signals[signal];
    if (num === undefined) throw argValueError(`Unknown signal '${String(signal)}'`);
    return this.#proc.kill(num) === 0;
  }

  ref(): void {
    this.#proc.ref();
    this.#stderr?.ref();
  }

  unref(): void {
    this.#proc.unref();
    this.#stderr?.unref();
  }

  stderrTail(): string {
    const all = Buffer.concat(this.#tail);
    return all.subarray(Math.max(0, all.length - STDERR_TAIL)).toString('utf8');
  }

  /** Closes the process handle once the child has exited, and the stderr pipe once it has ended. */
  release(done: () => void): void {
    this.#releaseWaiters.push(done);
    this.#releasing = true;
    this.#maybeFinishRelease();
  }

  #maybeFinishRelease(): void {
    if (!this.#releasing) return;
    // The exit status must be collected before the handle closes, or `exited` would never settle.
    if (this.exit !== null && this.#procOpen) {
      this.#procOpen = false;
      this.#proc.close();
      return;
    }
    if (this.#stderrOpen && this.exit !== null) {
      this.#stderrOpen = false;
      this.#flushStderrLine();
      this.#stderr!.close();
      return;
    }
    if (this.exit === null || this.#stderrOpen || this.#procOpen) return;
    const waiters = this.#releaseWaiters;
    this.#releaseWaiters = [];
    for (const w of waiters) w();
  }

  #onStderr(slab: ArrayBuffer, count: number): void {
    for (let i = 0; i < count; i++) {
      // A copy: the tail outlives the read slab.
      const chunk = Buffer.from(new Uint8Array(slab, FRAME_TABLE[2 * i]!, FRAME_TABLE[2 * i + 1]!));
      this.#tail.push(chunk);
      this.#tailBytes += chunk.length;
      while (this.#tailBytes - this.#tail[0]!.length >= STDERR_TAIL) this.#tailBytes -= this.#tail.shift()!.length;
      this.#splitLines(chunk);
    }
  }

  #splitLines(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      this.#partialLine.push(chunk.subarray(start, nl));
      this.#emitLine();
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#partialLine.push(chunk.subarray(start));
      this.#partialBytes += chunk.length - start;
      // A line longer than the tail is reported in pieces rather than held without bound.
      if (this.#partialBytes >= STDERR_TAIL) this.#emitLine();
    }
  }

  #flushStderrLine(): void {
    if (this.#partialLine.length > 0) this.#emitLine();
  }

  #emitLine(): void {
    let line = Buffer.concat(this.#partialLine).toString('utf8');
    this.#partialLine = [];
    this.#partialBytes = 0;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    this.#transport?.emit('stderr', line);
  }
}

export interface OpenStdioOptions extends TransportOptions {
  /**
   * Send `console.log`, `console.info`, `console.debug` and `console.dir` to stderr, since nothing else
   * may write to stdout once it carries frames. Default false.
   */
  consoleToStderr?: boolean;
  /** How long the process 'exit' hook may take to write frames still queued. Default 2000 ms. */
  exitTimeout?: number;
}

let stdioOpen: Transport | null = null;

/**
 * This process's stdin and stdout as a transport (default framing `'lines'`), for a process that is
 * itself the child of an editor or a language client. It works on duplicates of descriptors 0 and 1, so
 * closing it never closes the process's own; it closes when stdin ends. Frames still queued when the
 * process exits (also through `process.exit()`) are written synchronously from an 'exit' hook, within
 * `exitTimeout`. Nothing else may write to stdout while it is open (see `consoleToStderr`).
 */
export function openStdio(options?: OpenStdioOptions): Transport {
  const raw = options ?? {};
  if (raw === null || typeof raw !== 'object') throw argTypeError('options', 'an object', raw);
  const config = transportConfig({ framing: 'lines', ...raw, consoleToStderr: undefined, exitTimeout: undefined }, OPEN_STDIO_KEYS, 'openStdio()');
  const exitTimeout = raw.exitTimeout ?? 2000;
  if (typeof exitTimeout !== 'number' || !Number.isInteger(exitTimeout) || exitTimeout < 0) {
    throw argValueError(`options.exitTimeout must be a whole number of milliseconds. Received ${String(exitTimeout)}`);
  }
  if (process.platform === 'win32') {
    throw ipcError(ErrorCodes.UNSUPPORTED, 'openStdio() is not available on Windows yet');
  }
  if (stdioOpen !== null && stdioOpen.state !== 'closed') {
    throw ipcError(ErrorCodes.STDIO_IN_USE, 'openStdio(): this process\'s stdio is already open as a transport');
  }
  const make = (): NativeStream => newStream(StreamKind.PIPE, config);
  const dup = (fd: number): number => {
    const r = dupFd(fd);
    if (r < 0) throw systemError('dup', r, `fd ${fd}`);
    return r;
  };

  // stdin: libuv's pipe handle for pipes and sockets, its tty handle for a terminal; a regular file or
  // /dev/null, which a pipe handle cannot poll, is read by plain file reads and fed to the framer.
  const inKind = guessHandle(0);
  let reader: NativeStream;
  let feedFd = -1;
  if (inKind === 'pipe' || inKind === 'tcp') {
    reader = make();
    const r = reader.openFd(dup(0));
    if (r < 0) throw systemError('open', r, 'stdin');
  } else if (inKind === 'tty') {
    reader = newStream(StreamKind.TTY, config, { fd: dup(0), readable: true });
  } else {
    reader = make();
    reader.feedMode();
    feedFd = dup(0);
  }

  // stdout: the same choice; a regular file is written with blocking writes.
  const outKind = guessHandle(1);
  let writer: NativeStream;
  if (outKind === 'pipe' || outKind === 'tcp') {
    writer = make();
    const r = writer.openFd(dup(1));
    if (r < 0) throw systemError('open', r, 'stdout');
  } else if (outKind === 'tty') {
    writer = newStream(StreamKind.TTY, config, { fd: dup(1), readable: false });
  } else {
    writer = make();
    writer.openFile(dup(1));
  }

  const t = new Transport(new StdioCarrier(reader, writer, false), config, 'stdio:parent', { pid: process.ppid });
  stdioOpen = t;
  const onExit = (): void => {
    // The loop will not run again: write what is queued now, or it is lost with the process.
    t[kLink].flushSync(exitTimeout);
  };
  process.on('exit', onExit);
  t.once('close', () => process.off('exit', onExit));
  if (raw.consoleToStderr === true) sendConsoleToStderr();
  if (feedFd >= 0) feedFrom(feedFd, reader, t);
  debug('opened stdio (stdin %s, stdout %s)', inKind, outKind);
  return t;
}

/** Reads a file descriptor to its end with plain reads, feeding the engine; pauses with the transport. */
function feedFrom(fd: number, reader: NativeStream, t: Transport): void {
  const buf = Buffer.allocUnsafe(64 * 1024);
  const next = (): void => {
    if (t.state === 'closed' || t.state === 'closing') return fs.close(fd, () => {});
    if (t.isPaused) return void setTimeout(next, 5);
    fs.read(fd, buf, 0, buf.length, null, (err, n) => {
      if (err || n === 0) {
        fs.close(fd, () => {});
        reader.feedEnd();
        return;
      }
      reader.feed(buf.subarray(0, n));
      setImmediate(next);
    });
  };
  next();
}

function sendConsoleToStderr(): void {
  const c = new console.Console({ stdout: process.stderr, stderr: process.stderr });
  console.log = c.log.bind(c);
  console.info = c.info.bind(c);
  console.debug = c.debug.bind(c);
  console.dir = c.dir.bind(c);
  console.table = c.table.bind(c);
}
