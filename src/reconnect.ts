// reconnecting(): a transport that stays usable across disconnects. It dials, and when the connection
// drops it dials again after a backoff with full jitter, queueing what is sent meanwhile (the queue
// itself, requeueing and resume live in src/session.ts).
import type { ConnectOptions, QueueOptions } from './config';
import { reconnectConfig } from './config';
import { connectTo } from './connect';
import { debug } from './debug';
import { resolveEndpoint, type Endpoint, type ResolvedEndpoint } from './endpoint';
import { F_HEARTBEAT, F_RESUME, F_RESUMED } from './envelope';
import { ErrorCodes, abortError, argTypeError, argValueError, ipcError } from './errors';
import { healthOptions, monitor, type HealthMonitor, type HealthOptions } from './health';
import { clientHandshake } from './handshake';
import { Session } from './session';
import type { Transport } from './transport';

export interface ReconnectOptions extends ConnectOptions, QueueOptions {
  /** First backoff, in ms. Default 100. */
  initialDelay?: number;
  /** Backoff cap, in ms. Default 30000. */
  maxDelay?: number;
  /** Backoff growth per failed attempt. Default 2. */
  factor?: number;
  /** Failed attempts in a row before giving up with ERR_IPC_RECONNECT_FAILED. Default unlimited. */
  maxAttempts?: number;
  /**
   * Exactly-once, in-order delivery across connection drops (the server must listen with
   * `resume: true`). Default false.
   */
  resume?: boolean;
  /** Probe the connection; an unhealthy one is dropped and dialed again. `true`: a ping every 5 s. */
  health?: HealthOptions | boolean;
}

type Factory = () => Promise<Transport>;
type Config = ReturnType<typeof reconnectConfig>;

/** @internal A supervisor's rules instead of a client's (spawnStdio's `restart`). */
export interface RestartRules {
  /** Fixed delay before each restart, no jitter: one child, nobody to stampede. */
  delay: number;
  /** Restarts allowed over the transport's life. */
  maxRestarts: number;
  /** Whether the connection that just ended should be replaced (a child that failed: yes). */
  shouldRestart(): boolean;
  /** Why the transport ends when it is not restarted (a child that failed), or null (a clean exit). */
  endError(): Error | null;
}

/**
 * The transport `reconnecting()` returns. Events, beside a transport's own (`message`, `drain`,
 * `error`, `close`): `connect` (the first connection), `disconnect` (cause: an Error, or null when the
 * peer ended the connection), `reconnecting` (attempt, delay in ms, cause), `reconnect` (attempt),
 * `drop` (frame, reason) for each frame given to `send()` that will never be sent.
 */
export class ReconnectingTransport extends Session {
  #target: ResolvedEndpoint | Factory;
  #cfg: Config;
  #health: ReturnType<typeof healthOptions>;
  #attempt = 0;
  #timer: NodeJS.Timeout | null = null;
  #monitor: HealthMonitor | null = null;
  #onAbort: (() => void) | null = null;

  /** @internal */
  #rules: RestartRules | null;
  #gaveUp = false;

  /** @internal */
  constructor(target: ResolvedEndpoint | Factory, display: string, cfg: Config, rules: RestartRules | null = null) {
    super(display, cfg, cfg.queue, cfg.resume);
    this.#target = target;
    this.#rules = rules;
    this.#cfg = cfg;
    this.#health = healthOptions(cfg.health);
    if (this.#health !== null && this.#health.probe === undefined && !cfg.envelope) {
      throw argValueError('options.health needs a probe function, or heartbeat: true (or resume: true) on both ends for ping/pong');
    }
    const signal = cfg.signal;
    if (signal !== undefined) {
      this.#onAbort = () => this.destroy(abortError(signal.reason));
      if (signal.aborted) {
        process.nextTick(this.#onAbort);
        return;
      }
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    process.nextTick(() => this.#dial());
  }

  /** The health monitor of the current connection, when the `health` option is on. */
  get health(): HealthMonitor | null {
    return this.#monitor;
  }

  #dial(): void {
    this.#timer = null;
    if (this.state === 'closed' || this.#gaveUp || (this.state === 'closing' && this.queued === 0)) return;
    const started = Date.now();
    const target = this.#target;
    // Closing the transport abandons an attempt in flight: its connect timer, its handshake and the
    // connection itself hold nothing open afterwards.
    const attempt = new AbortController();
    this.#attemptInFlight = attempt;
    const opened = typeof target === 'function' ? callFactory(target) : connectTo(target, { ...this.#cfg, signal: attempt.signal });
    opened
      .then(async (t) => {
        if (attempt.signal.aborted) {
          t.destroy();
          throw attempt.signal.reason;
        }
        attempt.signal.addEventListener('abort', () => t.destroy(), { once: true });
        if (!this.#cfg.envelope) return { t, hello: null };
        const flags = F_HEARTBEAT | (this.resumable ? F_RESUME : 0);
        const left = Math.max(1, this.#cfg.connectTimeout - (Date.now() - started));
        const hello = await clientHandshake(t, this.hello(flags), left, true, this.unrefd);
        return { t, hello };
      })
      .then(
        ({ t, hello }) => {
          this.#attemptInFlight = null;
          if (this.state === 'closed') {
            t.destroy();
            return;
          }
          const first = this.stats.reconnects === 0 && !this.#everConnected;
          const attempt = this.#attempt;
          this.#attempt = 0;
          this.#everConnected = true;
          const fresh = hello !== null && (hello.flags & F_RESUMED) === 0;
          if (this.resumable && fresh && !first) debug('%s: the server did not know our session; it starts anew', this.endpoint);
          this.attach(t, hello, fresh);
          this.#watch(t);
          debug('%s %s', first ? 'connected' : 'reconnected', this.endpoint);
          if (first) this.emit('connect');
          else this.emit('reconnect', attempt + 1);
        },
        (err: Error) => {
          this.#attemptInFlight = null;
          if (this.state === 'closed') return;
          this.#attempt++;
          if (this.#attempt >= this.#cfg.maxAttempts) {
            this.destroy(
              ipcError(ErrorCodes.RECONNECT_FAILED, `Gave up connecting to ${this.endpoint} after ${this.#attempt} attempt(s): ${err.message}`, {
                address: this.endpoint,
                attempts: this.#attempt,
                cause: err,
              }),
            );
            return;
          }
          this.#schedule(err);
        },
      );
  }

  #everConnected = false;
  #attemptInFlight: AbortController | null = null;

  /** The next attempt after a full-jitter backoff: uniform in [0, min(maxDelay, initialDelay * factor^n)]. */
  #schedule(cause: Error | null): void {
    const c = this.#cfg;
    const ceiling = Math.min(c.maxDelay, c.initialDelay * c.factor ** this.#attempt);
    const delay = this.#rules !== null ? this.#rules.delay : Math.floor(Math.random() * ceiling);
    this.emit('reconnecting', this.#attempt + 1, delay, cause);
    // A listener may have closed us: a timer armed now would hold the process for nothing.
    if (this.state === 'closed' || (this.state === 'closing' && this.queued === 0)) return;
    this.#timer = setTimeout(() => this.#dial(), delay);
    if (this.unrefd) this.#timer.unref();
  }

  #watch(t: Transport): void {
    const h = this.#health;
    if (h === null) return;
    const probe = h.probe;
    const m = monitor(t, { interval: h.interval, timeout: h.timeout, failures: h.failures, ...(probe === undefined ? {} : { probe: () => probe(this) }) });
    this.#monitor = m;
    m.on('unhealthy', (err: Error) => {
      debug('%s is unhealthy: dropping the connection', this.endpoint);
      t.destroy(err);
    });
  }

  protected override onDetached(err: Error | null): void {
    this.#monitor?.stop();
    this.#monitor = null;
    this.emit('disconnect', err);
    if (this.peerEnded) return;
    const rules = this.#rules;
    if (rules !== null && (!rules.shouldRestart() || this.stats.reconnects >= rules.maxRestarts)) {
      // The child ended cleanly, or it has been restarted enough: the transport ends with it.
      this.#gaveUp = true;
      debug('%s: not restarting (%s)', this.endpoint, rules.shouldRestart() ? `${rules.maxRestarts} restarts used` : 'clean exit');
      const end = err ?? rules.endError();
      if (end !== null) this.destroy(end);
      else {
        this.dropAll('closed');
        void this.endSession();
      }
      return;
    }
    this.#attempt = 0;
    this.#schedule(err);
  }

  protected override onQueueChanged(): void {
    if (this.#timer === null) return;
    if (this.unrefd) this.#timer.unref();
    else this.#timer.ref();
  }

  protected override onClosing(): void {
    if (this.#onAbort !== null) this.#cfg.signal?.removeEventListener('abort', this.#onAbort);
    // close() with frames queued and no connection keeps dialing until closeTimeout; otherwise stop.
    if (this.queued === 0 || this.state === 'closed') this.#stop();
  }

  protected override onClosed(): void {
    this.#attemptInFlight?.abort();
    this.#attemptInFlight = null;
    this.#stop();
    this.#monitor?.stop();
    this.#monitor = null;
  }

  #stop(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}

function callFactory(factory: Factory): Promise<Transport> {
  try {
    return Promise.resolve(factory()).then((t) => {
      if (t === null || typeof t !== 'object' || typeof (t as Transport).send !== 'function') {
        throw argTypeError('the factory result', 'a Transport', t);
      }
      return t;
    });
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * A transport that reconnects. `target` is an endpoint, or a function that opens a connection (for
 * example `() => connect(ep, options)`, or a spawnStdio call). Returns at once; the first connection
 * is made in the background, and frames sent before it are queued.
 *
 * Without `resume`, frames still in our write queue when a connection drops are sent again on the
 * next one; frames already handed to the OS may be lost with the connection. With `resume` (set on
 * both ends), every frame is delivered exactly once and in order across any number of drops, while
 * the server process lives.
 */
export function reconnecting(target: Endpoint | Factory, options?: ReconnectOptions): ReconnectingTransport {
  const cfg = reconnectConfig(options);
  if (typeof target === 'function') return new ReconnectingTransport(target as Factory, 'reconnecting(factory)', cfg);
  const ep = resolveEndpoint(target);
  return new ReconnectingTransport(ep, ep.display, cfg);
}
