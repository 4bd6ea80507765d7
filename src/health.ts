// Health monitoring: is the peer still answering? Any frame received since the last check says it is;
// only a transport that was silent for a whole interval gets an active probe, so a busy connection
// carries no probe traffic at all.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { int } from './config';
import { ErrorCodes, argTypeError, argValueError, ipcError } from './errors';
import type { MessageTransport } from './transport';

export interface HealthOptions {
  /** Milliseconds between probes of an idle transport. Default 5000. */
  interval?: number;
  /** Milliseconds a probe may take. Default 1000. */
  timeout?: number;
  /** Failed probes in a row that make the transport unhealthy. Default 3. */
  failures?: number;
  /** The probe: resolves when the peer answered. Default: a ping/pong control frame (needs `heartbeat: true`). */
  probe?: (t: MessageTransport) => Promise<unknown>;
}

export interface HealthStats {
  healthy: boolean;
  probes: number;
  failures: number;
  consecutiveFailures: number;
  /** Probe round trips in ms; null before the first answered probe. */
  rtt: { last: number; mean: number; p50: number; p99: number } | null;
}

/** Validated health options: every number filled in, the probe only when the user gave one. */
export type HealthConfig = Required<Omit<HealthOptions, 'probe'>> & { probe?: HealthOptions['probe'] };

export const HEALTH_DEFAULTS = Object.freeze({ interval: 5000, timeout: 1000, failures: 3 });

// Round trips kept for the percentiles: enough for a stable p99, small enough to sort on each read.
const RTT_WINDOW = 1000;
const HEALTH_KEYS = ['interval', 'timeout', 'failures', 'probe'];
const MAX_TIMER = 2 ** 31 - 1;


function parse(raw: unknown, prefix: string): HealthConfig {
  if (raw === undefined) return { ...HEALTH_DEFAULTS };
  if (raw === null || typeof raw !== 'object') throw argTypeError(prefix, 'an object', raw);
  const o = raw as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!HEALTH_KEYS.includes(key)) throw argValueError(`Unknown option '${key}' for health monitoring`);
  }
  const probe = o.probe;
  if (probe !== undefined && typeof probe !== 'function') throw argTypeError(`${prefix}.probe`, 'a function', probe);
  const config: HealthConfig = {
    interval: int(o, 'interval', 1, MAX_TIMER, HEALTH_DEFAULTS.interval, prefix),
    timeout: int(o, 'timeout', 1, MAX_TIMER, HEALTH_DEFAULTS.timeout, prefix),
    failures: int(o, 'failures', 1, MAX_TIMER, HEALTH_DEFAULTS.failures, prefix),
  };
  if (probe !== undefined) config.probe = probe as HealthConfig['probe'];
  return config;
}

/**
 * @internal For the pool and the reconnecting transport: their `health` option. `true` means the
 * defaults, an object is validated as `monitor()` does, `undefined` or `false` means no monitoring (null).
 */
export function healthOptions(raw: unknown, name = 'options.health'): HealthConfig | null {
  if (raw === undefined || raw === false) return null;
  if (raw === true) return { ...HEALTH_DEFAULTS };
  if (raw === null || typeof raw !== 'object') throw argTypeError(name, 'a boolean or an object', raw);
  return parse(raw, name);
}

/** One probe in flight; compared by identity, so a probe that settles after a timeout or stop() is ignored. */
interface Attempt {
  started: number;
  timer: NodeJS.Timeout;
}

/**
 * Watches one transport (made by `monitor()`). Emits `'unhealthy'` (a TransportError with code
 * ERR_IPC_UNHEALTHY, `cause` the last failure) once `failures` probes in a row failed, and `'healthy'`
 * when an unhealthy transport answers again. Its timers never keep the process alive.
 */
export class HealthMonitor extends EventEmitter {
  #t: MessageTransport;
  #config: HealthConfig;
  #probe: (t: MessageTransport) => Promise<unknown>;
  // ping() measures its own round trip; a user probe is timed here.
  #probeGivesRtt: boolean;
  #timer: NodeJS.Timeout | null = null;
  #attempt: Attempt | null = null;
  #stopped = false;
  #onClose = (): void => this.stop();

  #healthy = true;
  #probes = 0;
  #failures = 0;
  #consecutive = 0;
  // framesIn when last looked at: a change means the peer sent something since.
  #framesIn: number;

  #rtts = new Float64Array(RTT_WINDOW);
  #rttCount = 0;
  #rttNext = 0;
  #rttLast = 0;

  /** @internal Use `monitor()`. */
  constructor(t: MessageTransport, config: HealthConfig) {
    super();
    this.#t = t;
    this.#config = config;
    this.#probe = config.probe ?? ((tr) => tr.ping(config.timeout));
    this.#probeGivesRtt = config.probe === undefined;
    this.#framesIn = t.stats.framesIn;
    if (t.state === 'closed') {
      this.#stopped = true;
      return;
    }
    t.once('close', this.#onClose);
    this.#timer = setInterval(() => this.#tick(), config.interval);
    this.#timer.unref();
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  get stats(): HealthStats {
    return {
      healthy: this.#healthy,
      probes: this.#probes,
      failures: this.#failures,
      consecutiveFailures: this.#consecutive,
      rtt: this.#rttStats(),
    };
  }

  /** Stops probing; a probe in flight is forgotten. Idempotent; called by itself when the transport closes. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#attempt !== null) clearTimeout(this.#attempt.timer);
    this.#attempt = null;
    this.#t.off('close', this.#onClose);
  }

  #tick(): void {
    if (this.#attempt !== null) return;
    const state = this.#t.state;
    if (state === 'closed') {
      this.stop();
      return;
    }
    // A closing transport refuses sends; a probe now would fail for a reason that says nothing of the peer.
    if (state === 'closing') return;
    const framesIn = this.#t.stats.framesIn;
    // Counters only grow on one connection; a reconnecting transport may start them afresh, and a new
    // connection is itself an answer from the peer, so any change counts.
    if (framesIn !== this.#framesIn) {
      this.#framesIn = framesIn;
      this.#succeeded();
      return;
    }
    this.#startProbe();
  }

  #startProbe(): void {
    const timeout = this.#config.timeout;
    const attempt: Attempt = {
      started: performance.now(),
      timer: setTimeout(() => {
        const err = ipcError(ErrorCodes.PING_TIMEOUT, `health probe of ${this.#t.endpoint} did not answer within ${timeout} ms`, {
          address: this.#t.endpoint,
          timeout,
        });
        this.#settle(attempt, false, err);
      }, timeout),
    };
    attempt.timer.unref();
    this.#attempt = attempt;
    this.#probes++;
    let pending: Promise<unknown>;
    try {
      pending = Promise.resolve(this.#probe(this.#t));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (value) => this.#settle(attempt, true, value),
      (err) => this.#settle(attempt, false, err),
    );
  }

  #settle(attempt: Attempt, ok: boolean, result: unknown): void {
    if (this.#attempt !== attempt) return;
    this.#attempt = null;
    clearTimeout(attempt.timer);
    // Frames that came with or before the answer are this probe's business; the next tick looks only
    // at what arrives after it.
    this.#framesIn = this.#t.stats.framesIn;
    if (ok) {
      const rtt = this.#probeGivesRtt && typeof result === 'number' ? result : performance.now() - attempt.started;
      this.#recordRtt(rtt);
      this.#succeeded();
      return;
    }
    // The transport closing under a probe is not the peer failing to answer; 'close' stops the monitor.
    const state = this.#t.state;
    if (state === 'closing' || state === 'closed') return;
    this.#failed(result);
  }

  #succeeded(): void {
    this.#consecutive = 0;
    if (this.#healthy) return;
    this.#healthy = true;
    this.emit('healthy');
  }

  #failed(cause: unknown): void {
    this.#failures++;
    this.#consecutive++;
    if (!this.#healthy || this.#consecutive < this.#config.failures) return;
    this.#healthy = false;
    const n = this.#consecutive;
    const why = cause instanceof Error ? cause.message : String(cause);
    const err = ipcError(ErrorCodes.UNHEALTHY, `${this.#t.endpoint} is unhealthy: ${n} probes in a row failed (last: ${why})`, {
      address: this.#t.endpoint,
      failures: n,
      cause,
    });
    this.emit('unhealthy', err);
  }

  #recordRtt(ms: number): void {
    this.#rttLast = ms;
    this.#rtts[this.#rttNext] = ms;
    this.#rttNext = (this.#rttNext + 1) % RTT_WINDOW;
    if (this.#rttCount < RTT_WINDOW) this.#rttCount++;
  }

  #rttStats(): HealthStats['rtt'] {
    const n = this.#rttCount;
    if (n === 0) return null;
    const sorted = this.#rtts.slice(0, n).sort();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += sorted[i]!;
    // Nearest rank: the smallest sample at or above the given fraction of all samples.
    const rank = (p: number): number => sorted[Math.min(n - 1, Math.ceil(p * n) - 1)]!;
    return { last: this.#rttLast, mean: sum / n, p50: rank(0.5), p99: rank(0.99) };
  }
}

/**
 * Watches `t`: every `interval` ms in which nothing arrived from the peer, sends one probe (the `probe`
 * function, or `t.ping()` on a transport with `heartbeat: true`) that must answer within `timeout` ms.
 * Throws a TypeError for bad options, and when no probe is given and the transport has no heartbeat.
 */
export function monitor(t: MessageTransport, options?: HealthOptions): HealthMonitor {
  const maybe = t as Partial<Record<'on' | 'ping', unknown>> | null;
  if (maybe === null || typeof maybe !== 'object' || typeof maybe.on !== 'function' || typeof maybe.ping !== 'function') {
    throw argTypeError('transport', 'a transport', t);
  }
  const config = parse(options, 'options');
  if (config.probe === undefined && t.heartbeat !== true) {
    throw argValueError(`monitor() needs a probe function or a transport opened with heartbeat: true (${t.endpoint} has no heartbeat)`);
  }
  return new HealthMonitor(t, config);
}
