/**
 * Issue 14, item 5: retention-pruner never loses a result or orphans an artifact — a finished Job
 * is kept until its Backup recorded the result; a Backup deleted while its run goes on (Replace, a
 * person) has its Job stopped first, then whatever the run may have written deleted; and a Backup
 * a running Restore reads is not expired.
 */
import test from 'ava';
import { artifactKeys } from '../../../shared/agent-contract.ts';
import type { Backup, Restore } from '../../../shared/api/index.ts';
import { agentJob, destinationBinding } from '../../../shared/jobs.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import { ARTIFACT_FINALIZER, Labels } from '../../../shared/labels.ts';
import type { Action } from '../../../shared/plan.ts';
import { policyLabels } from '../../../shared/policy.ts';
import { backup, databaseBackup } from '../../../test/builders.ts';
import { decide, type PrunerState } from '../decide.ts';

const ref = { kind: 'DatabaseBackup' as const, name: 'pg' };
const now = new Date('2030-01-01T02:00:00Z');
const dest = { type: 's3' as const, bucket: 'bkt', path: 'db', secretName: 's3' };

/** The backup Job job-launcher makes for a Backup (the agent's own arguments, through shared/jobs.ts). */
function backupJob(
  b: Backup,
  status: Record<string, unknown>,
  spec: Record<string, unknown> = {},
): KubeObject {
  const j = agentJob({
    name: b.metadata.name,
    namespace: 'default',
    owner: b,
    ownerKind: 'Backup',
    labels: {
      ...policyLabels('DatabaseBackup', 'pg'),
      [Labels.backup]: b.metadata.name,
      [Labels.component]: 'backup',
    },
    options: {
      command: 'backup',
      source: { kind: 'postgres', host: 'pg', port: 5432, user: 'u', database: 'app', format: 'custom' },
      destination: destinationBinding(dest).agent,
      policy: 'pg',
      scheduledTime: String(b.spec.scheduledTime),
      backupName: b.metadata.name,
      compression: 'zstd',
    },
    binding: destinationBinding(dest).binding,
    backoffLimit: 2,
    activeDeadlineSeconds: 3600,
  });
  return { ...j, spec: { ...j.spec, ...spec }, status };
}
const complete = { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] };
/** What the agent writes for pg-203001010100: the same keys the agent computes. */
const keys = artifactKeys({
  path: 'db',
  policy: 'pg',
  scheduledTime: '2030-01-01T01:00:00Z',
  extension: 'dump',
  compression: 'zstd',
});

function state(over: Partial<PrunerState>): PrunerState {
  return {
    kind: 'DatabaseBackup',
    name: 'pg',
    namespace: 'default',
    policy: databaseBackup('pg'),
    backups: [],
    jobs: [],
    restores: [],
    ...over,
  };
}
const kinds = (plan: Action[]) =>
  plan.map((a) =>
    a.type === 'create'
      ? `create:${a.kind}`
      : a.type === 'event'
        ? `event:${a.reason}`
        : `${a.type}:${a.kind}/${a.name}`,
  );
const scheduled = (
  name: string,
  time: string,
  status: Backup['status'],
  meta: Partial<Backup['metadata']> = {},
) => backup(name, ref, status, meta, { scheduledTime: time });

test('a finished Job is not deleted before its Backup recorded the result, even with successfulJobsHistoryLimit 0', (t) => {
  const policy = databaseBackup('pg', { successfulJobsHistoryLimit: 0 });
  const running = scheduled('pg-203001010100', '2030-01-01T01:00:00Z', {
    phase: 'Running',
    jobName: 'pg-203001010100',
  });
  const job = backupJob(running, complete);
  t.deepEqual(decide(state({ policy, backups: [running], jobs: [job] }), now), []);
  const recorded = { ...running, status: { ...running.status, phase: 'Completed' as const } };
  t.deepEqual(kinds(decide(state({ policy, backups: [recorded], jobs: [job] }), now)), [
    'delete:Job/pg-203001010100',
  ]);
});

test('a Backup deleted while its Job runs (Replace, a person): the Job is stopped first, then what it may have written is deleted, then the finalizer goes', (t) => {
  const deleting = scheduled(
    'pg-203001010100',
    '2030-01-01T01:00:00Z',
    { phase: 'Running', jobName: 'pg-203001010100', destination: dest },
    { deletionTimestamp: '2030-01-01T01:59:00Z', finalizers: [ARTIFACT_FINALIZER] },
  );
  // 1. Still running: suspended (the Job controller stops its Pods); nothing released yet.
  const step1 = decide(state({ backups: [deleting], jobs: [backupJob(deleting, { active: 1 })] }), now);
  t.deepEqual(kinds(step1), ['patch:Job/pg-203001010100']);
  t.deepEqual((step1[0] as Extract<Action, { type: 'patch' }>).patch, { spec: { suspend: true } });
  // 2. Suspended, its Pod not gone yet: wait.
  t.deepEqual(
    decide(
      state({ backups: [deleting], jobs: [backupJob(deleting, { active: 1 }, { suspend: true })] }),
      now,
    ),
    [],
  );
  // 3. Stopped: the keys the agent would have written are deleted, though no result was recorded.
  const stopped = backupJob(
    deleting,
    { active: 0, conditions: [{ type: 'Suspended', status: 'True' }] },
    { suspend: true },
  );
  const step3 = decide(state({ backups: [deleting], jobs: [stopped] }), now);
  t.deepEqual(kinds(step3), ['create:Job']);
  const args: string[] = (step3[0] as Extract<Action, { type: 'create' }>).object.spec.template.spec
    .containers[0].args;
  t.is(args[0], 'delete');
  t.true(args.includes(keys.key) && args.includes(keys.manifestKey), args.join(' '));
});

test('a Backup deleted after its run uploaded, before the result was recorded: the artifact is deleted, not orphaned', (t) => {
  const deleting = scheduled(
    'pg-203001010100',
    '2030-01-01T01:00:00Z',
    { phase: 'Running', jobName: 'pg-203001010100', destination: dest },
    { deletionTimestamp: '2030-01-01T01:59:00Z', finalizers: [ARTIFACT_FINALIZER] },
  );
  const plan = decide(state({ backups: [deleting], jobs: [backupJob(deleting, complete)] }), now);
  t.deepEqual(kinds(plan), ['create:Job']);
  const args: string[] = (plan[0] as Extract<Action, { type: 'create' }>).object.spec.template.spec
    .containers[0].args;
  t.true(args.includes(keys.key) && args.includes(keys.manifestKey));
});

test('a Backup that never had a Job releases its finalizer at once', (t) => {
  const deleting = scheduled(
    'pg-203001010100',
    '2030-01-01T01:00:00Z',
    {},
    {
      deletionTimestamp: '2030-01-01T01:59:00Z',
      finalizers: [ARTIFACT_FINALIZER],
    },
  );
  t.deepEqual(kinds(decide(state({ backups: [deleting] }), now)), ['patch:Backup/pg-203001010100']);
});

const restoreOf = (name: string, backupName: string, phase?: 'Running' | 'Completed'): Restore => ({
  apiVersion: 'backup.cairn.dev/v1alpha1',
  kind: 'Restore',
  metadata: { name, namespace: 'default' },
  spec: { backupRef: { name: backupName }, target: { pvc: { claimName: 'x' } } },
  ...(phase ? { status: { phase } } : {}),
});

test('retention never deletes a Backup that a running Restore reads', (t) => {
  const policy = databaseBackup('pg', { retention: { keepLast: 1 } });
  const old = scheduled('pg-203001010000', '2030-01-01T00:00:00Z', { phase: 'Completed' });
  const fresh = scheduled('pg-203001010100', '2030-01-01T01:00:00Z', { phase: 'Completed' });
  const reading = restoreOf('back', 'pg-203001010000', 'Running');
  t.deepEqual(decide(state({ policy, backups: [old, fresh], restores: [reading] }), now), []);
  // Not started yet counts too; a finished one does not.
  t.deepEqual(
    decide(state({ policy, backups: [old, fresh], restores: [restoreOf('back', 'pg-203001010000')] }), now),
    [],
  );
  const after = decide(
    state({ policy, backups: [old, fresh], restores: [restoreOf('back', 'pg-203001010000', 'Completed')] }),
    now,
  );
  t.deepEqual(kinds(after), ['delete:Backup/pg-203001010000', 'event:CleanupTriggered']);
});

test('a Backup deleted by hand while a Restore reads it keeps its artifact until the Restore ends', (t) => {
  const deleting = scheduled(
    'pg-203001010000',
    '2030-01-01T00:00:00Z',
    { phase: 'Completed', key: 'db/pg/a.dump.zst', manifestKey: 'db/pg/a.manifest.json', destination: dest },
    { deletionTimestamp: '2030-01-01T01:59:00Z', finalizers: [ARTIFACT_FINALIZER] },
  );
  t.deepEqual(
    decide(state({ backups: [deleting], restores: [restoreOf('back', 'pg-203001010000', 'Running')] }), now),
    [],
  );
  t.deepEqual(kinds(decide(state({ backups: [deleting], restores: [] }), now)), ['create:Job']);
});
