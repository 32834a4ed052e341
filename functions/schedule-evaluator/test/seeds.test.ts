/**
 * The seed behaviours schedule-evaluator owns: seed 004's first reconciliation initialises the
 * status to Pending.
 */
import test from 'ava';
import type { DatabaseBackup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, resourceEvent } from '../../../shared/events.ts';
import { type Action, applyStatus } from '../../../shared/plan.ts';
import { databaseBackup } from '../../../test/builders.ts';
import { startFunction } from '../../../test/function-harness.ts';
import { decide } from '../decide.ts';
import { plan } from '../handle.ts';

const statusOf = (plan: Action[]) =>
  plan.find((a): a is Extract<Action, { type: 'status' }> => a.type === 'status');

test('seed 004: the first evaluation starts the status as lastBackupStatus Pending', (t) => {
  const plan = decide(
    { kind: 'DatabaseBackup', policy: databaseBackup(), backups: [] },
    new Date('2025-03-20T00:30:00Z'),
  );
  const s = statusOf(plan);
  t.truthy(s, 'a status write');
  const next = applyStatus({}, s as Extract<Action, { type: 'status' }>, new Date('2025-03-20T00:30:00Z'));
  t.is(next.lastBackupStatus, 'Pending');
  t.is(next.nextScheduledBackup, '2025-03-20T01:00:00Z');
});

test('seed 004: Pending only initialises: a status that already says Running (job-watcher was first) keeps it', (t) => {
  const plan = decide(
    { kind: 'DatabaseBackup', policy: databaseBackup(), backups: [] },
    new Date('2025-03-20T00:30:00Z'),
  );
  const s = statusOf(plan) as Extract<Action, { type: 'status' }>;
  const next = applyStatus({ lastBackupStatus: 'Running' }, s, new Date('2025-03-20T00:30:00Z'));
  t.is(next.lastBackupStatus, 'Running');
});

test('seed 004: a DatabaseBackup applied through the API reads lastBackupStatus Pending after its add event', async (t) => {
  const fn = await startFunction('schedule-evaluator', plan);
  t.teardown(() => fn.stop());
  const p = databaseBackup('postgres-daily-backup');
  const { object } = await fn.kube.create('DatabaseBackup', {
    ...p,
    metadata: { name: p.metadata.name, namespace: 'default' },
  });
  const res = await fn.post(
    resourceEvent('add', object as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.is(res.status, 204);
  const stored = await fn.kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'postgres-daily-backup');
  t.is(stored?.status?.lastBackupStatus, 'Pending');
  t.truthy(stored?.status?.nextScheduledBackup);
});
