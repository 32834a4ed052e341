/**
 * backupStrategy: snapshot: what deleting a snapshot Backup deletes. Its VolumeSnapshots go first
 * (the CSI snapshot controller then deletes their contents, under the class's deletionPolicy
 * Delete), and the Backup's finalizer is released only once they are gone; deletionPolicy Retain
 * keeps them, orphaned from the Backup so garbage collection leaves them too.
 */
import test from 'ava';
import { applyYaml } from '../../../local/runtime.ts';
import { installSnapshotCrds } from '../../../local/snapshots/index.ts';
import type { Backup, BackupPolicy } from '../../../shared/api/index.ts';
import { type KubeObjectLike, resourceEvent } from '../../../shared/events.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import { ARTIFACT_FINALIZER } from '../../../shared/labels.ts';
import type { Action } from '../../../shared/plan.ts';
import { policyLabels } from '../../../shared/policy.ts';
import { backup, backupPolicy } from '../../../test/builders.ts';
import { startFunction } from '../../../test/function-harness.ts';
import { decide, type PrunerState } from '../decide.ts';
import { plan } from '../handle.ts';

const ref = { kind: 'BackupPolicy' as const, name: 'db' };
const now = new Date('2030-01-01T02:00:00Z');
const records = [
  { name: 'db-1-data-db-0', persistentVolumeClaimName: 'data-db-0', readyToUse: true, restoreSize: '1Gi' },
  { name: 'db-1-data-db-1', persistentVolumeClaimName: 'data-db-1', readyToUse: true, restoreSize: '1Gi' },
];
const deleting = (spec = {}) =>
  backup(
    'db-1',
    ref,
    { phase: 'Completed', snapshots: records },
    { deletionTimestamp: '2030-01-01T01:59:00Z', finalizers: [ARTIFACT_FINALIZER] },
    spec,
  );
const vs = (name: string, meta: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'snapshot.storage.k8s.io/v1',
  kind: 'VolumeSnapshot',
  metadata: {
    name,
    namespace: 'default',
    labels: { ...policyLabels('BackupPolicy', 'db'), 'backup.cairn.dev/backup': 'db-1' },
    ownerReferences: [
      {
        apiVersion: 'backup.cairn.dev/v1alpha1',
        kind: 'Backup',
        name: 'db-1',
        uid: 'uid-db-1',
        controller: true,
      },
    ],
    ...meta,
  },
  spec: { source: { persistentVolumeClaimName: 'x' } },
});
const state = (
  b: Backup,
  snapshots: KubeObject[],
  policy = backupPolicy('db', { backupStrategy: 'snapshot' }),
): PrunerState => ({
  kind: 'BackupPolicy',
  name: 'db',
  namespace: 'default',
  policy,
  backups: [b],
  jobs: [],
  restores: [],
  snapshots,
});
const summary = (p: Action[]) =>
  p.map((a) =>
    a.type === 'event'
      ? `event:${a.reason}`
      : `${a.type}:${a.kind}/${a.type === 'create' ? a.object.metadata.name : a.name}`,
  );

test("a snapshot Backup being deleted deletes its VolumeSnapshots first, and keeps its finalizer until they're gone", (t) => {
  const p = decide(state(deleting(), [vs('db-1-data-db-0'), vs('db-1-data-db-1')]), now);
  t.deepEqual(summary(p), ['delete:VolumeSnapshot/db-1-data-db-0', 'delete:VolumeSnapshot/db-1-data-db-1']);
  t.false(
    p.some((a) => a.type === 'create'),
    'no prune Job: there is no artifact in a store',
  );
});

test('a VolumeSnapshot already being deleted is waited for, not deleted again', (t) => {
  const p = decide(
    state(deleting(), [vs('db-1-data-db-0', { deletionTimestamp: '2030-01-01T01:59:30Z' })]),
    now,
  );
  t.deepEqual(p, []);
});

test('once its VolumeSnapshots are gone, the Backup is released', (t) => {
  const p = decide(state(deleting(), []), now);
  t.deepEqual(summary(p), ['patch:Backup/db-1']);
  const patch = p[0]?.type === 'patch' ? p[0].patch : {};
  t.deepEqual(patch, { metadata: { finalizers: [] } });
});

test('deletionPolicy Retain: the VolumeSnapshots stay, no longer owned by the Backup, and the Backup goes', (t) => {
  const p = decide(state(deleting({ deletionPolicy: 'Retain' }), [vs('db-1-data-db-0')]), now);
  t.deepEqual(summary(p), ['patch:VolumeSnapshot/db-1-data-db-0', 'patch:Backup/db-1']);
  t.deepEqual(p[0]?.type === 'patch' ? p[0].patch : {}, { metadata: { ownerReferences: [] } });
});

test('retention expires completed snapshot Backups as any other (retentionCount)', (t) => {
  const older = backup(
    'db-1',
    ref,
    { phase: 'Completed', snapshots: records },
    {},
    { scheduledTime: '2030-01-01T00:00:00Z' },
  );
  const newer = backup(
    'db-2',
    ref,
    { phase: 'Completed', snapshots: records },
    {},
    { scheduledTime: '2030-01-01T01:00:00Z' },
  );
  const s = { ...state(older, []), backups: [older, newer] };
  s.policy = backupPolicy('db', { backupStrategy: 'snapshot', retentionCount: 1 });
  t.deepEqual(summary(decide(s, now)), ['delete:Backup/db-1', 'event:CleanupTriggered']);
});

test('the delete event of the last VolumeSnapshot, over HTTP, releases the Backup', async (t) => {
  const fn = await startFunction('retention-pruner', plan, '2030-01-01T02:00:00Z');
  t.teardown(() => fn.stop());
  await installSnapshotCrds((texts) => applyYaml(fn.kubeconfig, texts));
  const p = backupPolicy('db', { backupStrategy: 'snapshot' });
  await fn.kube.create<BackupPolicy>('BackupPolicy', {
    ...p,
    metadata: { name: 'db', namespace: 'default' },
  });
  const b = deleting();
  await fn.kube.create('Backup', {
    ...b,
    metadata: {
      name: 'db-1',
      namespace: 'default',
      labels: b.metadata.labels ?? {},
      finalizers: [ARTIFACT_FINALIZER],
    },
    status: undefined,
  });
  // Status as job-watcher left it, then a person deletes it.
  const current = (await fn.kube.get<Backup>('Backup', 'default', 'db-1')) as Backup;
  await fn.kube.replaceStatus('Backup', { ...current, status: b.status });
  await fn.kube.delete('Backup', 'default', 'db-1');
  const gone = vs('db-1-data-db-1');
  const res = await fn.post(
    resourceEvent('delete', gone as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.is(res.status, 204);
  t.is(await fn.kube.get('Backup', 'default', 'db-1'), undefined, 'released and gone');
});
