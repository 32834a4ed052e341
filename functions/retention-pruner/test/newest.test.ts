/**
 * Issue 14, item 6: one definition of "newest" — the scheduled time (as restic orders snapshots by
 * their time), ties broken by name — used by retention, the policy's status and verification, so
 * retention never deletes the Backup the status names as the last success.
 */
import test from 'ava';
import type { Backup } from '../../../shared/api/index.ts';
import { completedNewestFirst } from '../../../shared/verification.ts';
import { backup } from '../../../test/builders.ts';
import { policyStatus } from '../../job-watcher/policy-status.ts';
import { applyRetention } from '../retention.ts';

const ref = { kind: 'DatabaseBackup' as const, name: 'pg' };
const now = new Date('2025-03-21T00:00:00Z');
const done = (name: string, scheduledTime: string, completionTime: string): Backup =>
  backup(name, ref, { phase: 'Completed', completionTime }, {}, { scheduledTime });

const cases: [string, Backup[], string][] = [
  [
    // The 01:00 run took two hours; the 02:00 run finished first.
    'a slow run finishing after a later one',
    [
      done('pg-202503200100', '2025-03-20T01:00:00Z', '2025-03-20T03:00:00Z'),
      done('pg-202503200200', '2025-03-20T02:00:00Z', '2025-03-20T02:10:00Z'),
    ],
    'pg-202503200200',
  ],
  [
    // Written by older Cairn versions with a fraction: compared as times, not as strings.
    'times written with and without a fraction',
    [
      done('pg-a', '2025-03-20T02:00:00.000Z', '2025-03-20T02:05:00.000Z'),
      done('pg-b', '2025-03-20T01:59:59Z', '2025-03-20T02:06:00Z'),
    ],
    'pg-a',
  ],
  [
    'two runs of the same time: the name decides',
    [
      done('pg-x', '2025-03-20T02:00:00Z', '2025-03-20T02:05:00Z'),
      done('pg-y', '2025-03-20T02:00:00Z', '2025-03-20T02:04:00Z'),
    ],
    'pg-y',
  ],
];

for (const [title, backups, newest] of cases) {
  test(`retention, policy status and verification agree on the newest: ${title}`, (t) => {
    t.is(policyStatus(backups).lastSuccessfulBackup, newest);
    t.is(completedNewestFirst(backups)[0]?.metadata.name, newest);
    const kept = applyRetention(backups, { keepLast: 1, keepFailed: 1 }, 'UTC', now).keep;
    t.deepEqual(
      kept.map((b) => b.metadata.name),
      [newest],
    );
  });
}
