/**
 * Schedule math with Kubernetes CronJob semantics: five-field expressions (or a macro) evaluated in
 * an IANA time zone; the most recent missed run only; a deadline after which a missed run is
 * skipped; a cap on how far back missed runs are counted.
 *
 * Which instants a schedule fires at is what robfig/cron v3 — the library the CronJob controller
 * runs — says: every real instant whose wall-clock time in the zone matches the expression. So a
 * wall time that does not exist (02:30 on a spring-forward day) is skipped, and one that happens
 * twice (01:30 on a fall-back day) runs twice; `next` and `runsBefore` walk the same set, so the
 * run announced as next is the run that is created. cron-parser parses the expression and steps
 * through wall-clock times (in UTC, where there is no DST); the mapping from a wall-clock time to
 * the instants that show it is written here, as no library does it (cron-parser's own `tz` shifts
 * a missing time forward in `next` and drops it in `prev`).
 */
import { CronExpressionParser } from 'cron-parser';
import { InvalidSchedule } from './errors.ts';

/** Like the CronJob controller, count at most this many missed runs before giving up counting. */
export const MAX_MISSED_COUNT = 100;

/** Kubernetes' macros; `@midnight` is robfig/cron's alias that cron-parser lacks. */
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** A schedule a search for the next run gives up on after this long never fires. */
const NEVER_HORIZON_MS = 5 * 366 * 24 * 3600 * 1000;
/**
 * How far a zone's offset may move at one change (DST moves it an hour, Lord Howe half an hour);
 * around a change, runs are searched this far on either side in wall-clock time.
 */
const MAX_SHIFT_MS = 3 * 3600 * 1000;

export interface ScheduleSpec {
  schedule: string;
  timeZone?: string | undefined;
  startingDeadlineSeconds?: number | undefined;
}

export interface Schedule {
  readonly expression: string;
  readonly timeZone: string;
  /** The first run strictly after `after`. */
  next(after: Date): Date;
  /** Scheduled times at or before `at` and after `notBefore`, newest first. */
  runsBefore(at: Date, notBefore: Date): Generator<Date>;
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at an instant, in milliseconds (wall clock = instant + offset). */
function rawOffsetAt(ms: number, timeZone: string): number {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(ms))) p[part.type] = Number(part.value);
  const wall = Date.UTC(
    p.year ?? 0,
    (p.month ?? 1) - 1,
    p.day ?? 1,
    p.hour ?? 0,
    p.minute ?? 0,
    p.second ?? 0,
  );
  return wall - Math.floor(ms / 1000) * 1000;
}

const HOUR_MS = 3600_000;
/** Per zone and hour since the epoch: the offset all through that hour, or null when it changes within it. */
const hourly = new Map<string, number | null>();

/**
 * rawOffsetAt, remembered per hour: Intl's formatToParts costs microseconds and the search for a run
 * asks about the same hours many times. An hour in which the offset changes (a change at :30, as
 * Lord Howe's) is answered exactly each time.
 */
function offsetAt(ms: number, timeZone: string): number {
  const hour = Math.floor(ms / HOUR_MS);
  const key = `${timeZone}\u0000${hour}`;
  let v = hourly.get(key);
  if (v === undefined) {
    const first = rawOffsetAt(hour * HOUR_MS, timeZone);
    v = first === rawOffsetAt(hour * HOUR_MS + HOUR_MS - 1000, timeZone) ? first : null;
    if (hourly.size >= 200_000) hourly.clear();
    hourly.set(key, v);
  }
  return v ?? rawOffsetAt(ms, timeZone);
}

/** A zone whose offset never changes (UTC, Etc/GMT+5…): wall clock and instants map one to one. */
function isFixed(timeZone: string): boolean {
  const jan = Date.UTC(2025, 0, 1);
  const jul = Date.UTC(2025, 6, 1);
  return /^(UTC|Etc\/|GMT)/.test(timeZone) && offsetAt(jan, timeZone) === offsetAt(jul, timeZone);
}

/**
 * The instants whose wall-clock time in the zone is `wall` (a wall-clock time written as if it
 * were UTC): none in a spring-forward gap, two in a fall-back overlap, one otherwise. The offsets
 * tried are those in force within a day of it (zones are at most 14 h from UTC).
 */
function instantsOf(wall: number, timeZone: string): number[] {
  const offsets = new Set([-15, 0, 15].map((h) => offsetAt(wall + h * 3600_000, timeZone)));
  const out: number[] = [];
  for (const o of offsets) {
    const t = wall - o;
    if (offsetAt(t, timeZone) === o && !out.includes(t)) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Refuses what a Kubernetes CronJob refuses and cron-parser would accept differently: `H`
 * (robfig/cron has no hashed values; cron-parser picks a random one at every parse, so every
 * evaluation would move the run).
 */
function refuseHashed(fields: string[], raw: string, field: string): void {
  if (fields.some((f) => f.split(',').some((part) => /^h/i.test(part)))) {
    throw new InvalidSchedule(
      field,
      `${JSON.stringify(raw)} uses H (a hashed value), which Kubernetes CronJob schedules (robfig/cron) do not have: give the minute and hour`,
    );
  }
}

/**
 * Parses and checks a schedule. Throws InvalidSchedule naming `field` (or `timeZoneField`) when
 * the expression is malformed, has other than five fields, uses H, or never fires.
 */
export function parseSchedule(
  spec: ScheduleSpec,
  field = 'spec.schedule',
  timeZoneField = 'spec.timeZone',
): Schedule {
  const timeZone = spec.timeZone ?? 'UTC';
  if (!isValidTimeZone(timeZone)) {
    throw new InvalidSchedule(
      timeZoneField,
      `unknown time zone ${JSON.stringify(timeZone)}: use an IANA name such as Europe/Berlin`,
    );
  }
  const raw = spec.schedule.trim();
  const expression = raw.startsWith('@') ? MACROS[raw] : raw;
  if (expression === undefined) {
    throw new InvalidSchedule(
      field,
      `unknown macro ${JSON.stringify(raw)}: use one of ${Object.keys(MACROS).join(', ')}`,
    );
  }
  const fields = expression.split(/\s+/).filter(Boolean);
  if (fields.length !== 5) {
    throw new InvalidSchedule(
      field,
      `${JSON.stringify(raw)} has ${fields.length} fields; expected 5 (minute hour day-of-month month day-of-week)`,
    );
  }
  if (/^(CRON_)?TZ=/.test(fields[0] as string)) {
    throw new InvalidSchedule(field, 'a time zone inside the schedule is not supported: use spec.timeZone');
  }
  refuseHashed(fields, raw, field);
  let it: ReturnType<typeof CronExpressionParser.parse>;
  try {
    // Wall-clock times, stepped in UTC (no DST there); instantsOf maps them to the zone.
    it = CronExpressionParser.parse(expression, { tz: 'UTC' });
  } catch (err) {
    throw new InvalidSchedule(
      field,
      `${JSON.stringify(raw)} is not a valid cron expression: ${(err as Error).message}`,
      err,
    );
  }
  const never = (err?: unknown) => new InvalidSchedule(field, `${JSON.stringify(raw)} never fires`, err);
  /** The first wall-clock time matching strictly after `wall`, or the last at or before it. */
  const stepWall = (wall: number, forward: boolean): number | undefined => {
    it.reset(new Date(forward ? wall : wall + 1));
    try {
      return (forward ? it.next() : it.prev()).toDate().getTime();
    } catch {
      return undefined;
    }
  };
  const fixed = isFixed(timeZone);
  const fixedOffset = offsetAt(0, timeZone);

  const nextMs = (after: number): number => {
    if (fixed) {
      const w = stepWall(after + fixedOffset, true);
      if (w === undefined || w - fixedOffset - after > NEVER_HORIZON_MS) throw never();
      return w - fixedOffset;
    }
    // Near a change of offset, a run at an earlier wall-clock time may be a later instant (the
    // second 01:30 of a fall-back night): search from 3 h earlier and keep the first instant.
    const near = offsetAt(after - MAX_SHIFT_MS, timeZone) !== offsetAt(after + MAX_SHIFT_MS, timeZone);
    let wall = after + offsetAt(after, timeZone) - (near ? MAX_SHIFT_MS : 0);
    let best: number | undefined;
    let bestWall = 0;
    for (;;) {
      const w = stepWall(wall, true);
      if (w === undefined || w - after > NEVER_HORIZON_MS) {
        if (best !== undefined) return best;
        throw never();
      }
      if (best !== undefined && w > bestWall + MAX_SHIFT_MS) return best;
      for (const t of instantsOf(w, timeZone)) {
        if (t > after && (best === undefined || t < best)) {
          best = t;
          bestWall = w;
        }
      }
      if (best !== undefined && !near) return best;
      wall = w;
    }
  };

  const prevMs = (at: number, notBefore: number): number | undefined => {
    if (fixed) {
      const w = stepWall(at + fixedOffset, false);
      return w === undefined || w - fixedOffset <= notBefore ? undefined : w - fixedOffset;
    }
    const near = offsetAt(at - MAX_SHIFT_MS, timeZone) !== offsetAt(at + MAX_SHIFT_MS, timeZone);
    let wall = at + offsetAt(at, timeZone) + (near ? MAX_SHIFT_MS : 0);
    let best: number | undefined;
    let bestWall = 0;
    for (;;) {
      const w = stepWall(wall, false);
      if (w === undefined) return best;
      if (best !== undefined && w < bestWall - MAX_SHIFT_MS) return best;
      // Below notBefore in wall-clock time by more than a shift: nothing later can be found.
      if (w + MAX_SHIFT_MS < notBefore + offsetAt(notBefore, timeZone) - MAX_SHIFT_MS) return best;
      for (const t of instantsOf(w, timeZone)) {
        if (t <= at && t > notBefore && (best === undefined || t > best)) {
          best = t;
          bestWall = w;
        }
      }
      if (best !== undefined && !near) return best;
      wall = w - 1;
    }
  };

  // Fail fast on expressions that parse but can never fire.
  nextMs(Date.UTC(2000, 0, 1));
  return {
    expression: raw,
    timeZone,
    next: (after) => new Date(nextMs(after.getTime())),
    *runsBefore(at, notBefore) {
      const floor = notBefore.getTime();
      for (let t = prevMs(at.getTime(), floor); t !== undefined; t = prevMs(t - 1, floor)) yield new Date(t);
    },
  };
}

const cache = new Map<string, Schedule>();
const CACHE_LIMIT = 4096;

/** parseSchedule, memoised per expression and time zone (a tick evaluates many alike policies). */
export function cachedSchedule(spec: ScheduleSpec, field?: string, timeZoneField?: string): Schedule {
  const key = `${spec.timeZone ?? 'UTC'}\u0000${spec.schedule}`;
  let s = cache.get(key);
  if (!s) {
    s = parseSchedule(spec, field, timeZoneField);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, s);
  }
  return s;
}

export interface DueRun {
  /** The scheduled time to run now, if any: the most recent missed one only (CronJob semantics). */
  due?: Date;
  /** How many scheduled times passed unrun, `due` included; capped at MAX_MISSED_COUNT. */
  missed: number;
  /** True when more than MAX_MISSED_COUNT were missed (the count stopped there). */
  tooManyMissed: boolean;
  /** The most recent scheduled time that was skipped because its starting deadline passed. */
  skippedPastDeadline?: Date;
  /** The next scheduled time after now. */
  next: Date;
}

/**
 * Which run is due at `now`, given that every scheduled time at or before `since` has been
 * handled (the policy's lastScheduleTime, or its creation time for a new one).
 *
 * As the CronJob controller does: only the most recent unrun time is started, however many were
 * missed; with `startingDeadlineSeconds`, a time older than now − deadline is not started.
 */
export function dueRun(schedule: Schedule, spec: ScheduleSpec, since: Date, now: Date): DueRun {
  const next = schedule.next(now);
  let latest: Date | undefined;
  let missed = 0;
  for (const d of schedule.runsBefore(now, since)) {
    latest ??= d;
    if (++missed > MAX_MISSED_COUNT) break;
  }
  if (latest === undefined) return { missed: 0, tooManyMissed: false, next };
  const tooManyMissed = missed > MAX_MISSED_COUNT;
  if (tooManyMissed) missed = MAX_MISSED_COUNT;

  const deadline = spec.startingDeadlineSeconds;
  if (deadline !== undefined && now.getTime() - latest.getTime() > deadline * 1000) {
    return { missed, tooManyMissed, skippedPastDeadline: latest, next };
  }
  return { due: latest, missed, tooManyMissed, next };
}
