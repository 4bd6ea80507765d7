// The pings a transport has sent and not yet seen answered (`transport.ping()`, heartbeat). The
// transport frames and sends the ping and hands each pong's id here; this file owns the ids, the
// timeouts and the promises.
import { ErrorCodes, ipcError } from './errors';

interface Pending {
  sentAt: number;
  timer: NodeJS.Timeout;
  resolve: (rtt: number) => void;
  reject: (err: Error) => void;
}

export class Pings {
  readonly #pending = new Map<number, Pending>();
  #lastId = 0;

  /** A new ping id and the promise of its round trip in ms; rejects ERR_IPC_PING_TIMEOUT after `timeout`. */
  start(timeout: number, endpoint: string): [number, Promise<number>] {
    const id = (this.#lastId = (this.#lastId + 1) >>> 0);
    const promise = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(ipcError(ErrorCodes.PING_TIMEOUT, `${endpoint} did not answer a ping within ${timeout} ms`, { address: endpoint, timeout }));
      }, timeout);
      timer.unref();
      this.#pending.set(id, { sentAt: performance.now(), timer, resolve, reject });
    });
    return [id, promise];
  }

  /** The pong for `id` came back; an id we did not send (or that timed out) is ignored. */
  answered(id: number): void {
    const ping = this.#pending.get(id);
    if (ping === undefined) return;
    this.#pending.delete(id);
    clearTimeout(ping.timer);
    ping.resolve(performance.now() - ping.sentAt);
  }

  /** The transport closed: every ping still waiting rejects ERR_IPC_CLOSED. */
  closed(endpoint: string): void {
    for (const ping of this.#pending.values()) {
      clearTimeout(ping.timer);
      ping.reject(ipcError(ErrorCodes.CLOSED, `${endpoint} closed before answering a ping`, { address: endpoint }));
    }
    this.#pending.clear();
  }
}
