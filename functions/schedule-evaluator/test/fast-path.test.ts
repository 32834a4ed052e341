/**
 * The fast path of schedule-evaluator's decide (a status that already records the next run means
 * no work) holds only while the status describes the current spec: `observedGeneration` must
 * equal `metadata.generation` (issue 14, item 9). An edited spec is evaluated again at once.
 */
import test from 'ava';
import type { Action } from '../../../shared/plan.ts';
import { databaseBackup } from '../../../test/builders.ts';
import { decide } from '../decide.ts';

const recorded = (generation: number, schedule: string) =>
  databaseBackup(
    'pg-nightly',
    { schedule },
    {
      metadata: { generation },
      status: {
        observedGeneration: 1,
        nextScheduledBackup: '2025-03-21T01:00:00.000Z',
        lastScheduleTime: '2025-03-20T01:00:00.000Z',
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Scheduled',
            message: 'schedule "0 1 * * *" in UTC',
            lastTransitionTime: '2025-03-20T00:00:00Z',
          },
        ],
      },
    },
  );
const statusOf = (plan: Action[]) =>
  plan.find((a): a is Extract<Action, { type: 'status' }> => a.type === 'status');
const noon = new Date('2025-03-20T12:00:00Z');

test('with observedGeneration equal to generation, a recorded next run means an empty plan', (t) => {
  t.deepEqual(decide({ kind: 'DatabaseBackup', policy: recorded(1, '0 1 * * *'), backups: [] }, noon), []);
});

test('a changed schedule (generation ahead of observedGeneration) is evaluated at once, not at the old next run', (t) => {
  const plan = decide({ kind: 'DatabaseBackup', policy: recorded(2, '30 12 * * *'), backups: [] }, noon);
  const s = statusOf(plan);
  t.truthy(s, 'a status write');
  t.is(s?.set.nextScheduledBackup, '2025-03-20T12:30:00Z');
  t.is(s?.observedGeneration, 2);
});

test('any spec change is acknowledged: observedGeneration catches up even when the next run stays', (t) => {
  const plan = decide({ kind: 'DatabaseBackup', policy: recorded(2, '0 1 * * *'), backups: [] }, noon);
  t.is(statusOf(plan)?.observedGeneration, 2);
  t.is(statusOf(plan)?.set.nextScheduledBackup, '2025-03-21T01:00:00Z');
});
