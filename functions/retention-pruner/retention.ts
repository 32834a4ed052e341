/**
 * Which Backups a policy's retention rules keep (restic-style: a Backup stays when any rule keeps
 * it): keepLast, keepDaily/Weekly/Monthly (the newest Backup of each calendar period in the
 * policy's time zone), and keep-within (seed 000's backupRetention hours, or retention.maxAge).
 * With no rule at all, everything is kept. Failed Backups are deleted only by keepFailed (the
 * newest N stay): keepLast and the others count completed backups (seed 003). Whatever the rules
 * say, the newest Completed Backup, the newest Failed Backup, every Backup still running and every
 * Backup a running Restore reads are kept. "Newest" is newestFirst's (shared/policy.ts): the scheduled time.
 */
import type { Backup, Retention } from '../../shared/api/index.ts';
import { isFinished, newestFirst, type Policy, runTimeOf } from '../../shared/policy.ts';

export interface RetentionRules {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  /** Keep Backups younger than this many milliseconds. */
  keepWithinMs?: number;
  /**
   * The newest N Failed Backups are kept, older ones expire (retention.keepFailed); undefined keeps
   * every Failed Backup: the other rules count completed backups only (seed 003).
   */
  keepFailed?: number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** `336h`, `14d`, `1h30m` → milliseconds (the schema's pattern already checked the form). */
export function parseDuration(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)/g))
    total += Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 0);
  return total;
}

export function rulesOf(policy: Policy): RetentionRules {
  const spec = policy.spec as Policy['spec'] & { backupRetention?: number; retention?: Retention };
  const r = spec.retention ?? {};
  // retention.keepLast wins over retentionCount, which a BackupPolicy always has (its default 7).
  const keepLast = r.keepLast ?? spec.retentionCount;
  const within = r.maxAge
    ? parseDuration(r.maxAge)
    : spec.backupRetention
      ? spec.backupRetention * 3600e3
      : undefined;
  return {
    ...(keepLast !== undefined ? { keepLast } : {}),
    ...(r.keepDaily !== undefined ? { keepDaily: r.keepDaily } : {}),
    ...(r.keepWeekly !== undefined ? { keepWeekly: r.keepWeekly } : {}),
    ...(r.keepMonthly !== undefined ? { keepMonthly: r.keepMonthly } : {}),
    ...(within !== undefined ? { keepWithinMs: within } : {}),
    ...(r.keepFailed !== undefined ? { keepFailed: r.keepFailed } : {}),
  };
}

export function hasRules(r: RetentionRules): boolean {
  return [r.keepLast, r.keepDaily, r.keepWeekly, r.keepMonthly, r.keepWithinMs].some((v) => v !== undefined);
}

/** Calendar keys of an instant in a time zone: day, ISO week and month. */
function periods(t: number, fmt: Intl.DateTimeFormat): { day: string; week: string; month: string } {
  const parts = Object.fromEntries(fmt.formatToParts(new Date(t)).map((p) => [p.type, p.value]));
  const y = Number(parts.year);
  const m = Number(parts.month);
  const d = Number(parts.day);
  // ISO 8601 week: the week's Thursday decides its year.
  const date = new Date(Date.UTC(y, m - 1, d));
  date.setUTCDate(date.getUTCDate() + 4 - (date.getUTCDay() || 7));
  const weekYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86400e3 + 1) / 7);
  return { day: `${y}-${m}-${d}`, week: `${weekYear}-W${week}`, month: `${y}-${m}` };
}

export interface Verdict {
  keep: Backup[];
  expire: Backup[];
}

/**
 * Splits a policy's Backups (those not already being deleted) into kept and expired. `inUse` names
 * Backups something still reads (a running Restore): they are kept whatever the rules say.
 */
export function applyRetention(
  backups: readonly Backup[],
  rules: RetentionRules,
  timeZone: string,
  now: Date,
  inUse: ReadonlySet<string> = new Set(),
): Verdict {
  const live = backups.filter((b) => !b.metadata.deletionTimestamp);
  const keep = new Set<Backup>(live.filter((b) => !isFinished(b) || inUse.has(b.metadata.name)));
  const completed = newestFirst(live.filter((b) => b.status?.phase === 'Completed'));
  const failed = newestFirst(live.filter((b) => b.status?.phase === 'Failed'));
  // The newest Failed one always stays; older ones only go when keepFailed says so.
  for (const b of rules.keepFailed === undefined ? failed : failed.slice(0, Math.max(rules.keepFailed, 1)))
    keep.add(b);
  if (completed[0]) keep.add(completed[0]);
  if (!hasRules(rules)) {
    for (const b of completed) keep.add(b);
  } else {
    for (const b of completed.slice(0, rules.keepLast ?? 0)) keep.add(b);
    if (rules.keepWithinMs !== undefined) {
      // Strictly younger, as restic's keep-within keeps what was made after newest − duration.
      for (const b of completed) if (now.getTime() - runTimeOf(b) < rules.keepWithinMs) keep.add(b);
    }
    // Built only when a calendar rule needs it: a DateTimeFormat costs a fraction of a millisecond,
    // which every tick would otherwise pay for every policy.
    let fmt: Intl.DateTimeFormat | undefined;
    for (const [period, count] of [
      ['day', rules.keepDaily],
      ['week', rules.keepWeekly],
      ['month', rules.keepMonthly],
    ] as const) {
      if (!count) continue;
      const seen = new Set<string>();
      for (const b of completed) {
        fmt ??= new Intl.DateTimeFormat('en-CA', {
          timeZone,
          year: 'numeric',
          month: 'numeric',
          day: 'numeric',
        });
        const key = periods(runTimeOf(b), fmt)[period];
        if (seen.has(key)) continue;
        seen.add(key);
        keep.add(b);
        if (seen.size >= count) break;
      }
    }
  }
  return { keep: live.filter((b) => keep.has(b)), expire: live.filter((b) => !keep.has(b)) };
}
