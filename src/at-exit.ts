// One process 'exit' listener for the whole package. process.exit() ends the process before the event
// loop turns again, so work that would have happened on the next turn (a transport's end-of-tick flush,
// a session's report of the frames it never sent) must run from 'exit'. The listener is added at the
// first item anyone registers, so a process that never sends adds none. The two sets (transports'
// flushes, sessions' reports of queued frames) touch different frames, so their order does not matter.
const sets: Array<{ runNow(): void }> = [];
let hooked = false;

function runAll(): void {
  for (const set of sets) set.runNow();
}

/** Items run by `run` at process exit, in the order added; delete them when they no longer need it. */
export class AtExit<T> {
  readonly #items = new Set<T>();
  readonly #run: (item: T) => void;

  constructor(run: (item: T) => void) {
    this.#run = run;
    sets.push(this);
  }

  add(item: T): void {
    this.#items.add(item);
    if (!hooked) {
      hooked = true;
      process.on('exit', runAll);
    }
  }

  delete(item: T): void {
    this.#items.delete(item);
  }

  /** @internal */
  runNow(): void {
    for (const item of this.#items) this.#run(item);
  }
}
