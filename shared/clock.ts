/**
 * The injected clock. Decisions never call `new Date()`; handlers take a Clock and tests pin it.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock fixed at one instant (tests, `cairn replay --as-of`). */
export function fixedClock(at: Date | string): Clock {
  const t = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(t.getTime())) throw new RangeError(`not a valid instant: ${String(at)}`);
  return { now: () => new Date(t.getTime()) };
}

/** A clock a test can move forward. */
export class ManualClock implements Clock {
  #t: number;
  constructor(at: Date | string) {
    this.#t = new Date(at).getTime();
  }
  now(): Date {
    return new Date(this.#t);
  }
  set(at: Date | string): void {
    this.#t = new Date(at).getTime();
  }
  advance(ms: number): void {
    this.#t += ms;
  }
}
