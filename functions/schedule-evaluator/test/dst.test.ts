/**
 * Issue 14, item 3: across daylight-saving changes the schedule keeps its word. schedule-evaluator's
 * decide runs every minute over a few days (its status applied as the API server would), and:
 * the nextScheduledBackup it announces is the run it creates, every announced run is created, no
 * MissedSchedules warning is given, and the runs are the ones a Kubernetes CronJob makes
 * (robfig/cron: a wall time that does not exist is skipped, one that happens twice runs twice).
 */
import test from 'ava';
import type { Backup, DatabaseBackup } from '../../../shared/api/index.ts';
import type { Action } from '../../../shared/plan.ts';
import { applyStatus } from '../../../shared/plan.ts';
import { databaseBackup } from '../../../test/builders.ts';
import { decide } from '../decide.ts';

interface Run {
  created: string[];
  announced: string[];
  missed: string[];
}

function minuteByMinute(schedule: string, timeZone: string, from: string, to: string): Run {
  let policy: DatabaseBackup = databaseBackup(
    'pg',
    { schedule, timeZone },
    { metadata: { creationTimestamp: from } },
  );
  const backups: Backup[] = [];
  const out: Run = { created: [], announced: [], missed: [] };
  for (let t = Date.parse(from) + 30_000; t <= Date.parse(to); t += 60_000) {
    const now = new Date(t);
    const plan = decide({ kind: 'DatabaseBackup', policy, backups }, now);
    for (const a of plan) {
      if (a.type === 'create') {
        const b = a.object as unknown as Backup;
        out.created.push(String(b.spec.scheduledTime));
        // Finished at once, so concurrencyPolicy never holds a run back.
        backups.push({ ...b, status: { phase: 'Completed' } });
      } else if (a.type === 'event' && a.reason === 'MissedSchedules') out.missed.push(a.message);
      else if (a.type === 'status') {
        const next = applyStatus(
          policy.status as Record<string, unknown>,
          a as Extract<Action, { type: 'status' }>,
          now,
        );
        if (next.nextScheduledBackup !== policy.status?.nextScheduledBackup)
          out.announced.push(String(next.nextScheduledBackup));
        policy = { ...policy, status: next as DatabaseBackup['status'] };
      }
    }
  }
  return out;
}

function keepsItsWord(t: import('ava').ExecutionContext, r: Run, to: string): void {
  t.deepEqual(r.missed, [], 'no MissedSchedules');
  // Every run created was announced first, and every announced run that came due was created.
  t.deepEqual(
    r.created,
    r.announced.filter((a) => Date.parse(a) <= Date.parse(to)),
  );
}

const days: {
  title: string;
  schedule: string;
  tz: string;
  from: string;
  to: string;
  expected: string[];
}[] = [
  {
    title:
      '30 2 * * * in Europe/Berlin: on the spring-forward day 02:30 does not exist and is skipped; next is announced as it is run',
    schedule: '30 2 * * *',
    tz: 'Europe/Berlin',
    from: '2025-03-28T12:00:00Z',
    to: '2025-04-01T12:00:00Z',
    expected: ['2025-03-29T01:30:00Z', '2025-03-31T00:30:00Z', '2025-04-01T00:30:00Z'],
  },
  {
    title: '30 2 * * * in America/New_York: spring forward skips the day, as CronJob does',
    schedule: '30 2 * * *',
    tz: 'America/New_York',
    from: '2025-03-07T12:00:00Z',
    to: '2025-03-10T12:00:00Z',
    expected: ['2025-03-08T07:30:00Z', '2025-03-10T06:30:00Z'],
  },
  {
    title:
      '30 1 * * * in America/New_York: on the fall-back day 01:30 happens twice and runs twice, with no false MissedSchedules',
    schedule: '30 1 * * *',
    tz: 'America/New_York',
    from: '2025-11-01T00:00:00Z',
    to: '2025-11-03T12:00:00Z',
    expected: [
      '2025-11-01T05:30:00Z',
      '2025-11-02T05:30:00Z', // 01:30 EDT
      '2025-11-02T06:30:00Z', // 01:30 EST
      '2025-11-03T06:30:00Z',
    ],
  },
  {
    title: '30 2 * * * in Europe/Berlin: on the fall-back day 02:30 happens twice and runs twice',
    schedule: '30 2 * * *',
    tz: 'Europe/Berlin',
    from: '2025-10-25T00:00:00Z',
    to: '2025-10-27T12:00:00Z',
    expected: [
      '2025-10-25T00:30:00Z',
      '2025-10-26T00:30:00Z', // 02:30 CEST
      '2025-10-26T01:30:00Z', // 02:30 CET
      '2025-10-27T01:30:00Z',
    ],
  },
];

for (const { title, schedule, tz, from, to, expected } of days) {
  test(title, (t) => {
    const r = minuteByMinute(schedule, tz, from, to);
    t.deepEqual(r.created, expected);
    keepsItsWord(t, r, to);
  });
}

test('an hourly schedule in Europe/Berlin across both changes runs once per real hour', (t) => {
  const spring = minuteByMinute('0 * * * *', 'Europe/Berlin', '2025-03-29T22:00:00Z', '2025-03-30T04:00:30Z');
  t.deepEqual(spring.created, [
    '2025-03-29T23:00:00Z',
    '2025-03-30T00:00:00Z', // 01:00 CET, then 03:00 CEST: 02:00 does not exist
    '2025-03-30T01:00:00Z',
    '2025-03-30T02:00:00Z',
    '2025-03-30T03:00:00Z',
    '2025-03-30T04:00:00Z',
  ]);
  keepsItsWord(t, spring, '2025-03-30T04:00:30Z');
  const autumn = minuteByMinute('0 * * * *', 'Europe/Berlin', '2025-10-25T22:30:00Z', '2025-10-26T03:00:30Z');
  t.is(autumn.created.length, 5, '23:00Z, 00:00Z (02:00 CEST), 01:00Z (02:00 CET), 02:00Z, 03:00Z');
  keepsItsWord(t, autumn, '2025-10-26T03:00:30Z');
});
