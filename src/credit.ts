// Credit-based flow control, the way HTTP/2 and QUIC do it (SETTINGS_INITIAL_WINDOW_SIZE and
// WINDOW_UPDATE / MAX_STREAM_DATA). A receiver never stops reading its connection: acknowledgements,
// pings and credit must always get through, or two peers that each wait for the other's
// acknowledgement before consuming more deadlock. What bounds the receiver's memory instead is a
// window: it tells the sender how much data it may send, and hands credit back only as its consumer
// takes frames. A sender out of credit keeps frames in its own queue, and `send()` returns false.
//
// The two halves here are arithmetic only, with no I/O, so every carrier that needs credit (a resumable
// session over a socket; a broker, which has no back-pressure of its own) uses the same rules:
//
// - Credit is counted per connection from 0, as an absolute limit ('W' limit:u64, src/envelope.ts):
//   an update that arrives late or twice changes nothing, and nothing needs resetting mid-connection.
// - A frame costs its payload bytes plus FRAME_OVERHEAD, so a flood of empty frames is bounded too (a
//   held frame is a Buffer object, not only its bytes).
// - A sender may start a frame while what it sent on the connection is below the limit; the frame may
//   end past it. Frames are never split, so a frame larger than the window still goes through, and the
//   receiver holds at most the window plus one frame. A frame started at or past the limit is the peer
//   breaking the protocol (ERR_IPC_FLOW_CONTROL): its connection is closed, nothing is buffered for it.

/** What each frame costs beyond its payload bytes. */
export const FRAME_OVERHEAD = 64;

// Default receive window of a resumable session, in bytes. Chosen from `npm run bench` (resilience):
// one-way 64 B frames under resume ran at 0.24x of a bare transport with 1 MiB, 0.42x with 2 MiB, 0.5x with
// 4 MiB, 0.57x with 8 MiB and 0.56-0.62x with 16 MiB, against 0.62x before credit existed.
export const DEFAULT_RECEIVE_WINDOW = 8 * 1024 * 1024;

/** The cost of a frame of `len` payload bytes against a window. */
export function frameCost(len: number): number {
  return len + FRAME_OVERHEAD;
}

/** The sending half: how much the peer lets us send on the current connection. */
export class SendCredit {
  #limit = 0;
  #sent = 0;
  /** performance.now() when a frame first waited for credit since the last grant; 0 when none waits. */
  #stalledSince = 0;

  /** A new connection: the peer's hello granted `limit`. */
  reset(limit: number): void {
    this.#limit = limit;
    this.#sent = 0;
    this.#stalledSince = 0;
  }

  /** May a frame be started now? */
  get open(): boolean {
    return this.#sent < this.#limit;
  }

  /** Credit left, in bytes of cost (0 when out of credit; the last frame may have overshot it). */
  get available(): number {
    return Math.max(0, this.#limit - this.#sent);
  }

  /** Frames costing `cost` in all (frameCost()) were sent. */
  charge(cost: number): void {
    this.#sent += cost;
  }

  /** A frame is waiting for credit. */
  stall(now: number): void {
    if (this.#stalledSince === 0) this.#stalledSince = now;
  }

  /** Milliseconds a frame has waited for credit (0 when none waits). */
  stalledFor(now: number): number {
    return this.#stalledSince === 0 ? 0 : now - this.#stalledSince;
  }

  /** A 'W' frame: true when it raised the limit (older or repeated updates are ignored). */
  grant(limit: number): boolean {
    if (limit <= this.#limit) return false;
    this.#limit = limit;
    this.#stalledSince = 0;
    return true;
  }
}

/** The receiving half: what we granted on the current connection and what our consumer holds. */
export class ReceiveCredit {
  readonly window: number;
  #limit = 0;
  #received = 0;
  #held = 0;

  constructor(window: number) {
    this.window = window;
  }

  /** Cost of the frames received and not yet taken by the consumer (carried across connections). */
  get held(): number {
    return this.#held;
  }

  /** The grant for a new connection (the hello's `window`): the window, less what is still held. */
  initial(): number {
    return Math.max(0, this.window - this.#held);
  }

  /** A new connection, on which we granted `limit`. */
  start(limit: number): void {
    this.#limit = limit;
    this.#received = 0;
  }

  /** A data frame of `len` bytes arrived: false when the peer started it with no credit left. */
  receive(len: number): boolean {
    if (this.#received >= this.#limit) return false;
    this.#received += len + FRAME_OVERHEAD;
    return true;
  }

  /** A received frame waits for the consumer. */
  hold(len: number): void {
    this.#held += len + FRAME_OVERHEAD;
  }

  /** The consumer took a held frame (or it was let go). */
  release(len: number): void {
    this.#held -= len + FRAME_OVERHEAD;
  }

  /**
   * The new limit to announce, or -1 when it is not worth a frame yet: an update goes out once it
   * raises the limit by a quarter of the window, so a consumer that keeps up sends one 'W' per quarter
   * window of data, and one that stopped sends none.
   */
  update(): number {
    const next = this.#received + this.window - this.#held;
    if (next - this.#limit < this.window / 4) return -1;
    this.#limit = next;
    return next;
  }
}
