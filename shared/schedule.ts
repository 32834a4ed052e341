/**
 * Schedule math on cron-parser with Kubernetes CronJob semantics: five-field expressions (or a
 * macro) evaluated in an IANA time zone, DST-correct; the most recent missed run only; a deadline
 * after which a missed run is skipped; a cap on how far back missed runs are counted.
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

/**
 * Parses and checks a schedule. Throws InvalidSchedule naming `field` (or `timeZoneField`) when
 * the expression is malformed, has other than five fields, or never fires.
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
  let it: ReturnType<typeof CronExpressionParser.parse>;
  try {
    it = CronExpressionParser.parse(expression, { tz: timeZone });
  } catch (err) {
    throw new InvalidSchedule(
      field,
      `${JSON.stringify(raw)} is not a valid cron expression: ${(err as Error).message}`,
      err,
    );
  }
  // One iterator, moved with reset(): parsing costs far more than stepping.
  const next = (after: Date): Date => {
    it.reset(after);
    let d: Date;
    try {
      d = it.next().toDate();
    } catch (err) {
      throw new InvalidSchedule(field, `${JSON.stringify(raw)} never fires`, err);
    }
    if (d.getTime() - after.getTime() > NEVER_HORIZON_MS) {
      throw new InvalidSchedule(field, `${JSON.stringify(raw)} never fires`);
    }
    return d;
  };
  // Fail fast on expressions that parse but can never fire.
  next(new Date(Date.UTC(2000, 0, 1)));
  return {
    expression: raw,
    timeZone,
    next,
    *runsBefore(at, notBefore) {
      // prev() is strictly before the current date: start 1 ms past `at` to include it.
      it.reset(new Date(at.getTime() + 1));
      while (true) {
        let d: Date;
        try {
          d = it.prev().toDate();
        } catch {
          return;
        }
        if (d.getTime() <= notBefore.getTime()) return;
        yield d;
      }
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
