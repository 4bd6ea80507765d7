import { EventEmitter } from 'node:events';
import { markAsUntransferable } from 'node:worker_threads';
import type { TransportConfig } from './config';
import { AtExit } from './at-exit';
import { Inbox } from './inbox';
import { Pings } from './pings';
import { channels, debug } from './debug';
import { ErrorCodes, TransportError, argTypeError, ipcError, outOfRangeError, systemError } from './errors';
import { FRAME_TABLE, type Carrier, type CarrierOwner } from './carrier';
import { FramerError, constants } from './native';
import { frameIterator } from './iterate';
import { FRAMING_CODES, FramingCode, frameAt } from './wire';
import { jsonMessages as jsonMessagesOf, sendJson as sendJsonOn } from './json';
import { T_ACK, T_DATA, T_PING, T_PONG, T_SEQ, controlBody, controlFrame, readSeq, readU32Body, seqHeaderLength, u32Body, writeSeqHeader } from './envelope';

export type TransportState = 'connecting' | 'open' | 'closing' | 'closed';

/** Who is at the other end, as the OS reports it. */
export interface Peer {
  pid: number;
  uid?: number;
  gid?: number;
}

/** How a child process ended: an exit code, or the signal that killed it. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** @internal The child process behind a stdio transport (src/stdio.ts). */
export interface ChildLink {
  readonly exit: ChildExit | null;
  readonly exited: Promise<ChildExit>;
  kill(signal: NodeJS.Signals): boolean;
  /** Closes the process handle (and the stderr pipe); the callback runs once both are closed. */
  release(done: () => void): void;
}

export interface TransportStats {
  framesIn: number;
  framesOut: number;
  /** Payload bytes, without framing headers. */
  bytesIn: number;
  bytesOut: number;
  /** Bytes accepted by `send()` and not yet handed to the OS. */
  bufferedBytes: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  lastActivityAt: number;
  /** Milliseconds the event loop spent busy polling while this transport's `busyPoll` window was open. */
  busyPollTime: number;
}

/**
 * What every transport offers, plain or reconnecting: what the pool and the health monitor use. A
 * `Transport` and a `ReconnectingTransport` both satisfy it.
 */
export interface MessageTransport extends EventEmitter {
  readonly endpoint: string;
  readonly state: TransportState;
  readonly stats: TransportStats;
  /** True when both ends opted in to ping/pong control frames (`heartbeat: true`). */
  readonly heartbeat: boolean;
  send(frame: Uint8Array | string): boolean;
  /** Round trip of one ping/pong control frame in ms; rejects ERR_IPC_UNSUPPORTED without heartbeat. */
  ping(timeout?: number): Promise<number>;
  close(): Promise<void>;
  destroy(err?: Error): void;
  ref(): this;
  unref(): this;
}

// Frames up to this size are copied into a per-tick batch and written together with one syscall; larger
// frames are written from the caller's memory without a copy.
const COPY_LIMIT = 16 * 1024;
const BATCH_SIZE = 64 * 1024;
const NEWLINE = Buffer.from('\n');
const NO_BYTES = Buffer.alloc(0);
// Finished batch buffers kept per transport for reuse by a fast sender.
const MAX_SPARE_BATCHES = 4;
// A send batch holding no more than this is copied into a resumable session's replay log; a fuller one
// is handed over whole.
const RETAIN_COPY_LIMIT = 4096;
const UV_EOF = constants.UV_EOF;

/** @internal The key of a transport's TransportLink: `transport[kLink]`. */
export const kLink = Symbol('link');

/**
 * @internal What the layers above a transport reach it by: the handshake (src/handshake.ts), the
 * session (src/session.ts), its replay log (src/replay.ts) and openStdio's exit hook. One object per
 * transport, made on first use, instead of a symbol-keyed method each.
 */
export interface TransportLink {
  /** Turns the envelope on (src/envelope.ts): ENV_PLAIN or ENV_SEQ. */
  envelope(mode: number): void;
  /** Hands every received frame and control frame to a session instead of emitting them. */
  sink(sink: SessionSink | null): void;
  /** Sends one data frame with its sequence number ('S'); a `replay` is written at once, outside any batch. */
  sendSeq(frame: Uint8Array, seq: number, replay?: boolean): boolean;
  /** Sends one control frame, already encoded, behind the frames sent before it. */
  sendControl(frame: Buffer): void;
  /** Sends an acknowledgement ('A'), written straight into the batch. */
  sendAck(seq: number): void;
  /** Keeps, when the transport closes, the frames it never handed to the OS. */
  keepUnsent(): void;
  /** The frames kept by keepUnsent(), in order, once closed; each call takes them. */
  takeUnsent(): Buffer[];
  /** Hands each written batch of sequenced frames to a replay log instead of reusing it. */
  retain(sink: RetainSink | null): void;
  /** Writes bytes as they are (a replayed batch), behind what was sent before. */
  writeRaw(bytes: Buffer, start: number, end: number): boolean;
  /** Writes this tick's batch now, instead of at the end of the tick. */
  flush(): void;
  /** Writes what is still queued, synchronously (openStdio's process 'exit' hook). */
  flushSync(timeoutMs: number): number;
  /**
   * Calls `done` once, on a later microtask, when nothing waits to be written (writableLength 0; at
   * once if so now) or the transport has closed, whichever comes first (pool.drain()).
   */
  whenWritten(done: () => void): void;
}

/** Envelope modes. */
export const ENV_PLAIN = 1;
export const ENV_SEQ = 2;

/**
 * @internal Where the frames of a resumable session go once written (src/replay.ts): each batch that
 * holds sequenced frames (`first`..`last`), and each frame written from the caller's memory.
 */
export interface RetainSink {
  retain(batch: Buffer, len: number, first: number, last: number): void;
  retainFrame(frame: Uint8Array, seq: number): void;
}

/** @internal What a session (src/session.ts) receives from the transport under it. */
export interface SessionSink {
  /** A data frame; `seq` is its sequence number, or -1 for a frame without one. */
  frame(frame: Buffer, seq: number): void;
  /** A control frame other than ping and pong (which the transport answers itself). */
  control(type: number, body: Buffer | null): void;
  /** An acknowledgement ('A'), read in place (one per read of the peer's, so kept cheap). */
  ack?(seq: number): void;
  /** The frames of one read have all been handed over. */
  endOfRead?(): void;
  /** During a handshake every control frame goes to control(): a ping is not answered before the hello. */
  handshaking?: boolean;
}

/**
 * A write libuv still holds. For a batch, the buffer (reused once done) and its length; for a large
 * frame, the frame itself (kept so it can be requeued). `queued` is how many of the last bytes libuv
 * took over after the first synchronous attempt.
 */
interface InFlight {
  batch: Buffer | null;
  payload: Uint8Array | null;
  len: number;
  queued: number;
  frames: number;
}

// A received frame is a Buffer view into its slab. `Buffer.from(arrayBuffer, offset, length)` checks its
// arguments on every call, which is half the cost of delivering a small frame; this class is made the way
// Node makes its own internal FastBuffer (a Uint8Array subclass sharing Buffer.prototype), so instances
// are real Buffers (`Buffer.isBuffer`, every method, `constructor === Buffer`) built without the checks.
// Offsets and lengths come from the engine and always lie inside the slab.
class FrameBuffer extends Uint8Array {}
Object.setPrototypeOf(FrameBuffer.prototype, Buffer.prototype);
Object.defineProperty(FrameBuffer.prototype, 'constructor', { value: Buffer, writable: true, configurable: true });

// The flush of every open transport that has sent. process.exit() ends the process before the
// end-of-tick flush runs; at 'exit' those batches go to the OS first, as node:net's synchronous writes
// would have, instead of losing frames send() had accepted. A transport joins at its first batch and
// leaves when it closes, so the per-tick flush itself costs nothing more.
const unflushed = new AtExit<() => void>((flush) => flush());

/**
 * One framed connection. Frames arrive as `'message'` events (or through async iteration) and leave
 * through `send()`. Created by `connect()` and by a server's `'connection'` event, never directly.
 */
export class Transport extends EventEmitter implements MessageTransport {
  readonly endpoint: string;
  /** `{ pid, uid, gid }` for a Unix socket peer; null where the OS tells nothing (TCP). */
  readonly peer: Peer | null;

  // What moves the bytes (src/carrier.ts): a socket, a child's stdout and stdin, ...
  #carrier: Carrier;
  #child: ChildLink | null;
  #writerBroken = false;
  // Frames in the current batch, and frames that will never be written (their write failed, or they
  // were sent after a child's stdin broke). With the frames of writes in flight, these are the frames
  // a child that exits never got (ERR_IPC_PEER_EXITED's `unsent`).
  #batchFrames = 0;
  #unsendable = 0;
  // A child's close: the waits before SIGTERM and SIGKILL; after its exit, the wait for its stdout.
  #childTimer: NodeJS.Timeout | null = null;
  #childReleased = false;
  // False when the carrier cannot end our direction alone (openStdio): closing waits for the writes.
  #shutdownWriter: boolean;
  #closeWhenFlushed = false;
  #config: TransportConfig;
  #framing: FramingCode;
  #state: TransportState = 'open';

  // Sending.
  #batch: Buffer | null = null;
  #batchLen = 0;
  #flushScheduled = false;
  #buffered = 0;
  #needDrain = false;
  // Writes libuv still holds, oldest first (it completes them in order): the batch buffer each one
  // was made from, or null for a large frame written from the caller's memory. A finished batch is
  // kept for reuse, so a fast sender does not turn out a fresh 64 KiB buffer for the GC per write.
  #inFlight: InFlight[] = [];
  // The write that failed, and how many of its bytes never reached the OS (for kTakeUnsent).
  #failedWrite: InFlight | null = null;
  #failedUnwritten = 0;
  #inFlightHead = 0;
  #spare: Buffer[] = [];
  #drainScheduledAfterFlush = false;
  #flushAtExit = false;
  #link: TransportLink | null = null;
  #written: (() => void)[] | null = null;
  #flushTask = (): void => {
    this.#flushScheduled = false;
    if (this.#state === 'open' || this.#state === 'closing') this.#flushBatch();
  };

  // Receiving.
  #inbox = new Inbox(this);
  #failed = (): boolean => this.#error !== null;
  #consumerFull = false;
  #reading = false;
  #readEnded = false;
  #lastSlab: ArrayBuffer | null = null;
  #drainScheduled = false;

  // Closing.
  #error: Error | null = null;
  #shutdownDone = false;
  #handleClosing = false;
  #handleClosed = false;
  #closeEmitted = false;
  #closedLocally = false;
  #closeTimer: NodeJS.Timeout | null = null;
  #frameTimer: NodeJS.Timeout | null = null;
  #closePromise: Promise<void> | null = null;
  #resolveClose: (() => void) | null = null;

  // The envelope, and a session that takes received frames instead of 'message' listeners.
  #env = 0;
  #hex = false;
  #seqHeader = 0;
  #sink: SessionSink | null = null;
  #slabBytes: Buffer | null = null;
  #pings = new Pings();
  #keepUnsent = false;
  #retain: RetainSink | null = null;
  // Sequence numbers of the first and last sequenced frame in the current batch (0: none).
  #batchFirst = 0;
  #batchLast = 0;
  #unsentCollected = false;
  #unsent: Buffer[] | null = null;

  // Stats.
  #framesIn = 0;
  #framesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #createdAt = Date.now();
  #lastActivityAt = this.#createdAt;
  #busyPollTime = 0;

  /** @internal */
  constructor(
    carrier: Carrier & { readonly halfClose?: boolean },
    config: TransportConfig,
    endpoint: string,
    peer: Peer | null,
    child: ChildLink | null = null,
  ) {
    super();
    this.#carrier = carrier;
    this.#child = child;
    this.#shutdownWriter = carrier.halfClose !== false;
    this.#config = config;
    this.#framing = FRAMING_CODES[config.framing];
    this.endpoint = endpoint;
    this.peer = peer;
    const owner: CarrierOwner = {
      onFrames: (slab, count) => this.#onFrames(slab, count),
      onEnd: (status, framerError) => this.#onEnd(status, framerError),
      onWrite: (status, bytes, unwritten) => this.#onWrite(status, bytes, unwritten),
      onShutdown: (status) => this.#onShutdown(status),
      onClose: () => this.#onHandleClosed(),
    };
    carrier.owner = owner;
    child?.exited.then(() => this.#onChildExit());
    this.on('newListener', (event: string | symbol) => {
      if (event === 'message') this.#scheduleDrain();
    });
    this.#updateReading();
    if (config.frameTimeout > 0) this.#startFrameTimer(config.frameTimeout);
    if (config.busyPoll > 0) carrier.setBusyPoll(config.busyPoll);
    debug('open %s', endpoint);
    if (channels.open.hasSubscribers) channels.open.publish({ transport: this });
  }

  /** @internal */
  get [kLink](): TransportLink {
    return (this.#link ??= {
      envelope: (mode) => this.#envelope(mode),
      sink: (sink) => this.#setSink(sink),
      sendSeq: (frame, seq, replay) => this.#sendSeq(frame, seq, replay),
      sendControl: (frame) => this.#sendControl(frame),
      sendAck: (seq) => this.#sendAck(seq),
      keepUnsent: () => this.#keepUnsentFrames(),
      takeUnsent: () => this.#takeUnsent(),
      retain: (sink) => this.#setRetain(sink),
      writeRaw: (bytes, start, end) => this.#writeRaw(bytes, start, end),
      flush: () => this.#flush(),
      flushSync: (timeoutMs) => this.#flushSync(timeoutMs),
      whenWritten: (done) => this.#whenWritten(done),
    });
  }

  get state(): TransportState {
    return this.#state;
  }

  /** For a child process's stdio: a promise of how it ended. Undefined on sockets. */
  get exited(): Promise<ChildExit> | undefined {
    return this.#child?.exited;
  }

  get stats(): TransportStats {
    return {
      framesIn: this.#framesIn,
      framesOut: this.#framesOut,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      bufferedBytes: this.#buffered,
      createdAt: this.#createdAt,
      lastActivityAt: this.#handleClosed ? this.#lastActivityAt : Date.now() - this.#carrier.idleTime(),
      busyPollTime: this.#handleClosed ? this.#busyPollTime : this.#carrier.busyPollTime(),
    };
  }

  /** Bytes accepted by `send()` and not yet handed to the OS: `stats.bufferedBytes`, without building `stats`. */
  get writableLength(): number {
    return this.#buffered;
  }

  /** True when both ends opted in to ping/pong control frames (`heartbeat: true` on listen and connect). */
  get heartbeat(): boolean {
    return this.#env !== 0;
  }

  /**
   * Sends a ping control frame and resolves with the round trip in ms when the pong comes back. Needs
   * `heartbeat: true` on both ends (ERR_IPC_UNSUPPORTED otherwise); rejects ERR_IPC_PING_TIMEOUT after
   * `timeout` ms (default 1000) and ERR_IPC_CLOSED if the transport closes first.
   */
  ping(timeout = 1000): Promise<number> {
    if (typeof timeout !== 'number' || !(timeout > 0)) throw outOfRangeError('timeout', 'a number > 0', timeout);
    if (this.#env === 0) {
      return Promise.reject(ipcError(ErrorCodes.UNSUPPORTED, `ping() needs heartbeat: true on both ends (${this.endpoint})`, { address: this.endpoint }));
    }
    if (this.#state !== 'open') {
      return Promise.reject(ipcError(ErrorCodes.CLOSED, `ping() on a ${this.#state} transport (${this.endpoint})`, { address: this.endpoint }));
    }
    const [id, rtt] = this.#pings.start(timeout, this.endpoint);
    this.#enqueue(controlFrame(T_PING, u32Body(id), this.#hex), 0, 0);
    return rtt;
  }

  get framing(): TransportConfig['framing'] {
    return this.#config.framing;
  }

  /**
   * Queues one frame. Returns false once `writableHighWaterMark` bytes wait to be written: wait for
   * `'drain'` before sending more. Throws ERR_IPC_CLOSED after close, ERR_IPC_FRAME_TOO_LARGE past
   * `maxFrameSize`, ERR_IPC_INVALID_FRAME for a line the reader could not give back unchanged.
   *
   * Frames larger than 16 KiB are written from `frame`'s own memory: do not modify it until the write
   * is done (`stats.bufferedBytes` drops, or `'drain'`).
   */
  send(frame: Uint8Array | string): boolean {
    if (this.#state !== 'open' || this.#writerBroken) return this.#refuse(frame);
    const data = checkFrame(frame, this.#config);
    return this.#enqueue(data, this.#env === 0 ? 0 : T_DATA, 0);
  }

  /**
   * A data frame with its sequence number (resume). A `replay` is written at once from its
   * own memory, outside any batch, so it is not handed to the replay log a second time.
   */
  #sendSeq(frame: Uint8Array, seq: number, replay = false): boolean {
    if (this.#state !== 'open') return this.#refuse();
    return this.#enqueue(frame, T_SEQ, seq, replay);
  }

  #flush(): void {
    if (this.#batchLen > 0 && !this.#handleClosing) this.#flushBatch();
  }

  #writeRaw(bytes: Buffer, start: number, end: number): boolean {
    if (this.#batchLen > 0) this.#flushBatch();
    if (this.#handleClosing || end <= start) return !this.#handleClosing;
    const len = end - start;
    const queued = this.#carrier.write(start === 0 ? bytes : bytes.subarray(start, end), len);
    if (queued < 0) {
      this.#writeFailed(queued);
      return false;
    }
    this.#buffered += queued;
    if (queued > 0) this.#inFlight.push({ batch: null, payload: null, len, queued, frames: 0 });
    if (this.#buffered >= this.#config.writableHighWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** A control frame (src/envelope.ts), queued behind the frames sent before it. */
  #sendControl(frame: Buffer): void {
    if (this.#state === 'open' || (this.#state === 'closing' && !this.#handleClosing)) this.#enqueue(frame, 0, 0);
  }

  #sendAck(seq: number): void {
    if (this.#state === 'open' || (this.#state === 'closing' && !this.#handleClosing)) this.#enqueue(NO_BYTES, T_ACK, seq);
  }

  /**
   * A frame the connection failed under before it was queued: kept for requeueing, if asked, or for
   * the replay log (unless it already has it).
   */
  #lost(data: Uint8Array, type: number, seq: number, retained = false): boolean {
    if (type === T_SEQ) {
      if (!retained) this.#retain?.retainFrame(Buffer.from(data), seq);
    } else if (this.#keepUnsent && (type !== 0 || this.#env === 0)) (this.#unsent ??= []).push(Buffer.from(data));
    return false;
  }

  #refuse(frame?: Uint8Array | string): boolean {
    const exit = this.#child?.exit;
    if (exit) throw this.#peerExited(exit, 0);
    if (this.#writerBroken) return this.#acceptUnsendable(frame);
    throw ipcError(ErrorCodes.CLOSED, `send() on a ${this.#state} transport (${this.endpoint})`, { address: this.endpoint });
  }

  /**
   * Frames `data` and queues it. `type` is the envelope's type byte to put before it (0: none; the
   * frame is a control frame or the envelope is off); `seq` goes with T_SEQ.
   */
  #enqueue(data: Uint8Array, type: number, seq: number, direct = false): boolean {
    const len = data.length;
    const envLen = type === 0 ? 0 : type === T_DATA ? 1 : this.#seqHeader; // 'S' and 'A' alike
    const payloadLen = envLen + len;
    let header = '';
    let headerLen = 4;
    if (this.#framing === FramingCode.Lines) headerLen = 0;
    else if (this.#framing === FramingCode.ContentLength) {
      header = `Content-Length: ${payloadLen}\r\n\r\n`;
      headerLen = header.length;
    }
    const wire = headerLen + payloadLen + (this.#framing === FramingCode.Lines ? 1 : 0);

    if (len <= COPY_LIMIT && !direct) {
      let batch = this.#batch;
      if (batch === null || this.#batchLen + wire > batch.length) {
        if (this.#batchLen > 0) this.#flushBatch();
        if (this.#handleClosing) return this.#lost(data, type, seq);
        batch = this.#batch;
        if (batch === null) {
          batch = this.#spare.pop() ?? Buffer.allocUnsafe(Math.max(BATCH_SIZE, wire));
          this.#batch = batch;
        }
      }
      let pos = this.#batchLen;
      if (this.#framing === FramingCode.LengthPrefixed) {
        batch.writeUInt32BE(payloadLen, pos);
        pos += 4;
      } else if (this.#framing === FramingCode.ContentLength) {
        pos += batch.write(header, pos, 'latin1');
      }
      if (type === T_DATA) batch[pos++] = T_DATA;
      else if (type === T_SEQ) {
        pos = writeSeqHeader(batch, pos, seq, this.#hex);
        if (this.#batchFirst === 0) this.#batchFirst = seq;
        this.#batchLast = seq;
      } else if (type === T_ACK) pos = writeSeqHeader(batch, pos, seq, this.#hex, T_ACK);
      batch.set(data, pos);
      pos += len;
      if (this.#framing === FramingCode.Lines) batch[pos++] = 0x0a;
      this.#batchLen = pos;
      this.#batchFrames++;
      this.#buffered += wire;
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(this.#flushTask);
        if (!this.#flushAtExit) {
          this.#flushAtExit = true;
          unflushed.add(this.#flushTask);
        }
      }
    } else {
      // Keep the order: everything batched before this frame goes first.
      if (this.#batchLen > 0) this.#flushBatch();
      if (this.#handleClosing) return this.#lost(data, type, seq, direct);
      // Written from the caller's memory: the replay log keeps the frame itself.
      if (type === T_SEQ && !direct) this.#retain?.retainFrame(data, seq);
      let head: Uint8Array;
      let tail: Uint8Array | undefined;
      const env = envLen === 0 ? null : Buffer.allocUnsafe(envLen);
      if (env !== null) {
        if (type === T_DATA) env[0] = T_DATA;
        else writeSeqHeader(env, 0, seq, this.#hex);
      }
      if (this.#framing === FramingCode.LengthPrefixed) {
        const h = Buffer.allocUnsafe(4 + envLen);
        h.writeUInt32BE(payloadLen, 0);
        if (env !== null) env.copy(h, 4);
        head = h;
        tail = data;
      } else if (this.#framing === FramingCode.ContentLength) {
        head = env === null ? Buffer.from(header, 'latin1') : Buffer.concat([Buffer.from(header, 'latin1'), env]);
        tail = data;
      } else {
        // Lines: the frame's own bytes come first, so an envelope header costs a copy here.
        head = env === null ? data : Buffer.concat([env, data]);
        tail = NEWLINE;
      }
      const queued = this.#carrier.write(head, tail);
      if (queued < 0) {
        this.#unsendable++;
        this.#writeFailed(queued);
        return this.#lost(data, type, seq, true);
      }
      this.#buffered += queued;
      if (queued > 0) this.#inFlight.push({ batch: null, payload: data, len: wire, queued, frames: 1 });
    }
    // Control frames (pings, pongs, acknowledgements) are not the user's: stats count data only.
    if (type === T_DATA || type === T_SEQ || (type === 0 && this.#env === 0)) {
      this.#framesOut++;
      this.#bytesOut += len;
    }
    if (this.#buffered > this.#config.maxBufferedBytes) {
      this.#fail(
        ipcError(
          ErrorCodes.BACKPRESSURE,
          `${this.#buffered} bytes wait to be written to ${this.endpoint}, past maxBufferedBytes (${this.#config.maxBufferedBytes}); the peer is not reading`,
          { address: this.endpoint, bufferedBytes: this.#buffered },
        ),
      );
      return false;
    }
    if (this.#buffered >= this.#config.writableHighWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** Sends `value` as one frame of JSON text; see sendJson(). */
  sendJson(value: unknown): boolean {
    return sendJsonOn(this, value);
  }

  /**
   * Each frame parsed as JSON, with backpressure like async iteration. A frame that is not JSON (bad
   * syntax, invalid UTF-8) is an `'invalid'` event (`ERR_IPC_INVALID_JSON`, the raw frame), not an
   * error: the stream goes on.
   */
  jsonMessages(): AsyncIterableIterator<unknown> {
    return jsonMessagesOf(this);
  }

  #flushBatch(): void {
    const len = this.#batchLen;
    const batch = this.#batch;
    if (len === 0 || batch === null) return;
    this.#batchLen = 0;
    const frames = this.#batchFrames;
    this.#batchFrames = 0;
    const queued = this.#carrier.write(batch, len);
    if (queued < 0) {
      // Nothing of it reached the OS: it stays the newest batch, for the failure to count (and for
      // kTakeUnsent to hand back).
      this.#batchLen = len;
      this.#batchFrames = frames;
      this.#writeFailed(queued);
      return;
    }
    // Bytes the OS took leave the buffer now; the rest when libuv reports the write done.
    this.#buffered -= len - queued;
    if (this.#written !== null && this.#buffered === 0) this.#announceWritten();
    // A batch of sequenced frames goes to the replay log: a full one as it is (it is never reused), a
    // small one as a copy of what it holds, so a trickle of frames does not cost a batch buffer each.
    let kept = false;
    if (this.#batchFirst !== 0) {
      if (this.#retain !== null) {
        if (len > RETAIN_COPY_LIMIT) {
          this.#retain.retain(batch, len, this.#batchFirst, this.#batchLast);
          kept = true;
        } else {
          const copy = Buffer.allocUnsafe(len);
          batch.copy(copy, 0, 0, len);
          this.#retain.retain(copy, len, this.#batchFirst, this.#batchLast);
        }
      }
      this.#batchFirst = 0;
    }
    // Native code still holds a view of the batch: never write into it until that write is done.
    if (queued > 0) {
      this.#inFlight.push({ batch: kept ? null : batch, payload: null, len, queued, frames });
      this.#batch = null;
    } else if (kept) this.#batch = null;
    // The socket may have taken everything at once, and then no write completion will come to
    // announce 'drain'. Announce it from the next loop turn, not from here: a sender that refills on
    // 'drain' must let I/O run between rounds.
    if (this.#needDrain && !this.#drainScheduledAfterFlush && this.#buffered <= this.#config.writableHighWaterMark / 2) {
      this.#drainScheduledAfterFlush = true;
      setImmediate(() => {
        this.#drainScheduledAfterFlush = false;
        this.#maybeDrain();
      });
    }
  }

  #whenWritten(done: () => void): void {
    (this.#written ??= []).push(done);
    if (this.#buffered === 0 || this.#handleClosed) this.#announceWritten();
  }

  #announceWritten(): void {
    const waiting = this.#written;
    this.#written = null;
    if (waiting !== null) queueMicrotask(() => waiting.forEach((done) => done()));
  }

  #maybeDrain(): void {
    if (this.#needDrain && this.#buffered <= this.#config.writableHighWaterMark / 2 && this.#state === 'open') {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  #onWrite(status: number, bytes: number, unwritten: number): void {
    this.#buffered -= bytes;
    if (this.#written !== null && this.#buffered === 0) this.#announceWritten();
    const done = this.#inFlight[this.#inFlightHead];
    this.#inFlight[this.#inFlightHead++] = undefined as unknown as InFlight;
    if (this.#inFlightHead === this.#inFlight.length) {
      this.#inFlight.length = 0;
      this.#inFlightHead = 0;
    }
    if (status < 0) {
      if (done !== undefined) {
        this.#unsendable += done.frames;
        this.#failedWrite = done;
        this.#failedUnwritten = unwritten;
      }
      this.#writeFailed(status);
      return;
    }
    if (done?.batch != null && this.#spare.length < MAX_SPARE_BATCHES) this.#spare.push(done.batch);
    if (this.#closeWhenFlushed && this.#buffered === 0) {
      this.#closeHandle();
      return;
    }
    this.#maybeDrain();
  }

  // --- receiving ---------------------------------------------------------------------------------

  #onFrames(slab: ArrayBuffer, count: number): void {
    if (slab !== this.#lastSlab) {
      // Native code keeps appending to this buffer: a worker postMessage must not be able to detach it.
      markAsUntransferable(slab);
      this.#lastSlab = slab;
      this.#slabBytes = null;
    }
    if (this.#env !== 0 || this.#sink !== null) {
      this.#onEnvelopedFrames(slab, count);
      return;
    }
    const inbox = this.#inbox;
    for (let i = 0; i < count; i++) {
      // A listener may close the transport: the frames after that are not delivered, nor counted.
      if (this.#handleClosing) break;
      const frame = new FrameBuffer(slab, FRAME_TABLE[2 * i]!, FRAME_TABLE[2 * i + 1]!) as Buffer;
      this.#framesIn++;
      this.#bytesIn += frame.length;
      inbox.deliver(frame);
    }
    if (inbox.waiting >= this.#config.readableHighWaterMark) this.#updateReading();
  }

  /** Frames with the envelope on, or bound for a session: data to its consumer, control frames here. */
  #onEnvelopedFrames(slab: ArrayBuffer, count: number): void {
    const bytes = (this.#slabBytes ??= Buffer.from(slab));
    // Data frames are counted as they are handed on; control frames are not the user's.
    for (let i = 0; i < count; i++) {
      if (this.#handleClosing) break;
      // A handshake hands the stream to a session in the middle of a read: look again each frame.
      const sink = this.#sink;
      const start = FRAME_TABLE[2 * i]!;
      const len = FRAME_TABLE[2 * i + 1]!;
      if (this.#env === 0) {
        this.#framesIn++;
        this.#bytesIn += len;
        if (sink === null) {
          this.#inbox.deliver(new FrameBuffer(slab, start, len) as Buffer);
          continue;
        }
        sink.frame(new FrameBuffer(slab, start, len) as Buffer, -1);
        continue;
      }
      const type = len === 0 ? -1 : bytes[start]!;
      if (type === T_DATA) {
        const frame = new FrameBuffer(slab, start + 1, len - 1) as Buffer;
        this.#framesIn++;
        this.#bytesIn += len - 1;
        if (sink !== null) sink.frame(frame, -1);
        else this.#inbox.deliver(frame);
        continue;
      }
      if (type === T_SEQ && this.#env === ENV_SEQ && sink !== null) {
        const seq = readSeq(bytes, start, len, this.#hex);
        if (seq < 0) {
          this.#fail(ipcError(ErrorCodes.PROTOCOL, `${this.endpoint} sent a data frame with a malformed sequence number`, { address: this.endpoint }));
          return;
        }
        this.#framesIn++;
        this.#bytesIn += len - this.#seqHeader;
        sink.frame(new FrameBuffer(slab, start + this.#seqHeader, len - this.#seqHeader) as Buffer, seq);
        continue;
      }
      if (type === T_ACK && sink !== null && sink.ack !== undefined && sink.handshaking !== true) {
        const acked = readSeq(bytes, start, len, this.#hex);
        if (acked < 0) {
          this.#fail(ipcError(ErrorCodes.PROTOCOL, `${this.endpoint} sent a malformed acknowledgement`, { address: this.endpoint }));
          return;
        }
        sink.ack(acked);
        continue;
      }
      const whole = new FrameBuffer(slab, start, len) as Buffer;
      if (sink !== null && sink.handshaking === true) {
        sink.control(type, controlBody(whole, this.#hex));
      } else if (type === T_PING) {
        const body = controlBody(whole, this.#hex);
        if (readU32Body(body) >= 0) this.#enqueue(controlFrame(T_PONG, body, this.#hex), 0, 0);
      } else if (type === T_PONG) {
        this.#pings.answered(readU32Body(controlBody(whole, this.#hex)));
      } else if (sink !== null && type !== -1) {
        sink.control(type, controlBody(whole, this.#hex));
      } else {
        this.#fail(
          ipcError(ErrorCodes.PROTOCOL, `${this.endpoint} sent a frame outside the envelope (type byte ${type}); is it using heartbeat/resume too?`, {
            address: this.endpoint,
          }),
        );
        return;
      }
    }
    if (!this.#handleClosing) this.#sink?.endOfRead?.();
    if (this.#inbox.waiting >= this.#config.readableHighWaterMark) this.#updateReading();
  }

  #envelope(mode: number): void {
    this.#env = mode;
    this.#hex = this.#framing === FramingCode.Lines;
    this.#seqHeader = seqHeaderLength(this.#hex);
  }

  #setSink(sink: SessionSink | null): void {
    this.#sink = sink;
  }

  #keepUnsentFrames(): void {
    this.#keepUnsent = true;
  }

  #setRetain(sink: RetainSink | null): void {
    this.#retain = sink;
  }

  #takeUnsent(): Buffer[] {
    const frames = this.#unsent ?? [];
    this.#unsent = null;
    return frames;
  }

  /**
   * The frames queued here that never reached the OS, in order: those of the write that failed (past
   * the bytes it got through), those libuv still holds (it reports how many bytes are left), and the
   * batch not yet flushed. A frame cut in the middle counts as unsent: the peer cannot have had it whole.
   */
  #collectUnsent(): Buffer[] {
    const out: Buffer[] = [];
    if (this.#failedWrite !== null) {
      this.#framesOf(this.#failedWrite, this.#failedWrite.len - this.#failedUnwritten, out);
      this.#failedWrite = null;
    }
    let queuedTotal = 0;
    for (let i = this.#inFlightHead; i < this.#inFlight.length; i++) queuedTotal += this.#inFlight[i]!.queued;
    let progress = queuedTotal - this.#carrier.writeQueueSize();
    for (let i = this.#inFlightHead; i < this.#inFlight.length; i++) {
      const w = this.#inFlight[i]!;
      const step = Math.min(w.queued, Math.max(0, progress));
      progress -= step;
      this.#framesOf(w, w.len - w.queued + step, out);
    }
    if (this.#batch !== null && this.#batchLen > 0) {
      this.#framesOf({ batch: this.#batch, payload: null, len: this.#batchLen, queued: this.#batchLen, frames: this.#batchFrames }, 0, out);
    }
    return out;
  }

  /** Appends to `out` a copy of each data frame of write `w` that ends past its first `sent` bytes. */
  #framesOf(w: InFlight, sent: number, out: Buffer[]): void {
    if (w.batch === null && w.payload === null) return; // bytes written as they were (kWriteRaw)
    if (w.payload !== null) {
      if (sent < w.len) out.push(Buffer.from(w.payload));
      return;
    }
    const b = w.batch!;
    let pos = 0;
    while (pos < w.len) {
      const [start, end, next] = frameAt(b, pos, this.#framing);
      if (next > sent) {
        const type = this.#env === 0 ? 0 : b[start];
        if (type === 0) out.push(Buffer.from(b.subarray(start, end)));
        else if (type === T_DATA) out.push(Buffer.from(b.subarray(start + 1, end)));
        else if (type === T_SEQ) out.push(Buffer.from(b.subarray(start + this.#seqHeader, end)));
      }
      pos = next;
    }
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    queueMicrotask(() => {
      this.#drainScheduled = false;
      this.#drainBacklog();
    });
  }

  #drainBacklog(): void {
    // After a failure nothing more is delivered: the stream cannot be trusted.
    this.#inbox.drain(this.#failed);
    this.#updateReading();
    if (this.#handleClosed) this.#emitClose();
  }

  #updateReading(): void {
    const want =
      !this.#inbox.paused &&
      !this.#consumerFull &&
      !this.#readEnded &&
      !this.#handleClosing &&
      this.#inbox.waiting < this.#config.readableHighWaterMark;
    if (want === this.#reading) return;
    this.#reading = want;
    const r = want ? this.#carrier.readStart() : this.#carrier.readStop();
    if (r < 0 && want) this.#fail(systemError('read', r, this.endpoint));
  }

  #startFrameTimer(limit: number): void {
    // Checked a few times per limit, so a frame is cut off at most a quarter late. The engine notes when
    // a partial frame began; a peer sending one byte at a time does not reset that clock.
    this.#frameTimer = setInterval(() => {
      const age = this.#carrier.partialAge();
      if (age >= limit) {
        this.#fail(
          ipcError(ErrorCodes.FRAME_TIMEOUT, `${this.endpoint} took over ${limit} ms (frameTimeout) to send one frame`, {
            address: this.endpoint,
            frameTimeout: limit,
          }),
        );
      }
    }, Math.max(10, Math.floor(limit / 4)));
    this.#frameTimer.unref();
  }

  #onEnd(status: number, framerError: number): void {
    this.#readEnded = true;
    this.#reading = false;
    if (framerError !== FramerError.NONE) {
      this.#fail(framerErrorFor(framerError, this.#config, this.endpoint));
      return;
    }
    if (status === UV_EOF) {
      debug('peer ended %s', this.endpoint);
      if (this.#child !== null) {
        // The child closed its stdout: usually it is exiting. Frames it wrote are all delivered; now
        // end its stdin and wait for it, as close() does.
        if (this.#child.exit !== null) this.#childGone();
        else if (this.#state === 'open') this.#beginClose();
        return;
      }
      if (this.#state === 'open') this.#beginClose();
      else if (this.#shutdownDone) this.#closeHandle();
      return;
    }
    // A reset after our own shutdown completed loses nothing of ours: the peer went away as we closed.
    if (this.#state === 'closing' && this.#shutdownDone && this.#buffered === 0) {
      this.#closeHandle();
      return;
    }
    this.#fail(systemError('read', status, this.endpoint));
  }

  /** Stops reading from the socket (the peer's sends then block once buffers fill) until `resume()`. */
  pause(): this {
    this.#inbox.paused = true;
    this.#updateReading();
    return this;
  }

  resume(): this {
    this.#inbox.paused = false;
    this.#scheduleDrain();
    this.#updateReading();
    return this;
  }

  get isPaused(): boolean {
    return this.#inbox.paused;
  }

  /** Lets the process exit while this transport is open. */
  unref(): this {
    if (!this.#handleClosed) this.#carrier.unref();
    return this;
  }

  ref(): this {
    if (!this.#handleClosed) this.#carrier.ref();
    return this;
  }

  // --- closing -----------------------------------------------------------------------------------

  /**
   * Sends every frame given to `send()` before it, ends our side, waits for the peer to end (at most
   * `closeTimeout`), then closes. Idempotent; resolves, never rejects, once the handle is closed.
   */
  close(): Promise<void> {
    this.#closedLocally = true;
    this.#closePromise ??= new Promise<void>((resolve) => {
      this.#resolveClose = resolve;
    });
    if (this.#handleClosed) {
      this.#resolveClose?.();
      this.#emitClose();
    } else if (this.#state === 'open') this.#beginClose();
    return this.#closePromise;
  }

  /**
   * Closes at once. Frames not yet written are dropped; with `err`, it is emitted as `'error'` first.
   * A child process is killed (SIGKILL).
   */
  destroy(err?: Error): void {
    this.#closedLocally = true;
    if (this.#child !== null && this.#child.exit === null) this.#child.kill('SIGKILL');
    if (this.#handleClosing) return;
    if (err !== undefined && this.#error === null) this.#error = err;
    this.#state = 'closing';
    this.#closeHandle();
  }

  #flushSync(timeoutMs: number): number {
    if (this.#handleClosing) return 0;
    const batch = this.#batch;
    const len = this.#batchLen;
    this.#batchLen = 0;
    return batch !== null && len > 0 ? this.#carrier.flushSync(timeoutMs, batch, len) : this.#carrier.flushSync(timeoutMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #beginClose(): void {
    this.#state = 'closing';
    debug('closing %s', this.endpoint);
    this.#flushBatch();
    if (this.#handleClosing) return;
    if (this.#child !== null) {
      this.#beginChildClose(this.#child);
      return;
    }
    if (!this.#shutdownWriter) {
      if (this.#buffered === 0) {
        this.#closeHandle();
        return;
      }
      this.#closeWhenFlushed = true;
    } else {
      const r = this.#carrier.shutdown();
      if (r < 0) {
        this.#closeHandle();
        return;
      }
    }
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = null;
      if (this.#buffered > 0 && this.#error === null) {
        this.#error = ipcError(
          ErrorCodes.CLOSE_TIMEOUT,
          `close() gave up after ${this.#config.closeTimeout} ms with ${this.#buffered} bytes unwritten: ${this.endpoint} is not reading`,
          { address: this.endpoint, unsentBytes: this.#buffered },
        );
      }
      this.#closeHandle();
    }, this.#config.closeTimeout);
    this.#closeTimer.unref();
  }

  #onShutdown(status: number): void {
    this.#shutdownDone = true;
    // A child's stdin is closed: now its exit decides (see #beginChildClose).
    if (this.#child !== null) return;
    // Our frames are all with the OS. Wait for the peer's end (so unread bytes do not turn into a reset
    // on its side), unless reading has stopped and it could never be seen.
    if (status < 0 || this.#readEnded || !this.#reading) this.#closeHandle();
  }

  // --- a child process's stdio --------------------------------------------------------------------

  /** Closing a child: end its stdin, wait for it to exit, then SIGTERM, then SIGKILL. */
  #beginChildClose(child: ChildLink): void {
    if (!this.#writerBroken) this.#carrier.shutdown();
    const wait = this.#config.closeTimeout;
    this.#childTimer = setTimeout(() => {
      debug('%s did not exit within %d ms of stdin closing: SIGTERM', this.endpoint, wait);
      child.kill('SIGTERM');
      this.#childTimer = setTimeout(() => {
        debug('%s did not exit after SIGTERM: SIGKILL', this.endpoint);
        child.kill('SIGKILL');
      }, wait);
    }, wait);
  }

  #onChildExit(): void {
    if (this.#childTimer !== null) {
      clearTimeout(this.#childTimer);
      this.#childTimer = null;
    }
    // Frames the child wrote before exiting come first: wait for the end of its stdout, unless a
    // grandchild keeps the pipe open, which closeTimeout bounds.
    if (this.#readEnded || this.#handleClosing) this.#childGone();
    else {
      this.#childTimer = setTimeout(() => this.#childGone(), this.#config.closeTimeout);
      this.#childTimer.unref();
    }
  }

  #childGone(): void {
    const exit = this.#child?.exit;
    if (this.#handleClosing || exit == null) return;
    this.#state = 'closing';
    let unsent = this.#unsendable + this.#batchFrames;
    for (let i = this.#inFlightHead; i < this.#inFlight.length; i++) unsent += this.#inFlight[i]!.frames;
    if (unsent > 0 && this.#error === null) this.#error = this.#peerExited(exit, unsent);
    this.#closeHandle();
  }

  /** A write to a child that has gone: its exit status decides the error, once it is known. */
  #writeFailed(status: number): void {
    if (this.#child === null) {
      this.#fail(systemError('write', status, this.endpoint));
      return;
    }
    this.#collectOnce();
    this.#writerBroken = true;
    this.#unsendable += this.#batchFrames;
    this.#batchFrames = 0;
    this.#batch = null;
    this.#batchLen = 0;
    if (this.#child.exit !== null) this.#childGone();
  }

  /** send() after the child's stdin broke but before its exit is known: counted, reported at exit. */
  #acceptUnsendable(frame?: Uint8Array | string): boolean {
    this.#unsendable++;
    if (this.#keepUnsent && frame !== undefined) (this.#unsent ??= []).push(Buffer.from(checkFrame(frame, this.#config)));
    return false;
  }

  /**
   * Once, at the first failure or at close: the frames never handed to the OS, kept for a session to
   * send again (later refusals are appended as they come).
   */
  #collectOnce(): void {
    if (!this.#keepUnsent || this.#unsentCollected) return;
    this.#unsentCollected = true;
    const frames = this.#collectUnsent();
    this.#unsent = this.#unsent === null ? frames : frames.concat(this.#unsent);
  }

  #peerExited(exit: ChildExit, unsent: number): TransportError {
    const how = exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const message =
      unsent > 0 ? `${this.endpoint} ${how} with ${unsent} frame(s) unsent` : `${this.endpoint} ${how}; it takes no more frames`;
    return ipcError(ErrorCodes.PEER_EXITED, message, {
      address: this.endpoint,
      exitCode: exit.code,
      signal: exit.signal,
      ...(unsent > 0 ? { unsent } : {}),
    });
  }

  #fail(err: Error): void {
    if (this.#error === null && !this.#handleClosing) {
      debug('error %s: %s', this.endpoint, err.message);
      this.destroy(err);
    }
  }

  #closeHandle(): void {
    if (this.#handleClosing) return;
    unflushed.delete(this.#flushTask);
    this.#collectOnce();
    // Sequenced frames still in the batch go to the replay log, to be sent on the next connection.
    if (this.#retain !== null && this.#batchFirst !== 0 && this.#batch !== null && this.#batchLen > 0) {
      this.#retain.retain(this.#batch, this.#batchLen, this.#batchFirst, this.#batchLast);
      this.#batch = null;
    }
    this.#batchFirst = 0;
    this.#handleClosing = true;
    this.#batch = null;
    this.#batchLen = 0;
    this.#batchFrames = 0;
    this.#pings.closed(this.endpoint);
    this.#state = 'closing';
    if (this.#closeTimer !== null) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = null;
    }
    if (this.#frameTimer !== null) {
      clearInterval(this.#frameTimer);
      this.#frameTimer = null;
    }
    if (this.#childTimer !== null) {
      clearTimeout(this.#childTimer);
      this.#childTimer = null;
    }
    this.#carrier.close();
  }

  #onHandleClosed(): void {
    if (this.#child !== null && !this.#childReleased) {
      // The child's own handles go last, so 'close' means the process is gone too.
      this.#childReleased = true;
      this.#child.release(() => this.#onHandleClosed());
      return;
    }
    this.#busyPollTime = this.#carrier.busyPollTime();
    this.#lastActivityAt = Date.now() - this.#carrier.idleTime();
    this.#handleClosed = true;
    this.#state = 'closed';
    this.#announceWritten();
    this.#reading = false;
    debug('closed %s', this.endpoint);
    this.#resolveClose?.();
    this.#emitClose();
  }

  #emitClose(): void {
    if (this.#closeEmitted) return;
    // Frames already received are delivered before 'close' (src/inbox.ts says when it waits).
    if (this.#inbox.holdsClose(this.#error !== null, this.#closedLocally)) return;
    this.#inbox.clear();
    this.#closeEmitted = true;
    const err = this.#error;
    if (err !== null) this.emit('error', err);
    this.emit('close', err !== null);
    if (channels.close.hasSubscribers) channels.close.publish({ transport: this, error: err });
  }

  // --- iteration ---------------------------------------------------------------------------------

  /**
   * Yields each frame. Reading stops while `readableHighWaterMark` frames wait unconsumed. Ends when the
   * transport closes; throws its error. Leaving the loop early closes the transport.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return frameIterator(this, this.#config.readableHighWaterMark, () => this.#closeEmitted, (full) => {
      this.#consumerFull = full;
      this.#updateReading();
    });
  }
}

/** The peer as the engine reports it: [pid, uid, gid] on Unix, [pid] for a Windows named pipe. */
export function peerOf(cred: [number, number, number] | [number] | null): Peer | null {
  if (cred === null) return null;
  if (cred.length === 1) return { pid: cred[0] };
  return { pid: cred[0], uid: cred[1], gid: cred[2] };
}

/** @internal What send() refuses at the call: a wrong type, a frame past maxFrameSize, a bad line. */
export function checkFrame(frame: Uint8Array | string, config: TransportConfig): Uint8Array {
  let data: Uint8Array;
  if (typeof frame === 'string') data = Buffer.from(frame, 'utf8');
  else if (frame instanceof Uint8Array) data = frame;
  else throw argTypeError('frame', 'a Buffer, Uint8Array or string', frame);
  const len = data.length;
  if (len > config.maxFrameSize) {
    throw ipcError(ErrorCodes.FRAME_TOO_LARGE, `Frame of ${len} bytes is larger than maxFrameSize (${config.maxFrameSize})`, {
      size: len,
      maxFrameSize: config.maxFrameSize,
    });
  }
  if (config.framing === 'lines') checkLine(data);
  return data;
}

function checkLine(data: Uint8Array): void {
  // The reader splits on \n, strips one trailing \r and skips blank lines: a frame that would not come
  // back unchanged is refused here rather than silently altered.
  if (data.length === 0) throw ipcError(ErrorCodes.INVALID_FRAME, 'An empty frame cannot be sent in lines framing (blank lines are skipped)');
  if (data.indexOf(0x0a) !== -1) throw ipcError(ErrorCodes.INVALID_FRAME, 'A frame in lines framing must not contain a newline (\\n)');
  if (data[data.length - 1] === 0x0d) throw ipcError(ErrorCodes.INVALID_FRAME, 'A frame in lines framing must not end in \\r (the reader strips it)');
}

function framerErrorFor(code: number, config: TransportConfig, endpoint: string): Error {
  switch (code) {
    case FramerError.FRAME_TOO_LARGE:
      return ipcError(ErrorCodes.FRAME_TOO_LARGE, `${endpoint} sent a frame larger than maxFrameSize (${config.maxFrameSize} bytes)`, {
        address: endpoint,
        maxFrameSize: config.maxFrameSize,
      });
    case FramerError.PROTOCOL:
      return ipcError(
        ErrorCodes.PROTOCOL,
        `${endpoint} sent a malformed Content-Length header block (missing, duplicate or non-numeric length, or over 8 KiB)`,
        { address: endpoint },
      );
    default:
      return ipcError(ErrorCodes.TRUNCATED, `${endpoint} ended the stream in the middle of a frame`, { address: endpoint });
  }
}
