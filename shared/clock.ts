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

/**
 * An instant as Kubernetes' metav1.Time marshals it: RFC 3339 in UTC with whole seconds
 * (`2026-11-29T10:35:00Z`; the fraction is cut, as Go's time.RFC3339 format does). Every time a
 * function writes — statuses, a Backup's scheduledTime, annotations, Events — goes through here, so
 * what Cairn writes reads like what Kubernetes writes and compares as Kubernetes' own times do.
 */
export function kubeTime(at: Date | number): string {
  const ms = typeof at === 'number' ? at : at.getTime();
  if (Number.isNaN(ms)) throw new RangeError('not a valid instant');
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * Milliseconds since the epoch of a time as the API hands it out: an RFC 3339 string, with or
 * without a fraction (the emulator and CustomObjectsApi give strings), or the Date that
 * @kubernetes/client-node's CoreV1Api makes of it. Undefined when absent or unreadable, so callers
 * decide what a missing time means instead of comparing strings of different forms.
 */
export function timeOf(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A time as the API hands it out (see timeOf), rendered as kubeTime renders it; undefined when there is none. */
export function kubeTimeOf(value: unknown): string | undefined {
  const ms = timeOf(value);
  return ms === undefined ? undefined : kubeTime(ms);
}
