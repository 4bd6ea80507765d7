import { EventEmitter } from 'node:events';
import { DEFAULTS, connectConfig, int, type ConnectOptions } from './config';
import { connect } from './connect';
import { debug } from './debug';
import { resolveEndpoint, type Endpoint } from './endpoint';
import { ErrorCodes, argTypeError, argValueError, ipcError, outOfRangeError } from './errors';
import { healthOptions, monitor, type HealthMonitor, type HealthOptions } from './health';
import { kLink, type Transport } from './transport';

export interface PoolOptions extends ConnectOptions {
  /** Connections kept open even when idle. Default 1. */
  min?: number;
  /** Most connections open at once, borrowed or idle. Default 10. */
  max?: number;
  /** Ms an idle connection beyond `min` stays open. Default 300000; 0: never closed for idleness. */
  idleTimeout?: number;
  /** Ms after which a connection is retired (closed once idle, replaced). Default 3600000; 0: no limit. */
  maxLifetime?: number;
  /** Ms `acquire()` waits before rejecting with ERR_IPC_ACQUIRE_TIMEOUT. Default 10000; 0: no limit. */
  acquireTimeout?: number;
  /** `acquire()` calls allowed to wait at once; past it ERR_IPC_POOL_EXHAUSTED. Default Infinity. */
  maxWaiting?: number;
  /** Checked on every borrow; false (or a throw, or a rejection) destroys the connection. */
  validate?: (t: Transport) => boolean | Promise<boolean>;
  /** Health monitoring of each connection (see monitor()); an unhealthy one is evicted. Default off. */
  health?: HealthOptions | boolean;
}

export interface PoolStats {
  /** Open connections the pool holds: idle + inUse. */
  size: number;
  idle: number;
  /** Borrowed, or being validated for a borrow. */
  inUse: number;
  /** `acquire()` calls not yet settled. */
  waiting: number;
  /** Connections opened since the pool was created. */
  created: number;
  /** Connections the pool let go, for any reason (always `created - size`). */
  destroyed: number;
  /** Share of served acquires that got a connection already open when acquire() was called; 0 when none. */
  reuseRatio: number;
}

/** Why a connection left the pool, as `'evict'` reports it. */
export type EvictReason = 'closed' | 'error' | 'invalid' | 'unhealthy' | 'idleTimeout' | 'maxLifetime';

type Factory = () => Promise<Transport>;

const POOL_DEFAULTS = Object.freeze({
  min: 1,
  max: 10,
  idleTimeout: 300_000,
  maxLifetime: 3_600_000,
  acquireTimeout: 10_000,
  maxWaiting: Infinity,
});
const POOL_KEYS = ['min', 'max', 'idleTimeout', 'maxLifetime', 'acquireTimeout', 'maxWaiting', 'validate', 'health'];
// setTimeout's own limit: a longer delay fires at once.
const MAX_DELAY = 2 ** 31 - 1;
// Failed connection attempts are retried after 100 ms, doubling up to 5 s: a server that is down is not
// hammered, and one that comes back is found within seconds.
const RETRY_FIRST = 100;
const RETRY_MAX = 5000;

interface PoolConfig {
  factory: Factory;
  min: number;
  max: number;
  idleTimeout: number;
  maxLifetime: number;
  acquireTimeout: number;
  maxWaiting: number;
  validate: ((t: Transport) => boolean | Promise<boolean>) | undefined;
  health: HealthOptions | null;
  queueLimit: number;
  maxFrameSize: number | null;
  signal: AbortSignal | undefined;
}

interface Conn {
  t: Transport;
  /** Order of opening: a waiter that saw `#opened` at n was served by an existing connection if serial <= n. */
  serial: number;
  state: 'idle' | 'checking' | 'borrowed';
  removed: boolean;
  sawError: boolean;
  retire: boolean;
  unhealthy: boolean;
  idleTimer: NodeJS.Timeout | null;
  lifeTimer: NodeJS.Timeout | null;
  monitor: HealthMonitor | null;
}

interface Waiter {
  resolve: (t: Transport) => void;
  reject: (err: Error) => void;
  serial: number;
  settled: boolean;
  timer: NodeJS.Timeout | null;
}

/**
 * A set of connections to one endpoint: borrowed one at a time with `acquire()`/`release()`/`use()`, or
 * shared frame by frame with `send()`. Created by createPool().
 *
 * Events: `'connection'` (t) when a connection joins the pool (attach listeners for frames that come
 * back on it); `'evict'` (t, reason) when one leaves for a reason other than `close()` (see
 * EvictReason); `'connectError'` (err) for each failed connection attempt (retried in the background,
 * never `'error'`); `'sendError'` (err, frame) for a queued frame the first connection refused;
 * `'drop'` (frame, 'closed') for each frame still queued at close(); `'drain'` after `send()`
 * returned false; `'close'` once `close()` is done.
 */
export class Pool extends EventEmitter {
  #config: PoolConfig;
  #conns = new Set<Conn>();
  // Idle connections, the most recently released last: it is handed out first, so the others age out.
  #idle: Conn[] = [];
  #borrowed = new Map<Transport, Conn>();
  // Borrowed connections that closed before their release: release() still takes them, once.
  #closedBorrowed = new WeakSet<Transport>();
  #waiters: Waiter[] = [];
  #checking = 0;
  #pending = 0;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  // Connections on their way out (closing gracefully or destroyed), until their handles are closed.
  #closing = new Map<Transport, Promise<void>>();
  #queue: (Uint8Array | string)[] = [];
  #queuedBytes = 0;
  #needDrain = false;
  #drains: { resolve: () => void; reject: (err: Error) => void }[] = [];
  // Connections drain() waits on (src/transport.ts whenWritten), each once.
  #awaitingWrites = new Set<Transport>();
  #refed = true;
  #closed = false;
  #closePromise: Promise<void> | null = null;
  #onChange: (() => void) | null = null;
  #onAbort: (() => void) | null = null;

  #opened = 0;
  #created = 0;
  #destroyed = 0;
  #acquires = 0;
  #reused = 0;

  /** @internal */
  constructor(config: PoolConfig) {
    super();
    this.#config = config;
    const signal = config.signal;
    if (signal !== undefined) {
      this.#onAbort = () => void this.close();
      if (signal.aborted) queueMicrotask(this.#onAbort);
      else signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    this.#fill();
  }

  get stats(): PoolStats {
    const idle = this.#idle.length;
    return {
      size: this.#conns.size,
      idle,
      inUse: this.#conns.size - idle,
      waiting: this.#waiters.length + this.#checking,
      created: this.#created,
      destroyed: this.#destroyed,
      reuseRatio: this.#acquires === 0 ? 0 : this.#reused / this.#acquires,
    };
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  // --- borrowing ---------------------------------------------------------------------------------

  /**
   * Borrows a connection for the caller's sole use until `release()`. Waiters are served first come,
   * first served. Rejects ERR_IPC_POOL_EXHAUSTED at once when `maxWaiting` calls already wait,
   * ERR_IPC_ACQUIRE_TIMEOUT after `acquireTimeout`, ERR_IPC_CLOSED when the pool is or gets closed.
   * A connection is never handed out once it has closed, failed `validate` or been found unhealthy.
   */
  acquire(): Promise<Transport> {
    if (this.#closed) return Promise.reject(this.#closedError('acquire()'));
    const { maxWaiting } = this.#config;
    if (this.#idle.length === 0 && this.#waiters.length >= maxWaiting) {
      return Promise.reject(
        ipcError(ErrorCodes.POOL_EXHAUSTED, `acquire(): ${this.#waiters.length} calls already wait for a connection (maxWaiting ${maxWaiting})`, {
          waiting: this.#waiters.length,
          maxWaiting,
        }),
      );
    }
    return new Promise<Transport>((resolve, reject) => {
      const w: Waiter = { resolve, reject, serial: this.#opened, settled: false, timer: null };
      this.#waiters.push(w);
      this.#dispatch();
      const limit = this.#config.acquireTimeout;
      if (!w.settled && limit > 0) {
        w.timer = setTimeout(() => this.#timeOut(w), limit);
        // A pending acquire keeps the process alive (it must settle), unless the pool was unref'd.
        if (!this.#refed) w.timer.unref();
      }
    });
  }

  /**
   * Gives a borrowed connection back. Throws ERR_INVALID_ARG_VALUE for a transport not borrowed from
   * this pool, or released already. A connection that closed, turned unhealthy or outlived
   * `maxLifetime` while borrowed is not put back; one released after close() is closed.
   */
  release(t: Transport): void {
    if (t === null || typeof t !== 'object') throw argTypeError('t', 'a Transport', t);
    const conn = this.#borrowed.get(t);
    if (conn === undefined) {
      if (this.#closedBorrowed.delete(t)) return;
      throw argValueError('release() got a transport that is not borrowed from this pool (never acquired here, or released already)');
    }
    this.#borrowed.delete(t);
    this.#checkIn(conn);
  }

  /** Acquires a connection, runs `fn` with it and releases it, even when `fn` throws; returns what `fn` returns. */
  use<T>(fn: (t: Transport) => T | Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw argTypeError('fn', 'a function', fn);
    return this.acquire().then(async (t) => {
      try {
        return await fn(t);
      } finally {
        // fn may have released it itself; that is no reason to hide its result or error.
        if (this.#borrowed.has(t) || this.#closedBorrowed.has(t)) this.release(t);
      }
    });
  }

  #dispatch(): void {
    while (this.#waiters.length > 0 && this.#idle.length > 0) {
      const conn = this.#idle.pop()!;
      this.#clearIdleTimer(conn);
      if (conn.t.state !== 'open' || conn.unhealthy || conn.retire) {
        this.#remove(conn, conn.unhealthy ? 'unhealthy' : conn.retire ? 'maxLifetime' : 'closed');
        continue;
      }
      const w = this.#waiters.shift()!;
      const validate = this.#config.validate;
      if (validate === undefined) {
        this.#give(w, conn);
        continue;
      }
      conn.state = 'checking';
      this.#checking++;
      let verdict: boolean | Promise<boolean>;
      try {
        verdict = validate(conn.t);
      } catch {
        verdict = false;
      }
      if (verdict !== null && typeof verdict === 'object' && typeof (verdict as Promise<boolean>).then === 'function') {
        Promise.resolve(verdict).then(
          (ok) => this.#validated(w, conn, ok === true),
          () => this.#validated(w, conn, false),
        );
      } else this.#validated(w, conn, verdict === true);
    }
    this.#fill();
  }

  #validated(w: Waiter, conn: Conn, ok: boolean): void {
    // A waiter that timed out meanwhile stopped counting as waiting then.
    if (!w.settled) this.#checking--;
    // close() rejected the waiters in the queue, not this one: it was out of it while validate ran.
    if (this.#closed && !w.settled) {
      w.settled = true;
      if (w.timer !== null) clearTimeout(w.timer);
      w.reject(this.#closedError('acquire()'));
    }
    if (!ok || conn.removed || conn.unhealthy || conn.t.state !== 'open') {
      if (!conn.removed) this.#remove(conn, !ok ? 'invalid' : conn.unhealthy ? 'unhealthy' : 'closed');
      // Its turn is not lost: it goes back to the head of the queue.
      if (!w.settled) this.#waiters.unshift(w);
    } else if (w.settled) {
      this.#checkIn(conn);
      return;
    } else {
      this.#give(w, conn);
    }
    this.#dispatch();
  }

  #give(w: Waiter, conn: Conn): void {
    w.settled = true;
    if (w.timer !== null) clearTimeout(w.timer);
    conn.state = 'borrowed';
    this.#borrowed.set(conn.t, conn);
    this.#acquires++;
    if (conn.serial <= w.serial) this.#reused++;
    w.resolve(conn.t);
  }

  #timeOut(w: Waiter): void {
    if (w.settled) return;
    w.settled = true;
    const i = this.#waiters.indexOf(w);
    if (i !== -1) this.#waiters.splice(i, 1);
    // Not in the queue: its connection is being validated.
    else this.#checking--;
    const { acquireTimeout, max } = this.#config;
    w.reject(
      ipcError(ErrorCodes.ACQUIRE_TIMEOUT, `acquire() timed out after ${acquireTimeout} ms (${this.#conns.size - this.#idle.length} of max ${max} connections in use)`, {
        acquireTimeout,
      }),
    );
    this.#notify();
  }

  /** A connection comes back from a borrow or a validation: idle again, or out. */
  #checkIn(conn: Conn): void {
    if (conn.removed) return;
    if (this.#closed) return this.#remove(conn, null);
    if (conn.t.state !== 'open') return this.#remove(conn, 'closed');
    if (conn.unhealthy) return this.#remove(conn, 'unhealthy');
    if (conn.retire) return this.#remove(conn, 'maxLifetime');
    conn.state = 'idle';
    this.#idle.push(conn);
    const { idleTimeout } = this.#config;
    if (idleTimeout > 0) {
      conn.idleTimer = setTimeout(() => {
        conn.idleTimer = null;
        if (conn.state === 'idle' && !conn.removed && this.#conns.size > this.#config.min) this.#remove(conn, 'idleTimeout');
      }, idleTimeout);
      conn.idleTimer.unref();
    }
    this.#dispatch();
  }

  #clearIdleTimer(conn: Conn): void {
    if (conn.idleTimer !== null) {
      clearTimeout(conn.idleTimer);
      conn.idleTimer = null;
    }
  }

  // --- opening and losing connections ------------------------------------------------------------

  /** Opens connections until `min` are open and every waiter has one coming, within `max`. */
  #fill(): void {
    if (this.#closed || this.#retryTimer !== null) return;
    const { min, max } = this.#config;
    const size = this.#conns.size;
    const inUse = size - this.#idle.length;
    // Frames in the pool queue need a connection too, even with min 0: the open ones cannot take them
    // (send() queues only when none is open and healthy).
    const want = Math.min(max, Math.max(min, inUse + this.#waiters.length, this.#queue.length > 0 ? size + 1 : 0));
    for (let n = want - size - this.#pending; n > 0; n--) this.#open();
  }

  #open(): void {
    this.#pending++;
    let attempt: Promise<Transport>;
    try {
      attempt = Promise.resolve(this.#config.factory());
    } catch (err) {
      attempt = Promise.reject(err);
    }
    attempt.then(
      (t) => this.#onOpen(t),
      (err) => this.#onConnectFailed(err),
    );
  }

  #onOpen(t: Transport): void {
    if (t === null || typeof t !== 'object' || typeof t.send !== 'function' || typeof t.on !== 'function') {
      this.#onConnectFailed(argTypeError('the value the pool factory resolved with', 'a Transport', t));
      return;
    }
    const { maxLifetime, health } = this.#config;
    let m: HealthMonitor | null = null;
    if (health !== null && !this.#closed) {
      try {
        m = monitor(t, health);
      } catch (err) {
        // Counted as a failed attempt, so a monitor that cannot start does not spin a reconnect loop.
        t.destroy();
        void t.close();
        this.#onConnectFailed(err);
        return;
      }
    }
    this.#pending--;
    this.#failures = 0;
    this.#created++;
    const conn: Conn = {
      t,
      serial: ++this.#opened,
      state: 'idle',
      removed: false,
      sawError: false,
      retire: false,
      unhealthy: false,
      idleTimer: null,
      lifeTimer: null,
      monitor: m,
    };
    this.#conns.add(conn);
    if (!this.#refed) t.unref();
    // The pool's 'error' listener stays for the transport's whole life: an error must never throw
    // for want of a listener, and the 'close' that follows is what evicts it.
    t.on('error', () => {
      conn.sawError = true;
    });
    t.once('close', () => {
      if (conn.removed) return;
      // Its replacement waits as after a failed attempt: a server that accepts and closes at once would
      // otherwise be dialed again in a tight loop. The wait stands in for the connection, which kept the
      // process alive unless the pool was unref'd.
      if (!this.#closed) {
        this.#retryLater();
        if (this.#refed) this.#retryTimer?.ref();
      }
      this.#remove(conn, conn.sawError ? 'error' : 'closed');
    });
    t.on('drain', () => this.#maybeDrain());
    if (this.#closed) {
      this.#remove(conn, null);
      return;
    }
    debug('pool opened %s (%d open)', t.endpoint, this.#conns.size);
    if (maxLifetime > 0) {
      conn.lifeTimer = setTimeout(() => {
        conn.lifeTimer = null;
        conn.retire = true;
        if (conn.state === 'idle' && !conn.removed) this.#remove(conn, 'maxLifetime');
      }, maxLifetime);
      conn.lifeTimer.unref();
    }
    if (m !== null) {
      m.on('unhealthy', () => {
        if (conn.removed) return;
        conn.unhealthy = true;
        // A borrowed one stays with its borrower (send() skips it) and leaves at release.
        if (conn.state === 'idle') this.#remove(conn, 'unhealthy');
      });
      m.on('healthy', () => {
        conn.unhealthy = false;
        this.#flushQueue();
      });
    }
    this.#flushQueue();
    this.#checkIn(conn);
    // Last, with the pool's books in order: a listener that throws cannot leave them half done.
    this.emit('connection', t);
  }

  #onConnectFailed(err: unknown): void {
    this.#pending--;
    if (this.#closed) {
      this.#notify();
      return;
    }
    debug('pool connect failed (%s)', (err as Error)?.message);
    this.#retryLater();
    this.emit('connectError', err);
  }

  /** Holds #fill() back for the backoff delay. */
  #retryLater(): void {
    this.#failures++;
    const delay = Math.min(RETRY_FIRST * 2 ** Math.min(this.#failures - 1, 16), RETRY_MAX);
    if (this.#retryTimer === null) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = null;
        this.#fill();
      }, delay);
      this.#retryTimer.unref();
    }
  }

  /**
   * Takes a connection off the pool's books (once). `reason` null: the pool's own close(). The
   * transport is closed gracefully when it is worth waiting for, destroyed when its peer is suspect.
   */
  #remove(conn: Conn, reason: EvictReason | null): void {
    if (conn.removed) return;
    conn.removed = true;
    this.#conns.delete(conn);
    this.#destroyed++;
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    const borrowed = this.#borrowed.delete(conn.t);
    if (borrowed) this.#closedBorrowed.add(conn.t);
    this.#clearIdleTimer(conn);
    if (conn.lifeTimer !== null) clearTimeout(conn.lifeTimer);
    conn.monitor?.stop();
    const t = conn.t;
    // A borrowed connection stays with its borrower; only one that broke is taken off the books early,
    // and its close() (already under way) is what the pool waits for.
    if (!borrowed || reason === 'closed' || reason === 'error') {
      if (reason === 'invalid' || reason === 'unhealthy') t.destroy();
      const done = t.close().then(() => {
        this.#closing.delete(t);
        this.#notify();
      });
      this.#closing.set(t, done);
    }
    debug('pool %s %s (%d open)', reason ?? 'closing', t.endpoint, this.#conns.size);
    if (reason !== null) this.emit('evict', t, reason);
    this.#notify();
    this.#dispatch();
    // A connection that said false to send() and is gone will never emit its 'drain': a writer waiting
    // for the pool's would wait forever.
    if (!this.#closed) this.#maybeDrain();
  }

  // --- shared sending ----------------------------------------------------------------------------

  /**
   * Sends one frame on the open, healthy connection with the fewest buffered bytes, borrowed or not,
   * and returns that connection's `send()` result (false: wait for the pool's `'drain'`); throws what
   * it throws.
   *
   * While no connection is open, frames wait in order in a pool queue and go to the first connection
   * that opens. The queue holds at most `writableHighWaterMark` bytes (the connect option: 256 KiB by
   * default, and always with a factory): send() returns false once it is full, and throws
   * ERR_IPC_QUEUE_FULL for a frame that does not fit (a frame larger than the whole limit is taken
   * while the queue is empty). A queued frame the connection then refuses (`maxFrameSize`, lines rules
   * checked only once the connection is known) is a `'sendError'` event. Frames still queued at
   * close() are dropped. Throws ERR_IPC_CLOSED once the pool is closed.
   */
  send(frame: Uint8Array | string): boolean {
    if (this.#closed) throw this.#closedError('send()');
    if (typeof frame !== 'string' && !(frame instanceof Uint8Array)) throw argTypeError('frame', 'a Buffer, Uint8Array or string', frame);
    const best = this.#sendTarget();
    if (best !== null) {
      const ok = best.send(frame);
      if (!ok) this.#needDrain = true;
      return ok;
    }
    const len = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
    const { maxFrameSize, queueLimit } = this.#config;
    if (maxFrameSize !== null && len > maxFrameSize) {
      throw ipcError(ErrorCodes.FRAME_TOO_LARGE, `Frame of ${len} bytes is larger than maxFrameSize (${maxFrameSize})`, { size: len, maxFrameSize });
    }
    if (this.#queue.length > 0 && this.#queuedBytes + len > queueLimit) {
      throw ipcError(
        ErrorCodes.QUEUE_FULL,
        `The pool has no open connection and ${this.#queuedBytes} bytes already queued; a frame of ${len} bytes would pass its limit (${queueLimit})`,
        { queuedBytes: this.#queuedBytes, limit: queueLimit },
      );
    }
    this.#queue.push(frame);
    this.#queuedBytes += len;
    this.#fill();
    if (this.#queuedBytes >= queueLimit) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  #sendTarget(): Transport | null {
    let best: Transport | null = null;
    let least = Infinity;
    for (const conn of this.#conns) {
      if (conn.unhealthy || conn.t.state !== 'open') continue;
      const buffered = conn.t.writableLength;
      if (buffered < least) {
        least = buffered;
        best = conn.t;
      }
    }
    return best;
  }

  #flushQueue(): void {
    if (this.#queue.length === 0) return;
    const t = this.#sendTarget();
    if (t === null) return;
    const frames = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    let ok = true;
    for (const frame of frames) {
      try {
        ok = t.send(frame);
      } catch (err) {
        this.emit('sendError', err, frame);
      }
    }
    if (ok) this.#maybeDrain();
    this.#checkDrains();
  }

  #maybeDrain(): void {
    if (!this.#needDrain || this.#queuedBytes >= this.#config.queueLimit) return;
    this.#needDrain = false;
    this.emit('drain');
  }

  /**
   * Resolves once the pool queue is empty and every connection, including those closing, has handed
   * all its frames to the OS (`stats.bufferedBytes` 0). Rejects ERR_IPC_CLOSED if close() drops queued
   * frames first.
   */
  drain(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#drains.push({ resolve, reject });
      this.#checkDrains();
    });
  }

  /**
   * Settles drain() once nothing waits anywhere; otherwise waits for the connections that still have
   * bytes to write (an event from each, not a poll). A pool queue that waits for a connection is
   * looked at again when it is flushed.
   */
  #checkDrains(): void {
    if (this.#drains.length === 0) return;
    let drained = this.#queue.length === 0;
    const wait = (t: Transport): void => {
      // A closed connection writes nothing more, whatever it had left.
      if (t.writableLength === 0 || t.state === 'closed') return;
      drained = false;
      if (this.#awaitingWrites.has(t)) return;
      this.#awaitingWrites.add(t);
      t[kLink].whenWritten(() => {
        this.#awaitingWrites.delete(t);
        this.#checkDrains();
      });
    };
    for (const conn of this.#conns) wait(conn.t);
    for (const t of this.#closing.keys()) wait(t);
    if (drained) for (const d of this.#drains.splice(0)) d.resolve();
  }

  // --- lifetime ----------------------------------------------------------------------------------

  /**
   * Closes the pool. Idempotent. Pending acquires reject ERR_IPC_CLOSED, frames still in the pool queue
   * are dropped, idle connections are closed at once (gracefully: frames already sent are delivered)
   * and borrowed ones when they are released (or close by themselves). Resolves, never rejects, once
   * every connection, including attempts still in flight, is closed; a borrowed connection that is
   * never released keeps it waiting.
   */
  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    if (this.#onAbort !== null) this.#config.signal?.removeEventListener('abort', this.#onAbort);
    if (this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      w.settled = true;
      if (w.timer !== null) clearTimeout(w.timer);
      w.reject(this.#closedError('acquire()'));
    }
    if (this.#queue.length > 0) {
      const frames = this.#queue;
      const dropped = frames.length;
      this.#queue = [];
      this.#queuedBytes = 0;
      // Frames send() took and no connection ever got: each one is reported, never dropped in silence.
      for (const frame of frames) this.emit('drop', typeof frame === 'string' ? Buffer.from(frame) : frame, 'closed');
      for (const d of this.#drains.splice(0)) {
        d.reject(ipcError(ErrorCodes.CLOSED, `The pool was closed with ${dropped} frame(s) queued and no connection to send them`, { unsent: dropped }));
      }
    }
    for (const conn of [...this.#idle]) this.#remove(conn, null);
    while (this.#conns.size > 0 || this.#pending > 0 || this.#closing.size > 0) {
      await new Promise<void>((resolve) => (this.#onChange = resolve));
    }
    debug('pool closed');
    this.emit('close');
  }

  #notify(): void {
    const fn = this.#onChange;
    this.#onChange = null;
    fn?.();
  }

  #closedError(what: string): Error {
    return ipcError(ErrorCodes.CLOSED, `${what} on a closed pool`);
  }

  /** Lets the process exit while the pool's connections are open, and while acquire() calls wait. */
  unref(): this {
    this.#refed = false;
    this.#retryTimer?.unref();
    for (const conn of this.#conns) conn.t.unref();
    for (const w of this.#waiters) w.timer?.unref();
    return this;
  }

  ref(): this {
    this.#refed = true;
    for (const conn of this.#conns) conn.t.ref();
    for (const w of this.#waiters) w.timer?.ref();
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * A pool of connections to `endpoint` (connect() options among `options` are passed to connect()), or
 * of transports made by `factory`. `min` connections are opened at once; options are checked at the
 * call (TypeError/RangeError). Failed connection attempts are retried in the background with a
 * backoff from 100 ms to 5 s and reported as `'connectError'`; acquire() calls keep waiting meanwhile.
 * The pool's own timers never keep the process alive (its open connections do, as any transport, and
 * so does the wait to replace one that closed; pool.unref() releases them too).
 */
export function createPool(endpointOrFactory: Endpoint | (() => Promise<Transport>), options?: PoolOptions): Pool {
  return new Pool(poolConfig(endpointOrFactory, options));
}

function poolConfig(target: unknown, raw: unknown): PoolConfig {
  if (raw !== undefined && (raw === null || typeof raw !== 'object')) throw argTypeError('options', 'an object', raw);
  const o = (raw ?? {}) as Record<string, unknown>;
  const isFactory = typeof target === 'function';
  // Every key that is not the pool's own goes to connect(), which checks it (unknown keys included).
  const connectOpts: Record<string, unknown> = {};
  for (const key of Object.keys(o)) {
    if (POOL_KEYS.includes(key)) continue;
    if (isFactory) throw argValueError(`Unknown option '${key}' for createPool() with a factory (connect() options need an endpoint)`);
    connectOpts[key] = o[key];
  }
  const health = healthOptions(o.health);
  let factory: Factory;
  let queueLimit: number = DEFAULTS.writableHighWaterMark;
  let maxFrameSize: number | null = null;
  let signal: AbortSignal | undefined;
  if (isFactory) factory = target as Factory;
  else {
    const endpoint = target as Endpoint;
    resolveEndpoint(endpoint);
    const config = connectConfig(connectOpts);
    // Known now, rather than as a monitor() failure on every connection the pool opens.
    if (health !== null && health.probe === undefined && connectOpts.heartbeat !== true) {
      throw argValueError('options.health without a probe needs heartbeat: true (the default probe is a ping)');
    }
    queueLimit = config.writableHighWaterMark;
    maxFrameSize = config.maxFrameSize;
    signal = config.signal;
    factory = () => connect(endpoint, connectOpts);
  }

  const min = int(o, 'min', 0, 1_000_000, POOL_DEFAULTS.min);
  const max = int(o, 'max', 1, 1_000_000, POOL_DEFAULTS.max);
  if (min > max) throw outOfRangeError('options.min', `<= options.max (${max})`, min);
  let maxWaiting: number = POOL_DEFAULTS.maxWaiting;
  if (o.maxWaiting !== undefined && o.maxWaiting !== Infinity) maxWaiting = int(o, 'maxWaiting', 0, Number.MAX_SAFE_INTEGER, 0);
  const validate = o.validate;
  if (validate !== undefined && typeof validate !== 'function') throw argTypeError('options.validate', 'a function', validate);
  return {
    factory,
    min,
    max,
    idleTimeout: int(o, 'idleTimeout', 0, MAX_DELAY, POOL_DEFAULTS.idleTimeout),
    maxLifetime: int(o, 'maxLifetime', 0, MAX_DELAY, POOL_DEFAULTS.maxLifetime),
    acquireTimeout: int(o, 'acquireTimeout', 0, MAX_DELAY, POOL_DEFAULTS.acquireTimeout),
    maxWaiting,
    validate: validate as PoolConfig['validate'],
    health,
    queueLimit,
    maxFrameSize,
    signal,
  };
}

