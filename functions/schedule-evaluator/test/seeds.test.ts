/**
 * The seed behaviours schedule-evaluator owns: seed 004's first reconciliation initialises the
 * status to Pending; seed 002's policy without a destination says, before its first run, that the
 * claim it would write to is missing.
 */
import test from 'ava';
import type { BackupPolicy, DatabaseBackup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, pingEvent, resourceEvent } from '../../../shared/events.ts';
import { type Action, applyStatus } from '../../../shared/plan.ts';
import { backupPolicy, databaseBackup } from '../../../test/builders.ts';
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

// ---------------------------------------------------------------------------------------------
// Seed 002: a BackupPolicy that names no destination writes to the claim cairn-backups.

const noDestination = () => {
  const p = backupPolicy('test-backup', { schedule: '*/1 * * * *' });
  delete (p.spec as { storageDestination?: unknown }).storageDestination;
  return p;
};

test('seed 002: a policy with no destination and no cairn-backups claim says so before its first run: Ready=False, a Warning, no Backup', (t) => {
  const plan = decide(
    { kind: 'BackupPolicy', policy: noDestination(), backups: [], claims: { 'cairn-backups': false } },
    new Date('2025-03-20T00:01:10Z'),
  );
  t.false(
    plan.some((a) => a.type === 'create'),
    'no Backup that could only fail',
  );
  const s = statusOf(plan);
  t.like(s?.conditions?.[0], { type: 'Ready', status: 'False', reason: 'DestinationNotFound' });
  t.regex(s?.conditions?.[0]?.message ?? '', /PersistentVolumeClaim cairn-backups/);
  t.regex(s?.conditions?.[0]?.message ?? '', /spec\.storageDestination/);
  t.is(s?.set.nextScheduledBackup, null);
  t.true(
    plan.some((a) => a.type === 'event' && a.eventType === 'Warning' && a.reason === 'DestinationNotFound'),
  );
});

test('seed 002: the claim that appears later lets the policy schedule again', (t) => {
  const plan = decide(
    { kind: 'BackupPolicy', policy: noDestination(), backups: [], claims: { 'cairn-backups': true } },
    new Date('2025-03-20T00:00:30Z'),
  );
  t.like(statusOf(plan)?.conditions?.[0], { type: 'Ready', status: 'True', reason: 'Scheduled' });
});

test('seed 002: through the API, the add event finds the claim missing, and the tick after it is created schedules', async (t) => {
  const fn = await startFunction('schedule-evaluator', plan, '2030-01-01T00:00:30Z');
  t.teardown(() => fn.stop());
  const p = noDestination();
  const { object } = await fn.kube.create('BackupPolicy', {
    ...p,
    metadata: { name: p.metadata.name, namespace: 'default' },
  });
  await fn.post(resourceEvent('add', object as unknown as KubeObjectLike, { source: fn.api.url }));
  const refused = await fn.kube.get<BackupPolicy>('BackupPolicy', 'default', 'test-backup');
  t.like(
    refused?.status?.conditions?.find((c) => c.type === 'Ready'),
    {
      status: 'False',
      reason: 'DestinationNotFound',
    },
  );
  await fn.kube.create('PersistentVolumeClaim', {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'cairn-backups', namespace: 'default' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
  await fn.post(pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: {} }));
  const scheduled = await fn.kube.get<BackupPolicy>('BackupPolicy', 'default', 'test-backup');
  t.like(
    scheduled?.status?.conditions?.find((c) => c.type === 'Ready'),
    {
      status: 'True',
      reason: 'Scheduled',
    },
  );
  t.truthy(scheduled?.status?.nextScheduledBackup);
});
