// Socket-file policy for Unix domain sockets: length limits, stale files, owner-only creation and
// removal. The native side only opens, binds and connects descriptors.
import fs = require('node:fs');
import path = require('node:path');
import { ErrorCodes, ipcError, systemError } from './errors';
import { constants, probeUnix, type NativeStream } from './native';

const { UV_ECONNREFUSED, UV_EAGAIN, UV_EADDRINUSE, UV_EACCES, UV_ENOENT } = constants;

/** The longest socket path this platform takes, in bytes (107 on Linux, 103 on macOS). */
export const MAX_UNIX_PATH = constants.maxUnixPath;

export function pathTooLong(bytes: Buffer, display: string): Error | null {
  // An abstract name carries a leading NUL but no terminating one, so it may use every byte.
  const limit = bytes[0] === 0 ? MAX_UNIX_PATH + 1 : MAX_UNIX_PATH;
  if (bytes.length <= limit) return null;
  return ipcError(
    ErrorCodes.PATH_TOO_LONG,
    `Socket path ${display} is ${bytes.length} bytes; this platform allows at most ${limit} (sun_path)`,
    { address: display, limit },
  );
}

/** What is at `file` now: nothing, a stale socket from a dead server, or something we must not touch. */
export function checkExisting(file: string, display: string): Error | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (!st.isSocket()) {
    return ipcError(ErrorCodes.NOT_A_SOCKET, `listen: ${display} exists and is not a socket; refusing to replace it`, {
      address: display,
      syscall: 'listen',
    });
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && uid !== 0) {
    return ipcError(
      ErrorCodes.UNSAFE_PATH,
      `listen: ${display} is a socket owned by uid ${st.uid}, not us (uid ${uid}); refusing to replace it`,
      { address: display, syscall: 'listen' },
    );
  }
  const r = probeUnix(Buffer.from(file));
  // Refused means nobody listens: a dead server left it. Anything that connected (or found the
  // backlog full, EAGAIN) is alive.
  if (r === UV_ECONNREFUSED) {
    try {
      fs.unlinkSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return null;
  }
  if (r === 0 || r === UV_EAGAIN) {
    const err = systemError('listen', UV_EADDRINUSE, display);
    err.message = `listen EADDRINUSE ${display}: another server is listening on it`;
    return err;
  }
  return systemError('listen', r, display);
}

/**
 * A socket file in a directory that other users may write to, without the sticky bit, could be removed
 * or replaced by any of them: refuse it rather than serve on a path someone else controls.
 */
export function checkDirectory(file: string, display: string): Error | null {
  let st: fs.Stats;
  const dir = path.dirname(file);
  try {
    st = fs.statSync(dir);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return systemError('listen', err.errno ?? UV_ENOENT, display);
  }
  const othersWrite = (st.mode & 0o002) !== 0;
  const sticky = (st.mode & 0o1000) !== 0;
  if (othersWrite && !sticky) {
    return ipcError(
      ErrorCodes.UNSAFE_PATH,
      `listen: ${dir} is writable by every user and has no sticky bit, so anyone could replace ${display}; use a private directory`,
      { address: display, syscall: 'listen' },
    );
  }
  return null;
}

/**
 * Creates (if needed) the owner-only directory of `pipe:` endpoints and checks that it is ours: a real
 * directory, not a symlink, owned by us, with no access for anyone else. Another user could otherwise
 * have made it first and wait for our sockets.
 */
export function ensurePrivateDir(dir: string, display: string): Error | null {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'EEXIST') return systemError('listen', err.errno ?? UV_EACCES, display);
  }
  const st = fs.lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    return ipcError(
      ErrorCodes.UNSAFE_PATH,
      `listen: ${dir} must be a directory owned by uid ${uid} with mode 0700 (it is ${st.isDirectory() ? `owned by uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}` : 'not a directory'})`,
      { address: display, syscall: 'listen' },
    );
  }
  return null;
}

export interface BoundFile {
  dev: number;
  ino: number;
}

/**
 * Binds `handle` at `file` and gives the file `mode` before the socket listens. A Unix socket that is
 * bound but not yet listening refuses every connect, whatever its mode, so no other user can connect in
 * the moment between bind() (which leaves a mode from the umask) and chmod(): the mode is final before
 * listen() is called. bind() never replaces an existing file, so a path taken meanwhile is EADDRINUSE.
 */
export function bindFile(handle: NativeStream, file: string, mode: number, display: string): BoundFile | Error {
  const r = handle.bindUnix(Buffer.from(file));
  if (r === UV_EADDRINUSE) {
    const inUse = systemError('listen', UV_EADDRINUSE, display);
    inUse.message = `listen EADDRINUSE ${display}: the path was taken while binding`;
    return inUse;
  }
  if (r < 0) return systemError('bind', r, display);
  try {
    fs.chmodSync(file, mode);
    const st = fs.lstatSync(file);
    return { dev: st.dev, ino: st.ino };
  } catch (e) {
    try {
      fs.unlinkSync(file);
    } catch {
      // Already gone.
    }
    return systemError('bind', (e as NodeJS.ErrnoException).errno ?? UV_EACCES, display);
  }
}

/** Removes the socket file if it is still the one we created (another server may have replaced it). */
export function unlinkIfOurs(file: string, bound: BoundFile): void {
  try {
    const st = fs.lstatSync(file);
    if (st.dev === bound.dev && st.ino === bound.ino) fs.unlinkSync(file);
  } catch {
    // Already gone: nothing to do.
  }
}
