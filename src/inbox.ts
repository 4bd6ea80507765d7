// The consumer side shared by a Transport and a Session: received frames go to 'message' listeners at
// once when nothing is held before them, nobody paused the stream and someone listens; otherwise they
// are held, in order, until that changes. Both also hold 'close' until the frames received before it
// are delivered. One copy, so the two cannot drift apart.
import type { EventEmitter } from 'node:events';

export class Inbox {
  /** Set by pause() and resume(). */
  paused = false;
  readonly #owner: EventEmitter;
  #frames: Buffer[] = [];
  #head = 0;

  constructor(owner: EventEmitter) {
    this.#owner = owner;
  }

  /** Frames held. */
  get waiting(): number {
    return this.#frames.length - this.#head;
  }

  /** Emits `frame` as 'message', or holds it behind the frames already held. True when it was emitted. */
  deliver(frame: Buffer): boolean {
    if (!this.paused && this.#head === this.#frames.length && this.#owner.listenerCount('message') > 0) {
      this.#owner.emit('message', frame);
      return true;
    }
    this.#frames.push(frame);
    return false;
  }

  /**
   * Emits held frames, oldest first, while not paused and someone listens (and `stop()`, if given, is
   * false). `taken` hears of each frame before it is emitted.
   */
  drain(stop?: () => boolean, taken?: (frame: Buffer) => void): void {
    while (!this.paused && this.#head < this.#frames.length && this.#owner.listenerCount('message') > 0) {
      if (stop !== undefined && stop()) break;
      const frame = this.#frames[this.#head]!;
      this.#frames[this.#head++] = undefined as unknown as Buffer;
      taken?.(frame);
      this.#owner.emit('message', frame);
    }
    if (this.#head === this.#frames.length) this.clear();
  }

  /**
   * Whether 'close' must wait for the frames held: while paused with a listener (until resume()), or
   * with no listener when the peer ended the stream (until one is attached). Not after a failure (the
   * stream cannot be trusted) or when we closed it ourselves with nobody listening (nobody wants them).
   */
  holdsClose(failed: boolean, closedLocally: boolean): boolean {
    if (failed || this.#head === this.#frames.length) return false;
    const listening = this.#owner.listenerCount('message') > 0;
    return (this.paused && listening) || (!listening && !closedLocally);
  }

  /** Forgets every frame held. */
  clear(): void {
    this.#frames = [];
    this.#head = 0;
  }
}
