import { DEFAULT_RECEIVE_WINDOW } from './credit';
import { argTypeError, argValueError, outOfRangeError } from './errors';
import type { Peer } from './transport';

export type Framing = 'length-prefixed' | 'lines' | 'content-length';

/** Options every transport takes. Defaults in DEFAULTS. */
export interface TransportOptions {
  /** Wire format. Default `'length-prefixed'`. */
  framing?: Framing;
  /** Largest frame accepted or sent, in bytes. Default 8 MiB. */
  maxFrameSize?: number;
  /** `send()` returns false once this many bytes wait to be written. Default 256 KiB. */
  writableHighWaterMark?: number;
  /** Past this many buffered bytes the connection is closed with ERR_IPC_BACKPRESSURE. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Frames held for a consumer that is not taking them before reading stops. Default 1024. */
  readableHighWaterMark?: number;
  /** How long `close()` waits for the peer to take our last frames and end. Default 5000 ms. */
  closeTimeout?: number;
  /** Size of each read slab in bytes. Default 64 KiB. */
  slabSize?: number;
  /**
   * Longest time, in ms, a frame may take to arrive from its first byte to its last; a peer that
   * trickles bytes slower is closed with ERR_IPC_FRAME_TIMEOUT. Default 0: no limit.
   */
  frameTimeout?: number;
  /**
   * Busy polling window in microseconds (0: off). While this transport has sent or received within the
   * window, the event loop polls instead of sleeping, yielding the CPU between polls. Defaults to the
   * process-wide setting (`setBusyPoll()`), initially 0.
   */
  busyPoll?: number;
}

export interface ConnectOptions extends TransportOptions {
  /** Default 10000 ms. */
  connectTimeout?: number;
  signal?: AbortSignal;
  /**
   * Ping/pong control frames (`t.ping()`, and the default probe of `monitor()`). The server must listen
   * with `heartbeat: true` (or `resume: true`) too: the two ends shake hands when connecting, and
   * connect() rejects with ERR_IPC_HANDSHAKE when the server does not answer. Default false.
   */
  heartbeat?: boolean;
}

export interface ListenOptions extends TransportOptions {
  /** File mode of the socket file. Default 0o600 (owner only). */
  mode?: number;
  /** Pending connection queue length. Default 511. */
  backlog?: number;
  /** Called for each new connection before any frame is read; false closes it. */
  allowPeer?: (peer: Peer | null) => boolean;
  /** Refuse peers running as another user. Default true for abstract sockets (they have no file mode), false otherwise. */
  sameUserOnly?: boolean;
  /** Speak the envelope with clients that connect with `heartbeat: true`: answer their pings, ping them. */
  heartbeat?: boolean;
  /**
   * Resumable sessions for clients made with `reconnecting(..., { resume: true })`: each client's
   * session survives its connection dropping, and frames are delivered exactly once, in order. Implies
   * `heartbeat`. Every client must then speak the envelope. Default false.
   */
  resume?: boolean;
  /** How long a resumable session waits for its client to come back. Default 30000 ms. */
  resumeTimeout?: number;
  /** Bounds of a resumable session's queue while its client is away (see `reconnecting()`). */
  maxQueueBytes?: number;
  maxQueueFrames?: number;
  queuePolicy?: 'error' | 'drop-oldest';
  queueTtl?: number;
  /** Resume: the receive window of each session, in bytes (see `reconnecting()`). Default 8 MiB. */
  receiveWindow?: number;
}

export interface TransportConfig {
  framing: Framing;
  maxFrameSize: number;
  writableHighWaterMark: number;
  maxBufferedBytes: number;
  readableHighWaterMark: number;
  closeTimeout: number;
  slabSize: number;
  frameTimeout: number;
  busyPoll: number;
  /** @internal Frames carry the envelope (heartbeat or resume): readers leave room for its header. */
  envelope?: boolean;
}

export const DEFAULTS: Readonly<TransportConfig> = Object.freeze({
  framing: 'length-prefixed',
  maxFrameSize: 8 * 1024 * 1024,
  writableHighWaterMark: 256 * 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  readableHighWaterMark: 1024,
  closeTimeout: 5000,
  slabSize: 64 * 1024,
  frameTimeout: 0,
  busyPoll: 0,
});

/** The largest busy-polling window: 10 s. */
export const MAX_BUSY_POLL = 10_000_000;

let processBusyPoll = 0;

/**
 * Sets the busy-polling window (microseconds, 0 = off) for every transport created from now on without
 * its own `busyPoll` option.
 */
export function setBusyPoll(microseconds: number): void {
  processBusyPoll = int({ busyPoll: microseconds }, 'busyPoll', 0, MAX_BUSY_POLL, 0);
}

export const CONNECT_DEFAULTS = Object.freeze({ connectTimeout: 10_000 });
export const LISTEN_DEFAULTS = Object.freeze({ mode: 0o600, backlog: 511 });

/** The largest value `maxFrameSize` may take. */
export const MAX_FRAME_SIZE_LIMIT = 1024 * 1024 * 1024;

const FRAMINGS: readonly Framing[] = ['length-prefixed', 'lines', 'content-length'];
const TRANSPORT_KEYS = Object.keys(DEFAULTS);
const CONNECT_KEYS = [...TRANSPORT_KEYS, 'connectTimeout', 'signal', 'heartbeat'];
const QUEUE_KEYS = ['maxQueueBytes', 'maxQueueFrames', 'queuePolicy', 'queueTtl', 'receiveWindow'];
const LISTEN_KEYS = [...TRANSPORT_KEYS, 'mode', 'backlog', 'allowPeer', 'sameUserOnly', 'heartbeat', 'resume', 'resumeTimeout', ...QUEUE_KEYS];
const RECONNECT_KEYS = [...CONNECT_KEYS, 'initialDelay', 'maxDelay', 'factor', 'maxAttempts', 'resume', 'health', ...QUEUE_KEYS];
/** @internal The options of spawnStdio() (src/stdio.ts). */
export const SPAWN_KEYS = [...TRANSPORT_KEYS, 'cwd', 'env', 'stderr', 'restart'];
/** @internal The options of openStdio() (src/stdio.ts); `restart` is accepted there as it always was. */
export const OPEN_STDIO_KEYS = [...TRANSPORT_KEYS, 'restart', 'consoleToStderr', 'exitTimeout'];

function checkKeys(options: object, allowed: string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw argValueError(`Unknown option '${key}' for ${what}`);
  }
}

/**
 * @internal An integer option in [min, max], or `fallback` when absent; a wrong type or value throws at
 * the call. `prefix` names the object in the message (`options.maxFrameSize`, `options.health.interval`).
 */
export function int(options: Record<string, unknown>, name: string, min: number, max: number, fallback: number, prefix = 'options'): number {
  const v = options[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw argTypeError(`${prefix}.${name}`, 'a number', v);
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRangeError(`${prefix}.${name}`, `an integer >= ${min} and <= ${max}`, v);
  return v;
}

/** spawnStdio's `restart` policy: `true` or `{ maxRestarts, restartDelay }` (defaults 5 and 500 ms). */
export function restartConfig(restart: unknown): { maxRestarts: number; restartDelay: number } {
  const policy = (restart === true ? {} : restart) as Record<string, unknown>;
  if (policy === null || typeof policy !== 'object') throw argTypeError('options.restart', 'a boolean or an object', restart);
  for (const key of Object.keys(policy)) {
    if (key !== 'maxRestarts' && key !== 'restartDelay') throw argValueError(`Unknown option '${key}' for options.restart`);
  }
  return {
    maxRestarts: int(policy, 'maxRestarts', 0, 2 ** 31 - 1, 5, 'options.restart'),
    restartDelay: int(policy, 'restartDelay', 0, 2 ** 31 - 1, 500, 'options.restart'),
  };
}

function options(value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw argTypeError('options', 'an object', value);
  return value as Record<string, unknown>;
}

export function transportConfig(raw: unknown, allowedKeys = TRANSPORT_KEYS, what = 'a transport'): TransportConfig {
  const o = options(raw);
  checkKeys(o, allowedKeys, what);
  const framing = o.framing === undefined ? DEFAULTS.framing : o.framing;
  if (!FRAMINGS.includes(framing as Framing)) {
    throw argValueError(`options.framing must be one of ${FRAMINGS.map((f) => `'${f}'`).join(', ')}. Received ${String(framing)}`);
  }
  // Frame offsets travel through uint32 slots in native code, and a line of unknown length may need a
  // read buffer of twice its size: 1 GiB keeps both far from overflow.
  const maxFrameSize = int(o, 'maxFrameSize', 1, MAX_FRAME_SIZE_LIMIT, DEFAULTS.maxFrameSize);
  const writableHighWaterMark = int(o, 'writableHighWaterMark', 1, 2 ** 40, DEFAULTS.writableHighWaterMark);
  const maxBufferedBytes = int(o, 'maxBufferedBytes', 1, 2 ** 40, Math.max(DEFAULTS.maxBufferedBytes, writableHighWaterMark));
  if (maxBufferedBytes < writableHighWaterMark) {
    throw outOfRangeError('options.maxBufferedBytes', `>= writableHighWaterMark (${writableHighWaterMark})`, maxBufferedBytes);
  }
  return {
    framing: framing as Framing,
    maxFrameSize,
    writableHighWaterMark,
    maxBufferedBytes,
    readableHighWaterMark: int(o, 'readableHighWaterMark', 1, 2 ** 31 - 1, DEFAULTS.readableHighWaterMark),
    closeTimeout: int(o, 'closeTimeout', 0, 2 ** 31 - 1, DEFAULTS.closeTimeout),
    slabSize: int(o, 'slabSize', 1024, 256 * 1024 * 1024, DEFAULTS.slabSize),
    frameTimeout: int(o, 'frameTimeout', 0, 2 ** 31 - 1, DEFAULTS.frameTimeout),
    busyPoll: int(o, 'busyPoll', 0, MAX_BUSY_POLL, processBusyPoll),
  };
}

function bool(o: Record<string, unknown>, name: string): boolean {
  const v = o[name];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw argTypeError(`options.${name}`, 'a boolean', v);
  return v;
}

export type ConnectConfig = TransportConfig & { connectTimeout: number; signal: AbortSignal | undefined; heartbeat: boolean };

export function connectConfig(raw: unknown, allowedKeys = CONNECT_KEYS, what = 'connect()'): ConnectConfig {
  const o = options(raw);
  const base = transportConfig(o, allowedKeys, what);
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw argTypeError('options.signal', 'an AbortSignal', signal);
  const heartbeat = bool(o, 'heartbeat');
  return {
    ...base,
    envelope: heartbeat,
    connectTimeout: int(o, 'connectTimeout', 1, 2 ** 31 - 1, CONNECT_DEFAULTS.connectTimeout),
    signal: signal as AbortSignal | undefined,
    heartbeat,
  };
}

export interface QueueOptions {
  /** Bytes of frames the queue may hold. Default 64 MiB. */
  maxQueueBytes?: number;
  /** Frames the queue may hold. Default unlimited. */
  maxQueueFrames?: number;
  /** When full: `'error'` (send() throws ERR_IPC_QUEUE_FULL) or `'drop-oldest'` (a `'drop'` event each). Default 'error'. */
  queuePolicy?: 'error' | 'drop-oldest';
  /** Milliseconds a frame may wait to be written before it is dropped (a `'drop'` event). Default 0: forever. */
  queueTtl?: number;
  /**
   * Resume: bytes of received frames held for a consumer that has not taken them (each frame counts
   * its payload plus 64) before this side grants the peer no more credit. Default 8 MiB.
   */
  receiveWindow?: number;
}

export const QUEUE_DEFAULTS = Object.freeze({
  maxQueueBytes: 64 * 1024 * 1024,
  maxQueueFrames: Number.POSITIVE_INFINITY,
  queuePolicy: 'error' as const,
  queueTtl: 0,
  receiveWindow: DEFAULT_RECEIVE_WINDOW,
});

export function queueConfig(o: Record<string, unknown>): {
  maxQueueBytes: number;
  maxQueueFrames: number;
  queuePolicy: 'error' | 'drop-oldest';
  queueTtl: number;
  receiveWindow: number;
} {
  const policy = o.queuePolicy ?? QUEUE_DEFAULTS.queuePolicy;
  if (policy !== 'error' && policy !== 'drop-oldest') throw argValueError(`options.queuePolicy must be 'error' or 'drop-oldest'. Received ${String(policy)}`);
  const maxQueueFrames = o.maxQueueFrames === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : int(o, 'maxQueueFrames', 1, 2 ** 31 - 1, QUEUE_DEFAULTS.maxQueueFrames);
  return {
    maxQueueBytes: int(o, 'maxQueueBytes', 1, 2 ** 40, QUEUE_DEFAULTS.maxQueueBytes),
    maxQueueFrames,
    queuePolicy: policy,
    queueTtl: int(o, 'queueTtl', 0, 2 ** 31 - 1, QUEUE_DEFAULTS.queueTtl),
    receiveWindow: int(o, 'receiveWindow', 1024, 2 ** 40, QUEUE_DEFAULTS.receiveWindow),
  };
}

export const RECONNECT_DEFAULTS = Object.freeze({ initialDelay: 100, maxDelay: 30_000, factor: 2, maxAttempts: Number.POSITIVE_INFINITY });

export function reconnectConfig(raw: unknown) {
  const o = options(raw);
  const base = connectConfig(o, RECONNECT_KEYS, 'reconnecting()');
  const resume = bool(o, 'resume');
  const factor = o.factor ?? RECONNECT_DEFAULTS.factor;
  if (typeof factor !== 'number' || !(factor >= 1) || !Number.isFinite(factor)) throw outOfRangeError('options.factor', 'a finite number >= 1', factor);
  const maxAttempts = o.maxAttempts === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : int(o, 'maxAttempts', 1, 2 ** 31 - 1, RECONNECT_DEFAULTS.maxAttempts);
  const initialDelay = int(o, 'initialDelay', 0, 2 ** 31 - 1, RECONNECT_DEFAULTS.initialDelay);
  const maxDelay = int(o, 'maxDelay', 0, 2 ** 31 - 1, Math.max(RECONNECT_DEFAULTS.maxDelay, initialDelay));
  if (maxDelay < initialDelay) throw outOfRangeError('options.maxDelay', `>= initialDelay (${initialDelay})`, maxDelay);
  return {
    ...base,
    envelope: base.heartbeat || resume,
    resume,
    initialDelay,
    maxDelay,
    factor,
    maxAttempts,
    health: o.health,
    queue: queueConfig(o),
  };
}

export function listenConfig(raw: unknown): TransportConfig & {
  mode: number;
  backlog: number;
  allowPeer: ((peer: Peer | null) => boolean) | undefined;
  sameUserOnly: boolean | undefined;
  heartbeat: boolean;
  resume: boolean;
  resumeTimeout: number;
  queue: ReturnType<typeof queueConfig>;
} {
  const o = options(raw);
  const base = transportConfig(o, LISTEN_KEYS, 'listen()');
  const allowPeer = o.allowPeer;
  if (allowPeer !== undefined && typeof allowPeer !== 'function') throw argTypeError('options.allowPeer', 'a function', allowPeer);
  const sameUserOnly = o.sameUserOnly;
  if (sameUserOnly !== undefined && typeof sameUserOnly !== 'boolean') throw argTypeError('options.sameUserOnly', 'a boolean', sameUserOnly);
  return {
    ...base,
    mode: int(o, 'mode', 0, 0o777, LISTEN_DEFAULTS.mode),
    backlog: int(o, 'backlog', 1, 65535, LISTEN_DEFAULTS.backlog),
    allowPeer: allowPeer as ((peer: Peer | null) => boolean) | undefined,
    sameUserOnly: sameUserOnly as boolean | undefined,
    heartbeat: bool(o, 'heartbeat'),
    resume: bool(o, 'resume'),
    envelope: bool(o, 'heartbeat') || bool(o, 'resume'),
    resumeTimeout: int(o, 'resumeTimeout', 1, 2 ** 31 - 1, 30_000),
    queue: queueConfig(o),
  };
}
