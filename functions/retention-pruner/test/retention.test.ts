import test from 'ava';
import type { Backup } from '../../../shared/api/index.ts';
import { backup } from '../../../test/builders.ts';
import { applyRetention, parseDuration, type RetentionRules } from '../retention.ts';

const ref = { kind: 'BackupPolicy' as const, name: 'volumes' };
const now = new Date('2025-03-31T12:00:00Z');
const done = (name: string, iso: string) =>
  backup(name, ref, { phase: 'Completed', completionTime: iso }, {}, { scheduledTime: iso });
const names = (bs: Backup[]) => bs.map((b) => b.metadata.name).sort();
const rules = (r: Partial<RetentionRules>): RetentionRules => ({ keepFailed: 1, ...r });

/** One completed backup a day at 01:00Z, March 1–31. */
const daily = Array.from({ length: 31 }, (_, i) =>
  done(`d${String(i + 1).padStart(2, '0')}`, `2025-03-${String(i + 1).padStart(2, '0')}T01:00:00Z`),
);

test('keepLast keeps the newest N completed backups', (t) => {
  const v = applyRetention(daily, rules({ keepLast: 3 }), 'UTC', now);
  t.deepEqual(names(v.keep), ['d29', 'd30', 'd31']);
  t.is(v.expire.length, 28);
});

test('keep-within (backupRetention hours) keeps what is younger', (t) => {
  const v = applyRetention(daily, rules({ keepWithinMs: 72 * 3600e3 }), 'UTC', now);
  t.deepEqual(names(v.keep), ['d29', 'd30', 'd31']);
});

test('GFS: daily, weekly and monthly keeps combine (ORed)', (t) => {
  const v = applyRetention(daily, rules({ keepDaily: 2, keepWeekly: 2 }), 'UTC', now);
  // Days 31 and 30; weeks: 2025-W14 (Mar 31) → d31, 2025-W13 (Mar 24–30) → d30.
  t.deepEqual(names(v.keep), ['d30', 'd31']);
  const m = applyRetention(daily, rules({ keepWeekly: 3 }), 'UTC', now);
  t.deepEqual(names(m.keep), ['d23', 'd30', 'd31']);
});

test('daily buckets follow the policy time zone', (t) => {
  const late = [done('a', '2025-03-30T22:30:00Z'), done('b', '2025-03-30T21:30:00Z')];
  // In UTC both are on March 30: one daily slot keeps only the newest.
  t.deepEqual(names(applyRetention(late, rules({ keepDaily: 1 }), 'UTC', now).keep), ['a']);
  // In Berlin (UTC+2 after the DST change) 'a' is on March 31, 'b' on March 30: keepDaily 2 keeps both.
  t.deepEqual(names(applyRetention(late, rules({ keepDaily: 2 }), 'Europe/Berlin', now).keep), ['a', 'b']);
});

test('never deleted: running backups, the newest completed, the newest failed', (t) => {
  const backups = [
    done('old-ok', '2025-01-01T00:00:00Z'),
    backup(
      'failed-new',
      ref,
      { phase: 'Failed', completionTime: '2025-03-30T00:00:00Z' },
      {},
      { scheduledTime: '2025-03-30T00:00:00Z' },
    ),
    backup(
      'failed-old',
      ref,
      { phase: 'Failed', completionTime: '2025-03-01T00:00:00Z' },
      {},
      { scheduledTime: '2025-03-01T00:00:00Z' },
    ),
    backup('running', ref, { phase: 'Running' }, { creationTimestamp: '2024-01-01T00:00:00Z' }),
  ];
  const v = applyRetention(backups, rules({ keepWithinMs: 1000 }), 'UTC', now);
  t.deepEqual(names(v.keep), ['failed-new', 'old-ok', 'running']);
  t.deepEqual(names(v.expire), ['failed-old']);
});

test('with no rule at all every completed backup stays', (t) => {
  t.is(applyRetention(daily, rules({}), 'UTC', now).expire.length, 0);
});

test('backups already being deleted are neither kept nor expired again', (t) => {
  const deleting = backup('gone', ref, { phase: 'Completed' }, { deletionTimestamp: '2025-03-31T00:00:00Z' });
  const v = applyRetention([...daily, deleting], rules({ keepLast: 1 }), 'UTC', now);
  t.false([...v.keep, ...v.expire].includes(deleting));
});

test('durations', (t) => {
  t.is(parseDuration('336h'), 336 * 3600e3);
  t.is(parseDuration('14d'), 14 * 86400e3);
  t.is(parseDuration('1h30m'), 5400e3);
});
