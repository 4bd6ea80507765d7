// Placeholder: monitor() is being written (issue 4). The types below are the agreed interface.
import { EventEmitter } from 'node:events';
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

export class HealthMonitor extends EventEmitter {
  get healthy(): boolean {
    return true;
  }
  get stats(): HealthStats {
    return { healthy: true, probes: 0, failures: 0, consecutiveFailures: 0, rtt: null };
  }
  stop(): void {}
}

export function monitor(_t: MessageTransport, _options?: HealthOptions): HealthMonitor {
  throw new Error('monitor() is not written yet');
}
