// A session: one logical transport that outlives the connections under it. It queues what is sent
// while no connection is up, requeues what a dropped connection never wrote, and, with `resume`,
// numbers every frame, keeps it until the peer acknowledges it and replays the rest on the next
// connection, while dropping the duplicates the peer replays to us. The client side
// (ReconnectingTransport, src/reconnect.ts) dials the connections; the server side (src/server.ts)
// waits for the client to come back.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { AtExit } from './at-exit';
import { Inbox } from './inbox';
import type { TransportConfig } from './config';
import { debug } from './debug';
import { Transport, checkFrame, type MessageTransport, type SessionSink, type TransportState, type TransportStats, kLink } from './transport';
import { ReceiveCredit, SendCredit, frameCost } from './credit';
import { PROTOCOL_VERSION, SESSION_ID_BYTES, T_ACK, T_BYE, T_WINDOW, controlFrame, readU64Body, u64Body, type Hello } from './envelope';
import { ErrorCodes, ipcError } from './errors';
import { takeEarly } from './handshake';
import { frameIterator } from './iterate';
import { ReplayLog } from './replay';
import { FRAMING_CODES } from './wire';
import { jsonMessages as jsonMessagesOf, sendJson as sendJsonOn } from './json';

export type QueuePolicy = 'error' | 'drop-oldest';

/** Why a frame given to `send()` was dropped (the `'drop'` event's second argument). */
export type DropReason = 'queue-full' | 'ttl' | 'closed' | 'exit' | 'expired';

export interface QueueConfig {
  maxQueueBytes: number;
  maxQueueFrames: number;
  queuePolicy: QueuePolicy;
  /** Milliseconds a frame may wait to be written before it is dropped; 0: no limit. */
  queueTtl: number;
  /** Resume: bytes of received frames (cost, src/credit.ts) this side holds for its consumer before it grants no more credit. */
  receiveWindow: number;
}

export interface SessionStats extends TransportStats {
  /** Frames waiting to be written, and (resume) written but not yet acknowledged. */
  queuedFrames: number;
  queuedBytes: number;
  /** Connections made after the first. */
  reconnects: number;
  /** Frames the peer sent twice (a replay after a reconnect) and that were delivered once. */
  duplicates: number;
  /**
   * Resume: received frames the consumer has not taken yet (paused, no listener, or waiting in an
   * iterator), in bytes as the receive window counts them (payload plus 64 per frame). At most
   * `receiveWindow` plus one frame. 0 without resume.
   */
  heldBytes: number;
  /** Resume: credit the peer has left us on this connection, in the same bytes; null without resume. */
  sendCredit: number | null;
}

const COPY_LIMIT = 16 * 1024;

// Small frames are copied into chunks of this size, many per chunk (a Buffer each would cost an
// allocation per frame on the hot path of resume).
const ARENA_SIZE = 64 * 1024;

// Sessions with frames still queued, for the 'exit' report (frames an unref()'d session never sent).
const live = new AtExit<Session>((session) => session.dropQueued('exit'));
function track(s: Session): void {
  live.add(s);
}

/** The logical transport; see the file comment. Not constructed directly. */
export class Session extends EventEmitter implements MessageTransport {
  readonly endpoint: string;
  /** Frames are numbered, acknowledged and replayed across connections (`resume: true`). */
  readonly resumable: boolean;
  /** Random id of a resumable session (zeros without resume). */
  readonly sessionId: Buffer;

  protected conn: Transport | null = null;
  protected config: TransportConfig;
  protected queueConfig: QueueConfig;
  #state: TransportState = 'connecting';
  #unrefd = false;

  // Outgoing: frames not yet written anywhere. With resume, sequence numbers are consecutive and given
  // at send(), so a queued frame's is implied by its place: the last one queued has #nextSeq - 1; the
  // frames written and not yet acknowledged are in #log. Without resume, the first #exempt frames came
  // back from a dropped connection and cannot expire. #times holds when send() took each frame, only
  // with queueTtl.
  #queue: Uint8Array[] = [];
  #times: number[] | null = null;
  #head = 0;
  #queuedBytes = 0;
  #exempt = 0;
  #log: ReplayLog;
  #nextSeq = 1;
  #arena: Uint8Array | null = null;
  #arenaPos = 0;
  #pumping = false;
  #needDrain = false;
  // Credit (resume, src/credit.ts): what the peer lets us send on this connection; what we let it send.
  #tx = new SendCredit();
  #rx: ReceiveCredit;
  #granted = 0;

  // Incoming (resume): the last sequence number delivered, and the last one acknowledged.
  #delivered = 0;
  #acked = 0;

  // The consumer.
  #inbox = new Inbox(this);
  // Resume: a held frame the consumer took hands its credit back (src/credit.ts).
  #release = (frame: Buffer): void => this.#rx.release(frame.length);
  #connPaused = false;
  #consumerFull = false;

  // Closing.
  #closePromise: Promise<void> | null = null;
  #resolveClose: (() => void) | null = null;
  #closeTimer: NodeJS.Timeout | null = null;
  #closed = false;

  // Stats.
  #framesIn = 0;
  #framesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #duplicates = 0;
  #connections = 0;
  #createdAt = Date.now();
  #lastActivityAt = this.#createdAt;
  #ttlTimer: NodeJS.Timeout | null = null;

  /** @internal */
  constructor(endpoint: string, config: TransportConfig, queue: QueueConfig, resume: boolean, sessionId?: Buffer) {
    super();
    this.endpoint = endpoint;
    this.config = config;
    this.queueConfig = queue;
    this.resumable = resume;
    this.sessionId = sessionId ?? (resume ? randomBytes(SESSION_ID_BYTES) : Buffer.alloc(SESSION_ID_BYTES));
    if (queue.queueTtl > 0) this.#times = [];
    this.#log = new ReplayLog(FRAMING_CODES[config.framing]);
    this.#rx = new ReceiveCredit(queue.receiveWindow);
    // Frames that came before anyone listened wait in the backlog for the first listener.
    this.on('newListener', (event: string | symbol) => {
      if (event === 'message') queueMicrotask(() => this.#drainBacklog());
    });
  }

  get state(): TransportState {
    return this.#state;
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.conn !== null;
  }

  get heartbeat(): boolean {
    return this.conn?.heartbeat ?? false;
  }

  get framing(): TransportConfig['framing'] {
    return this.config.framing;
  }

  get isPaused(): boolean {
    return this.#inbox.paused;
  }

  get stats(): SessionStats {
    const c = this.conn?.stats;
    return {
      framesIn: this.#framesIn,
      framesOut: this.#framesOut,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      bufferedBytes: this.#queuedBytes + this.#log.bytes + (c?.bufferedBytes ?? 0),
      createdAt: this.#createdAt,
      lastActivityAt: c === undefined ? this.#lastActivityAt : Math.max(this.#lastActivityAt, c.lastActivityAt),
      busyPollTime: c?.busyPollTime ?? 0,
      queuedFrames: this.queued,
      queuedBytes: this.#queuedBytes + this.#log.bytes,
      reconnects: Math.max(0, this.#connections - 1),
      duplicates: this.#duplicates,
      heldBytes: this.#rx.held,
      sendCredit: this.resumable ? this.#tx.available : null,
    };
  }

  // --- sending -----------------------------------------------------------------------------------

  /**
   * Sends one frame, or queues it while no connection is up. Returns false when the caller should wait
   * for `'drain'`. Throws ERR_IPC_QUEUE_FULL when the queue is full under the 'error' policy.
   */
  send(frame: Uint8Array | string): boolean {
    if (this.#state === 'closing' || this.#state === 'closed') {
      throw ipcError(ErrorCodes.CLOSED, `send() on a ${this.#state} transport (${this.endpoint})`, { address: this.endpoint });
    }
    const data = checkFrame(frame, this.config);
    const conn = this.conn;
    this.#framesOut++;
    this.#bytesOut += data.length;
    // Connected with nothing waiting: straight through, like a bare transport (with resume, the
    // connection hands what it writes to the replay log).
    if (conn !== null && conn.state === 'open' && this.#head === this.#queue.length && !this.#pumping && (!this.resumable || this.#tx.open)) {
      if (this.resumable ? this.#sendSeq(conn, data, this.#nextSeq++) && this.#belowHighWater() : conn.send(data)) return true;
      // The connection pushes back: our 'drain' follows its own (see attach()).
      this.#needDrain = true;
      return false;
    }
    this.#push(data);
    this.#pump();
    return this.#belowHighWater();
  }

  sendJson(value: unknown): boolean {
    return sendJsonOn(this, value);
  }

  jsonMessages(): AsyncIterableIterator<unknown> {
    return jsonMessagesOf(this);
  }

  ping(timeout?: number): Promise<number> {
    if (this.conn === null) {
      return Promise.reject(ipcError(ErrorCodes.CLOSED, `ping(): ${this.endpoint} is not connected`, { address: this.endpoint }));
    }
    if (!this.resumable) return this.conn.ping(timeout);
    // The peer's engine answers pings even while its consumer has stopped (a session always reads its
    // connection): what shows a stopped consumer is credit it does not hand back. A probe fails when a
    // frame of ours has waited for credit longer than the probe's own timeout.
    const limit = timeout ?? 1000;
    return this.conn.ping(timeout).then((rtt) => {
      const stalled = this.#tx.stalledFor(performance.now());
      if (stalled > limit) {
        throw ipcError(
          ErrorCodes.PING_TIMEOUT,
          `${this.endpoint} answered the ping, but has granted no credit for ${Math.round(stalled)} ms: its consumer is not taking frames`,
          { address: this.endpoint, stalledFor: Math.round(stalled) },
        );
      }
      return rtt;
    });
  }

  /**
   * Backpressure: what waits to be written counts against writableHighWaterMark. Frames written and
   * not yet acknowledged (resume) are bounded apart, at four times it: acknowledgements come in
   * batches, and a sender stalled on each one would idle for nothing.
   */
  #belowHighWater(): boolean {
    const hwm = this.config.writableHighWaterMark;
    if (this.#queuedBytes < hwm && this.#log.bytes < 4 * hwm) return true;
    this.#needDrain = true;
    return false;
  }

  /** Adds a frame at the tail (with resume, numbered #nextSeq), applying the queue's bounds and policy first. */
  #push(data: Uint8Array): void {
    const q = this.queueConfig;
    const len = data.length;
    while (this.#queuedBytes + this.#log.bytes + len > q.maxQueueBytes || this.queued + 1 > q.maxQueueFrames) {
      // A frame larger than the whole queue never fits: dropping the others for it would lose them all.
      if (q.queuePolicy === 'error' || this.queued === 0 || len > q.maxQueueBytes) {
        this.#framesOut--;
        this.#bytesOut -= len;
        const bytes = this.#queuedBytes + this.#log.bytes;
        throw ipcError(
          ErrorCodes.QUEUE_FULL,
          `The send queue of ${this.endpoint} is full (${this.queued} frames, ${bytes} bytes; maxQueueFrames ${q.maxQueueFrames}, maxQueueBytes ${q.maxQueueBytes})`,
          { address: this.endpoint, queuedFrames: this.queued, queuedBytes: bytes },
        );
      }
      // The oldest first: written and unacknowledged ones (a batch at a time), then never written ones.
      if (this.#log.frames > 0) this.#report(this.#log.shiftOldest(), 'queue-full');
      else this.#shift('queue-full');
    }
    // A small frame is copied (send() lets the caller reuse its buffer at once, as a bare transport
    // does); a large one is held as given and must not change until it is written (or acknowledged).
    const wasEmpty = this.#head === this.#queue.length;
    this.#queue.push(len <= COPY_LIMIT ? this.#copy(data) : data);
    if (this.resumable) this.#nextSeq++;
    this.#times?.push(performance.now());
    this.#queuedBytes += len;
    if (wasEmpty) {
      track(this);
      this.onQueueChanged();
    }
    if (this.conn === null) this.#armTtl();
  }

  /** A copy of a small frame, in the current arena chunk. */
  #copy(data: Uint8Array): Uint8Array {
    const len = data.length;
    // V8 keeps a typed array this small on its own heap: cheaper than a view into the arena.
    if (len <= 64) return new Uint8Array(data);
    let arena = this.#arena;
    if (arena === null || this.#arenaPos + len > ARENA_SIZE) {
      arena = this.#arena = new Uint8Array(ARENA_SIZE);
      this.#arenaPos = 0;
    }
    const copy = new Uint8Array(arena.buffer, this.#arenaPos, len);
    copy.set(data);
    this.#arenaPos += len;
    return copy;
  }

  /** Removes the oldest frame and reports it in a 'drop' event. */
  #shift(reason: DropReason): void {
    const data = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as Uint8Array;
    this.#queuedBytes -= data.length;
    if (this.#exempt > 0) this.#exempt--;
    // A frame dropped before it was ever written: the frames after it take over the numbers, so the
    // peer sees no gap (see #seqAt).
    else if (this.resumable) this.#nextSeq--;
    this.#compact();
    debug('drop %s (%s)', this.endpoint, reason);
    this.emit('drop', Buffer.from(data.buffer, data.byteOffset, data.length), reason);
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      if (this.#times !== null) this.#times = [];
      this.#head = 0;
      this.#exempt = 0;
      live.delete(this);
      this.onQueueChanged();
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      if (this.#times !== null) this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * @internal At process exit: every frame never written is reported dropped. Frames written and not
   * yet acknowledged went to the OS; like a bare transport's, they are not reported.
   */
  dropQueued(reason: DropReason): void {
    while (this.#head < this.#queue.length) this.#shift(reason);
  }

  /** @internal Every frame still queued, or written and not acknowledged, is reported dropped (close, expiry). */
  dropAll(reason: DropReason): void {
    this.#report(this.#log.takeAll(), reason);
    while (this.#head < this.#queue.length) this.#shift(reason);
    this.onQueueChanged();
  }

  #report(frames: Buffer[], reason: DropReason): void {
    for (const frame of frames) {
      debug('drop %s (%s)', this.endpoint, reason);
      this.emit('drop', frame, reason);
    }
  }

  /** Writes queued frames on the current connection, in order, pausing on its backpressure. */
  #pump(): void {
    const conn = this.conn;
    if (conn === null || this.#pumping) return;
    this.#pumping = true;
    try {
      if (this.queueConfig.queueTtl > 0) this.#expire();
      while (this.conn === conn && conn.state === 'open') {
        if (this.#head >= this.#queue.length) break;
        // Out of credit: the frames wait here, and the peer's next 'W' pumps again.
        if (this.resumable && !this.#tx.open) {
          this.#tx.stall(performance.now());
          break;
        }
        const seq = this.#seqAt(this.#head);
        const data = this.#queue[this.#head]!;
        this.#queue[this.#head++] = undefined as unknown as Uint8Array;
        this.#queuedBytes -= data.length;
        if (this.#exempt > 0) this.#exempt--;
        const more = this.resumable ? this.#sendSeq(conn, data, seq) : conn.send(data);
        if (!more) break;
      }
      this.#compact();
    } finally {
      this.#pumping = false;
    }
    if (this.#state === 'closing' && !this.resumable && this.queued === 0 && this.#closeTimer !== null) this.#byeAndClose();
    this.#maybeDrain();
  }

  #maybeDrain(): void {
    const conn = this.conn;
    const hwm = this.config.writableHighWaterMark;
    if (!this.#needDrain || this.#queuedBytes > hwm / 2 || this.#log.bytes >= 2 * hwm) return;
    if (conn !== null && conn.stats.bufferedBytes >= this.config.writableHighWaterMark) return;
    this.#needDrain = false;
    this.emit('drain');
  }

  /** A sequenced frame, charged to the peer's credit. */
  #sendSeq(conn: Transport, data: Uint8Array, seq: number): boolean {
    this.#tx.charge(frameCost(data.length));
    return conn[kLink].sendSeq(data, seq);
  }

  /** Sequence number of the frame at `index` (resume). */
  #seqAt(index: number): number {
    return this.#nextSeq - (this.#queue.length - index);
  }

  /** Index of the oldest frame never written (written and requeued ones come first), or the queue's end. */
  #firstUnwritten(): number {
    return this.#head + this.#exempt;
  }

  /**
   * Drops the frames that waited longer than queueTtl without ever being written. They are the oldest
   * of the never-written ones, so they sit together; with resume, the never-written frames after them
   * take over their sequence numbers (no peer has seen any of them, so the numbering stays gapless).
   */
  #expire(): void {
    const ttl = this.queueConfig.queueTtl;
    const now = performance.now();
    const from = this.#firstUnwritten();
    let to = from;
    const times = this.#times!;
    while (to < this.#queue.length && now - times[to]! > ttl) to++;
    if (to === from) return;
    const dropped = this.#queue.splice(from, to - from);
    times.splice(from, to - from);
    for (const data of dropped) this.#queuedBytes -= data.length;
    // The frames after them take over their numbers (see #seqAt).
    if (this.resumable) this.#nextSeq -= dropped.length;
    this.#compact();
    for (const data of dropped) {
      debug('drop %s (ttl)', this.endpoint);
      this.emit('drop', Buffer.from(data.buffer, data.byteOffset, data.length), 'ttl');
    }
  }

  /** While disconnected, a timer for the moment the oldest never-written frame expires. */
  #armTtl(): void {
    const ttl = this.queueConfig.queueTtl;
    if (ttl === 0 || this.#ttlTimer !== null) return;
    const first = this.#firstUnwritten();
    if (first >= this.#queue.length) return;
    const wait = Math.max(1, Math.ceil(ttl - (performance.now() - this.#times![first]!)) + 1);
    this.#ttlTimer = setTimeout(() => {
      this.#ttlTimer = null;
      this.#expire();
      if (this.conn === null) this.#armTtl();
    }, wait);
    this.#ttlTimer.unref();
  }

  /** @internal For subclasses: the queue went from empty to not, or back (keeps the process alive). */
  protected onQueueChanged(): void {}

  /** @internal */
  protected get queued(): number {
    return this.#queue.length - this.#head + this.#log.frames;
  }

  // --- connections -------------------------------------------------------------------------------

  /** @internal The hello this side sends (client) or answers with (server). */
  hello(flags: number): Hello {
    return {
      version: PROTOCOL_VERSION,
      flags,
      session: this.sessionId,
      received: this.#delivered,
      first: this.#log.firstHeld || (this.resumable ? this.#seqAt(this.#head) : this.#nextSeq),
      window: (this.#granted = this.resumable ? this.#rx.initial() : 0),
    };
  }

  /**
   * Puts a connection under the session, after its handshake. `peer` is the peer's hello (resume):
   * frames it already has are released, the rest replayed; `fresh` says the peer starts this session
   * anew (a server that does not know it: its numbering starts again).
   */
  protected attach(conn: Transport, peer: Hello | null, fresh: boolean): void {
    this.conn = conn;
    this.#connections++;
    if (this.#state === 'connecting') this.#state = 'open';
    if (this.#ttlTimer !== null) {
      clearTimeout(this.#ttlTimer);
      this.#ttlTimer = null;
    }
    if (this.resumable && peer !== null) {
      // A fresh peer starts numbering anew; a known one may have dropped frames it never got to send
      // us (its queue policy; each was a 'drop' event there): its oldest held frame is what comes next.
      if (fresh || peer.first > this.#delivered + 1) this.#delivered = this.#acked = peer.first - 1;
      // A fresh session's peer counted what it received in another session (a client's hello to a
      // server that lost its session): those numbers are not ours.
      if (!fresh) this.#log.release(peer.received);
      this.#tx.reset(peer.window);
      // Our hello granted the peer this much, counted from here.
      this.#rx.start(this.#granted);
    }
    const sink: SessionSink = {
      frame: (frame, seq) => this.#onFrame(frame, seq),
      control: (type, body) => this.#onControl(conn, type, body),
      endOfRead: () => {
        this.#sendAck();
        this.#grant();
      },
      ack: (seq) => (this.resumable ? this.#onAck(seq) : this.#protocolError(conn, 'an acknowledgement outside a resumable session')),
    };
    conn[kLink].sink(sink);
    const held = takeEarly(conn);
    if (held !== undefined) {
      // After the caller's own work ('connect', 'reconnect'), and still before the next read.
      process.nextTick(() => {
        for (const e of held) {
          if (this.conn !== conn) return;
          if ('frame' in e) sink.frame(e.frame, e.seq);
          else sink.control(e.type, e.body);
        }
        sink.endOfRead?.();
      });
    }
    if (this.resumable) {
      // What the peer missed goes first, as it was written; then the connection hands the log what it writes.
      this.#tx.charge(this.#log.replay(conn));
      conn[kLink].retain(this.#log);
    } else conn[kLink].keepUnsent();
    if (this.#unrefd) conn.unref();
    this.#connPaused = false;
    this.#updateConnReading();
    conn.on('drain', () => {
      if (this.conn === conn) this.#pump();
    });
    let error: Error | null = null;
    conn.on('error', (err: Error) => (error = err));
    conn.once('close', () => this.#onConnClose(conn, error));
    this.#pump();
  }

  #onConnClose(conn: Transport, err: Error | null): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.#lastActivityAt = conn.stats.lastActivityAt;
    if (!this.resumable) {
      // What the connection never handed to the OS goes back to the head of the queue, in order.
      const unsent = conn[kLink].takeUnsent();
      if (unsent.length > 0) {
        const now = performance.now();
        const wasEmpty = this.#head === this.#queue.length;
        this.#queue = (unsent as Uint8Array[]).concat(this.#queue.slice(this.#head));
        if (this.#times !== null) this.#times = unsent.map(() => now).concat(this.#times.slice(this.#head));
        this.#head = 0;
        this.#exempt += unsent.length;
        for (const d of unsent) this.#queuedBytes += d.length;
        if (wasEmpty) {
          track(this);
          this.onQueueChanged();
        }
      }
    }
    // Closing: done, unless frames still wait and close() still has time to deliver them.
    if (this.#state === 'closed' || (this.#state === 'closing' && (this.queued === 0 || this.#closeTimer === null || this.#peerSaidBye))) {
      this.#finishClose();
      return;
    }
    this.#armTtl();
    this.onDetached(err);
  }

  /** @internal For subclasses: the connection dropped (err: why, or null for a clean end by the peer). */
  protected onDetached(_err: Error | null): void {}

  /** The connection under the session (tests, diagnostics). */
  get connection(): Transport | null {
    return this.conn;
  }

  // --- receiving ---------------------------------------------------------------------------------

  #onFrame(frame: Buffer, seq: number): void {
    if (seq >= 0) {
      if (!this.#rx.receive(frame.length)) {
        this.conn?.destroy(
          ipcError(
            ErrorCodes.FLOW_CONTROL,
            `${this.endpoint} sent frame ${seq} past the credit it was given (receiveWindow ${this.#rx.window} bytes)`,
            { address: this.endpoint, receiveWindow: this.#rx.window },
          ),
        );
        return;
      }
      if (seq <= this.#delivered) {
        this.#duplicates++;
        return;
      }
      if (seq !== this.#delivered + 1) {
        this.conn?.destroy(
          ipcError(ErrorCodes.PROTOCOL, `${this.endpoint} sent frame ${seq} after ${this.#delivered}: a frame is missing`, { address: this.endpoint }),
        );
        return;
      }
      this.#delivered = seq;
    }
    this.#framesIn++;
    this.#bytesIn += frame.length;
    if (this.#inbox.deliver(frame)) return;
    if (this.resumable) this.#rx.hold(frame.length);
    else if (this.#inbox.waiting >= this.config.readableHighWaterMark) this.#updateConnReading();
  }

  /**
   * Resume: hands credit back for what the consumer took, once it is worth a frame (src/credit.ts).
   * Called after each read and whenever the consumer takes held frames.
   */
  #grant(): void {
    const conn = this.conn;
    if (!this.resumable || conn === null || conn.state !== 'open') return;
    const limit = this.#rx.update();
    if (limit >= 0) conn[kLink].sendControl(controlFrame(T_WINDOW, u64Body(limit), conn.framing === 'lines'));
  }

  /**
   * Acknowledges what was delivered, once per read from the connection (the engine hands over up to
   * a slab of frames per read): behind any reply the consumer sent meanwhile, in the same write.
   */
  #sendAck(): void {
    if (this.#acked === this.#delivered || this.conn === null) return;
    this.#acked = this.#delivered;
    this.conn[kLink].sendAck(this.#delivered);
  }

  #onAck(seq: number): void {
    this.#log.release(seq);
    if (this.#state === 'closing' && this.queued === 0) this.#byeAndClose();
    this.#maybeDrain();
  }

  #onControl(conn: Transport, type: number, body: Buffer | null): void {
    if (type === T_ACK && this.resumable) {
      const seq = readU64Body(body);
      if (seq < 0) return this.#protocolError(conn, 'a malformed acknowledgement');
      this.#onAck(seq);
      return;
    }
    if (type === T_WINDOW && this.resumable) {
      const limit = readU64Body(body);
      if (limit < 0) return this.#protocolError(conn, 'a malformed window update');
      if (this.#tx.grant(limit)) this.#pump();
      return;
    }
    if (type === T_BYE) {
      // The peer ended the session on purpose: nothing will resume it.
      debug('bye from %s', this.endpoint);
      this.#peerSaidBye = true;
      void this.endSession();
      return;
    }
    this.#protocolError(conn, `an unexpected control frame (type byte ${type})`);
  }

  #peerSaidBye = false;

  /** Has the peer ended the session (a 'B' frame)? */
  protected get peerEnded(): boolean {
    return this.#peerSaidBye;
  }

  #protocolError(conn: Transport, what: string): void {
    conn.destroy(ipcError(ErrorCodes.PROTOCOL, `${this.endpoint} sent ${what}`, { address: this.endpoint }));
  }

  pause(): this {
    this.#inbox.paused = true;
    this.#updateConnReading();
    return this;
  }

  /**
   * The connection reads while someone takes the frames: not paused, iterator not full, backlog short.
   * With resume it always reads, so acknowledgements and credit get through: what bounds the frames
   * held for a consumer that stopped is the credit it no longer hands back.
   */
  #updateConnReading(): void {
    if (this.resumable) return;
    const want = !this.#inbox.paused && !this.#consumerFull && this.#inbox.waiting < this.config.readableHighWaterMark;
    if (want !== this.#connPaused) return;
    this.#connPaused = !want;
    if (want) this.conn?.resume();
    else this.conn?.pause();
  }

  resume(): this {
    this.#inbox.paused = false;
    queueMicrotask(() => this.#drainBacklog());
    return this;
  }

  #drainBacklog(): void {
    this.#inbox.drain(undefined, this.resumable ? this.#release : undefined);
    this.#updateConnReading();
    this.#grant();
    if (this.#closed) this.#emitCloseWhenDelivered();
  }

  // --- lifetime ----------------------------------------------------------------------------------

  /** Lets the process exit while this session is open; frames still queued at exit are reported dropped. */
  unref(): this {
    this.#unrefd = true;
    this.conn?.unref();
    this.onQueueChanged();
    return this;
  }

  ref(): this {
    this.#unrefd = false;
    this.conn?.ref();
    this.onQueueChanged();
    return this;
  }

  protected get unrefd(): boolean {
    return this.#unrefd;
  }

  /**
   * Delivers what is queued (waiting up to `closeTimeout` for a connection and, with resume, for the
   * peer's acknowledgements), then ends the session. Frames that could not be delivered in that time
   * are reported as `'drop'` events with reason `'closed'`. Idempotent.
   */
  close(): Promise<void> {
    this.#closedLocally = true;
    return this.endSession();
  }

  #closedLocally = false;

  /** @internal close(), when the peer (a bye, a child's clean exit) ended the session rather than the user. */
  protected endSession(): Promise<void> {
    this.#closePromise ??= new Promise<void>((resolve) => {
      this.#resolveClose = resolve;
    });
    if (this.#state === 'closing' || this.#state === 'closed') return this.#closePromise;
    // Frames sent this tick wait in the connection's batch, and reach the replay log (and `queued`)
    // when it is written: write it now, so that the bye waits for their acknowledgement too.
    if (this.resumable && this.conn !== null && this.conn.state === 'open') this.conn[kLink].flush();
    this.#state = 'closing';
    this.onClosing();
    if (this.queued === 0 || this.#peerSaidBye) this.#byeAndClose();
    else {
      this.#pump();
      this.#closeTimer = setTimeout(() => {
        this.#closeTimer = null;
        this.dropAll('closed');
        this.#byeAndClose();
      }, this.config.closeTimeout);
      if (this.#unrefd) this.#closeTimer.unref();
    }
    return this.#closePromise;
  }

  /** Closes at once: queued frames are reported dropped; with `err`, it is emitted as `'error'` first. */
  destroy(err?: Error): void {
    this.#closedLocally = true;
    if (this.#closed) return;
    this.#closePromise ??= new Promise<void>((resolve) => {
      this.#resolveClose = resolve;
    });
    this.#error ??= err ?? null;
    this.#state = 'closing';
    this.onClosing();
    // The connection goes first: its unflushed batch joins the replay log, so the drops come in order.
    const conn = this.conn;
    conn?.destroy();
    this.dropAll('closed');
    if (conn === null) this.#finishClose();
  }

  #error: Error | null = null;

  /** @internal For subclasses: close() or destroy() was called. */
  protected onClosing(): void {}

  /** @internal For subclasses: the session is closed; stop every timer. */
  protected onClosed(): void {}

  #byeAndClose(): void {
    if (this.#closeTimer !== null) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = null;
    }
    const conn = this.conn;
    if (conn === null) {
      this.dropAll('closed');
      this.#finishClose();
      return;
    }
    if (this.resumable && !this.#peerSaidBye) {
      this.#sendAck();
      conn[kLink].sendControl(controlFrame(T_BYE, null, conn.framing === 'lines'));
    }
    void conn.close();
  }

  #finishClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#state = 'closed';
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    if (this.#ttlTimer !== null) clearTimeout(this.#ttlTimer);
    this.dropAll('closed');
    live.delete(this);
    this.onClosed();
    this.#resolveClose?.();
    this.#emitCloseWhenDelivered();
  }

  #closeEmitted = false;

  #emitCloseWhenDelivered(): void {
    if (this.#closeEmitted) return;
    // As with a bare transport, frames received are delivered before 'close': held while paused until
    // resume(), or, when the peer ended the session, until a 'message' listener is attached.
    if (this.#inbox.holdsClose(this.#error !== null, this.#closedLocally)) return;
    this.#closeEmitted = true;
    this.#inbox.clear();
    const err = this.#error;
    if (err !== null) this.emit('error', err);
    this.emit('close', err !== null);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Yields each frame; reading stops while `readableHighWaterMark` frames wait (with resume, the frames
   * waiting count against the receive window instead). Leaving early closes.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    const held = this.resumable
      ? (bytes: number, taken: boolean): void => {
          if (!taken) this.#rx.hold(bytes);
          else {
            this.#rx.release(bytes);
            this.#grant();
          }
        }
      : undefined;
    return frameIterator(
      this,
      this.config.readableHighWaterMark,
      () => this.#closeEmitted,
      (full) => {
        this.#consumerFull = full;
        this.#updateConnReading();
      },
      held,
    );
  }
}
