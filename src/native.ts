// The only file that loads the addon. Everything native is reached through the typed interface below.
import { ENVELOPE_SLACK } from './envelope';
import { FRAMING_CODES } from './wire';
import path = require('node:path');
import nodeGypBuild = require('node-gyp-build');

/** A uv_stream_t owned by the native engine (native/stream.cc). */
export interface NativeStream {
  /** Set by the TypeScript owner; the shared callbacks below find it here. */
  owner: NativeOwner | null;
  connectUnix(path: Buffer): number;
  bindUnix(path: Buffer): number;
  connectTcp(ip: string, port: number): number;
  bindTcp(ip: string, port: number): number;
  listen(backlog: number): number;
  accept(client: NativeStream): number;
  readStart(): number;
  readStop(): number;
  /** Returns the bytes left queued in libuv (0: all written now), or a negative libuv error. */
  write(buf: Uint8Array, buf2OrLength?: Uint8Array | number): number;
  shutdown(): number;
  close(): void;
  /** Unix: [pid, uid, gid]; Windows named pipe: [pid] (of the client when `serverSide`, else of the server). */
  peerCred(serverSide?: boolean): [number, number, number] | [number] | null;
  /** Windows named pipes `\\.\pipe\name`: connect at once (UV_EAGAIN while every instance is busy), bind. */
  connectPipe(name: string): number;
  bindPipe(name: string): number;
  setNoDelay(on: boolean): number;
  ref(): void;
  unref(): void;
  sockName(): [string, number] | null;
  writeQueueSize(): number;
  /** Milliseconds since the current partial frame's first byte arrived, or -1 when none is pending. */
  partialAge(): number;
  setBusyPoll(microseconds: number): void;
  busyPollTime(): number;
  /** Milliseconds since the last byte in or out. */
  idleTime(): number;
  fileno(): number;
  openFd(fd: number): number;
  openFile(fd: number): number;
  feed(bytes: Uint8Array): number;
  feedEnd(): void;
  feedMode(): void;
  /** Writes what libuv still queues, then `batch[0, length)`, synchronously within timeoutMs. */
  flushSync(timeoutMs: number, batch?: Uint8Array, length?: number): number;
}

export interface NativeOwner {
  onFrames(slab: ArrayBuffer, count: number): void;
  onEnd(status: number, framerError: number): void;
  /** A queued write finished; when it failed, `unwritten` of its bytes never reached the OS. */
  onWrite(status: number, bytes: number, unwritten: number): void;
  onShutdown(status: number): void;
  onConnection(status: number): void;
  onConnect(status: number): void;
  onClose(): void;
}

/** A child process (native/process.cc). */
export interface NativeProcess {
  owner: { onExit(exitStatus: number, termSignal: number): void; onClose(): void } | null;
  spawn(
    file: string,
    args: string[],
    env: string[] | null,
    cwd: string | null,
    stdin: NativeStream,
    stdout: NativeStream,
    stderrMode: number,
    stderr: NativeStream | null,
  ): number;
  kill(signum: number): number;
  pid(): number;
  close(): void;
  ref(): void;
  unref(): void;
}

interface NativeStreamConstructor {
  new (kind: number, framing: number, maxFrameSize: number, slabSize: number, ttyFd?: number, ttyReadable?: boolean): NativeStream;
}

interface Binding {
  Stream: NativeStreamConstructor;
  Process: new () => NativeProcess;
  constants: {
    maxUnixPath: number;
    uvPipeSize: number;
    builtPipeSize: number;
    UV_EOF: number;
    UV_EAGAIN: number;
    UV_EACCES: number;
    UV_ECONNREFUSED: number;
    UV_EADDRINUSE: number;
    UV_ENOENT: number;
    UV_EPIPE: number;
    UV_ECONNRESET: number;
    UV_ESRCH: number;
  };
  setup(frameTable: Uint32Array, callbacks: Record<string, (this: NativeStream, ...args: never[]) => void>): void;
  probeUnix(path: Buffer): number;
  busyPollStats(): [boolean, number];
  guessHandle(fd: number): 'pipe' | 'tcp' | 'tty' | 'file' | 'unknown';
  dupFd(fd: number): number;
}

// SYMPHONY_IPC_ADDON names an addon file to load instead, such as a sanitizer build used by the tests.
const override = process.env.SYMPHONY_IPC_ADDON;
const binding = (override ? require(path.resolve(override)) : nodeGypBuild(path.join(__dirname, '..'))) as Binding;

// An addon built against other libuv headers than the running Node's would corrupt memory; refuse it.
if (binding.constants.uvPipeSize !== binding.constants.builtPipeSize) {
  throw new Error(
    `symphony-ipc-transport: the native addon was built against different libuv headers ` +
      `(uv_pipe_t is ${binding.constants.builtPipeSize} bytes, Node has ${binding.constants.uvPipeSize}); rebuild it`,
  );
}

export const StreamKind = { PIPE: 0, TCP: 1, TTY: 2 } as const;
export const FramerError = { NONE: 0, FRAME_TOO_LARGE: 1, PROTOCOL: 2, TRUNCATED: 3 } as const;

/** Frame descriptors written by native code before each onFrames call: [offset, length] pairs. */
export const FRAME_TABLE = new Uint32Array(2 * 4096);

binding.setup(FRAME_TABLE, {
  onFrames(slab: ArrayBuffer, count: number) {
    this.owner?.onFrames(slab, count);
  },
  onEnd(status: number, framerError: number) {
    this.owner?.onEnd(status, framerError);
  },
  onWrite(status: number, bytes: number, unwritten: number) {
    this.owner?.onWrite(status, bytes, unwritten);
  },
  onShutdown(status: number) {
    this.owner?.onShutdown(status);
  },
  onConnection(status: number) {
    this.owner?.onConnection(status);
  },
  onConnect(status: number) {
    this.owner?.onConnect(status);
  },
  onClose() {
    const owner = this.owner;
    this.owner = null;
    owner?.onClose();
  },
});

export const NativeStream = binding.Stream;

/** A stream for a transport with these settings; a terminal also needs its descriptor and direction. */
export function newStream(
  kind: number,
  config: { framing: keyof typeof FRAMING_CODES; maxFrameSize: number; slabSize: number; envelope?: boolean },
  tty?: { fd: number; readable: boolean },
): NativeStream {
  const framing = FRAMING_CODES[config.framing];
  // The envelope's header rides inside each frame: the reader leaves room for it.
  const max = config.maxFrameSize + (config.envelope === true ? ENVELOPE_SLACK : 0);
  return tty === undefined
    ? new NativeStream(kind, framing, max, config.slabSize)
    : new NativeStream(kind, framing, max, config.slabSize, tty.fd, tty.readable);
}
export const NativeProcess = binding.Process;
export const constants = binding.constants;
export const probeUnix = binding.probeUnix;
export const guessHandle = binding.guessHandle;
export const dupFd = binding.dupFd;
export const busyPollStats = (): [boolean, number] => binding.busyPollStats();
