// Async iteration over a transport's frames, shared by Transport and Session: frames wait in a queue
// for the consumer, and past `hwm` of them the source is told to stop reading until half are taken.
import type { EventEmitter } from 'node:events';

interface Source extends EventEmitter {
  close(): Promise<void>;
}

/**
 * Yields each `'message'` of `source`; ends at its `'close'` (or at once if `closed()` says it was
 * already emitted), throwing its `'error'`. `setFull(true)` asks the source to stop reading,
 * `setFull(false)` to go on. `held(bytes, taken)`, when given, hears of each frame that waits in the
 * queue (`taken` false) and of each the consumer takes from it (`taken` true): a session's receive
 * window counts them. Leaving the loop early closes the source.
 */
export function frameIterator(
  source: Source,
  hwm: number,
  closed: () => boolean,
  setFull: (full: boolean) => void,
  held?: (bytes: number, taken: boolean) => void,
): AsyncIterableIterator<Buffer> {
  const queue: Buffer[] = [];
  let head = 0;
  let waiting: { resolve: (r: IteratorResult<Buffer>) => void; reject: (e: unknown) => void } | null = null;
  let finished = closed();
  let failure: Error | null = null;
  let full = false;
  const onMessage = (frame: Buffer): void => {
    if (waiting !== null) {
      const w = waiting;
      waiting = null;
      w.resolve({ value: frame, done: false });
      return;
    }
    queue.push(frame);
    held?.(frame.length, false);
    if (queue.length - head >= hwm && !full) {
      full = true;
      setFull(true);
    }
  };
  const onError = (err: Error): void => {
    failure = err;
  };
  const onClose = (): void => {
    finished = true;
    cleanup();
    if (waiting !== null && head === queue.length) {
      const w = waiting;
      waiting = null;
      if (failure !== null) w.reject(failure);
      else w.resolve({ value: undefined, done: true });
    }
  };
  const cleanup = (): void => {
    source.off('message', onMessage);
    source.off('error', onError);
    source.off('close', onClose);
  };
  source.on('message', onMessage);
  source.on('error', onError);
  source.on('close', onClose);
  const iterator: AsyncIterableIterator<Buffer> = {
    next: (): Promise<IteratorResult<Buffer>> => {
      if (head < queue.length) {
        const value = queue[head]!;
        queue[head++] = undefined as unknown as Buffer;
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
        }
        held?.(value.length, true);
        if (full && queue.length - head <= hwm / 2) {
          full = false;
          setFull(false);
        }
        return Promise.resolve({ value, done: false });
      }
      if (finished) {
        if (failure !== null) {
          const f = failure;
          failure = null;
          return Promise.reject(f);
        }
        return Promise.resolve({ value: undefined, done: true });
      }
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
      });
    },
    return: async (): Promise<IteratorResult<Buffer>> => {
      finished = true;
      cleanup();
      // Frames left in the queue will never be taken: they no longer hold the window.
      if (held !== undefined) for (let i = head; i < queue.length; i++) held(queue[i]!.length, true);
      queue.length = 0;
      head = 0;
      if (full) {
        full = false;
        setFull(false);
      }
      await source.close();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
