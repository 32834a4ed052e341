/**
 * Runs tasks in order per key (a Trigger and an event subject: one object's events reach a
 * subscriber in the order they arrived) and at most `concurrency` at a time over all keys, and
 * tells when everything is done.
 */
export class KeyedQueue {
  readonly #limit: number;
  #running = 0;
  #waiting: (() => void)[] = [];
  #tails = new Map<string, Promise<void>>();
  #pending = 0;
  #idle: (() => void)[] = [];

  constructor(concurrency: number) {
    if (!(concurrency >= 1)) throw new RangeError(`concurrency must be at least 1, got ${concurrency}`);
    this.#limit = concurrency;
  }

  /** Queues `task` behind earlier tasks of the same key; resolves with its result. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    this.#pending++;
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const result = prev.then(() => this.#slot(task));
    const tail = result.then(
      () => {},
      () => {},
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
      this.#done();
    });
    return result;
  }

  /** Counts outside work (e.g. an event being accepted) so `idle()` waits for it too. */
  track<T>(p: Promise<T>): Promise<T> {
    this.#pending++;
    void p.then(
      () => this.#done(),
      () => this.#done(),
    );
    return p;
  }

  /** Resolves once nothing is queued, running or tracked. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  async #slot<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((r) => this.#waiting.push(r));
    this.#running++;
    try {
      return await task();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  #done(): void {
    if (--this.#pending === 0) for (const r of this.#idle.splice(0)) r();
  }
}
