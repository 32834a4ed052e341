/**
 * Cairn's retention against restic's own table (issue 14, item 6): the snapshot list and policies
 * of TestApplyPolicy (restic/restic internal/data/snapshot_policy_test.go) and the kept snapshots
 * of its golden files (internal/data/testdata/policy_keep_snapshots_<case>), as derived data in
 * test/fixtures/restic-expire-policy.json (its `source` names the commit). Every snapshot is a
 * Completed Backup scheduled at the snapshot's time; the kept sets are compared as multisets of
 * times (restic's list has identical times that only tags tell apart, which a Backup has not).
 *
 * Cases with a rule Cairn has no counterpart for are listed with the reason, and
 * docs/retention.md lists the same; the one case where Cairn keeps something else on purpose (no
 * rule at all) is checked for what Cairn does.
 */
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { REPO_ROOT } from '../../../local/runtime.ts';
import type { Backup } from '../../../shared/api/index.ts';
import { backup } from '../../../test/builders.ts';
import { applyRetention, parseDuration, type RetentionRules } from '../retention.ts';

interface ResticPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  within?: string;
  withinHourly?: string;
  withinDaily?: string;
  withinWeekly?: string;
  withinMonthly?: string;
  withinYearly?: string;
  tags?: string[][];
}
interface Fixture {
  source: string;
  snapshots: { time: string; tags?: string[]; paths?: string[] }[];
  cases: { case: number; policy: ResticPolicy; keep: string[] }[];
}

const fixture = JSON.parse(
  await readFile(`${REPO_ROOT}test/fixtures/restic-expire-policy.json`, 'utf8'),
) as Fixture;

/** The cases Cairn cannot express, and why (docs/retention.md, "Compared with restic"). */
const UNSUPPORTED: Record<number, string> = {
  5: 'keep-hourly',
  16: 'keep-yearly',
  17: 'keep-yearly',
  18: 'keep-tag',
  19: 'keep-tag',
  20: 'keep-tag',
  24: 'keep-within in months',
  25: 'keep-within in months',
  26: 'keep-within in years and months',
  28: 'keep-within in months',
  29: 'keep-within in years and months',
  30: 'keep-within-hourly',
  31: 'keep-within-daily',
  32: 'keep-within-weekly',
  33: 'keep-within-monthly',
  34: 'keep-within-yearly',
  35: 'keep-within-hourly/daily/weekly/monthly/yearly',
  36: 'keep-last -1 (unlimited)',
  37: 'keep-last -1 (unlimited)',
  38: 'keep-hourly -1',
  39: 'keep-monthly -1 and keep-yearly -1',
};

/** restic's policy as Cairn's rules, or undefined when a rule has no counterpart. */
function rulesOf(p: ResticPolicy): RetentionRules | undefined {
  const { last, daily, weekly, monthly, within, ...rest } = p;
  if (Object.keys(rest).length > 0) return undefined;
  if ([last, daily, weekly, monthly].some((n) => n !== undefined && n < 0)) return undefined;
  // restic durations are years, months, days, hours; Cairn's maxAge has no calendar months.
  if (within !== undefined && /[ym]/.test(within)) return undefined;
  return {
    keepFailed: 1,
    ...(last !== undefined ? { keepLast: last } : {}),
    ...(daily !== undefined ? { keepDaily: daily } : {}),
    ...(weekly !== undefined ? { keepWeekly: weekly } : {}),
    ...(monthly !== undefined ? { keepMonthly: monthly } : {}),
    ...(within !== undefined ? { keepWithinMs: parseDuration(within) } : {}),
  };
}

const ref = { kind: 'BackupPolicy' as const, name: 'volumes' };
const backups: Backup[] = fixture.snapshots.map((s, i) =>
  backup(`snap-${String(i).padStart(3, '0')}`, ref, { phase: 'Completed' }, {}, { scheduledTime: s.time }),
);
/** restic measures keep-within from the newest snapshot; Cairn from now: now is the newest here. */
const newest = new Date(Math.max(...fixture.snapshots.map((s) => Date.parse(s.time))));
const times = (bs: readonly Backup[]) =>
  bs.map((b) => new Date(String(b.spec.scheduledTime)).toISOString()).sort();
const norm = (ts: readonly string[]) => ts.map((x) => new Date(x).toISOString()).sort();

test('the fixture is restic TestApplyPolicy: 103 snapshots, 40 policies', (t) => {
  t.regex(fixture.source, /restic\/restic at [0-9a-f]{40}/);
  t.is(fixture.snapshots.length, 103);
  t.is(fixture.cases.length, 40);
});

for (const c of fixture.cases) {
  const rules = rulesOf(c.policy);
  const title = `restic policy_keep_snapshots_${c.case} ${JSON.stringify(c.policy)}`;
  if (c.case === 0) {
    // restic's ApplyPolicy with an empty policy keeps nothing (its forget command refuses to run
    // without one); a Cairn policy without retention rules keeps every Backup.
    test(`${title}: Cairn keeps everything when there is no rule (deliberate)`, (t) => {
      t.is(c.keep.length, 0);
      t.is(applyRetention(backups, rules ?? { keepFailed: 1 }, 'UTC', newest).keep.length, backups.length);
    });
  } else if (rules === undefined) {
    test(`${title}: not expressible in Cairn (${UNSUPPORTED[c.case] ?? 'undocumented'})`, (t) => {
      t.truthy(UNSUPPORTED[c.case], 'every case Cairn cannot express is listed with its reason');
    });
  } else {
    test(`${title}: Cairn keeps what restic keeps`, (t) => {
      t.is(UNSUPPORTED[c.case], undefined);
      t.deepEqual(times(applyRetention(backups, rules, 'UTC', newest).keep), norm(c.keep));
    });
  }
}
