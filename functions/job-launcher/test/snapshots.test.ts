/**
 * backupStrategy: snapshot (seed 002): instead of an agent Job, a CSI VolumeSnapshot
 * (snapshot.storage.k8s.io/v1) of each selected claim, which job-watcher follows.
 */
import test from 'ava';
import type { Action } from '../../../shared/plan.ts';
import { backup, backupPolicy } from '../../../test/builders.ts';
import { decide, type LaunchState } from '../decide.ts';

const now = new Date('2025-03-20T01:00:05Z');
const ref = { kind: 'BackupPolicy' as const, name: 'db' };
const policy = (spec = {}) => backupPolicy('db', { backupStrategy: 'snapshot', ...spec });
const state = (over: Partial<LaunchState> = {}): LaunchState => ({
  backup: backup(
    'db-202503200100',
    ref,
    {},
    { resourceVersion: '7' },
    { scheduledTime: '2025-03-20T01:00:00Z' },
  ),
  policy: policy(),
  endpoints: [],
  claims: {},
  selectedClaims: ['data-db-0', 'data-db-1'],
  ...over,
});
const creates = (plan: Action[]) => plan.flatMap((a) => (a.type === 'create' ? [a] : []));

test('one VolumeSnapshot per selected claim, named from the Backup, owned by it, labelled for the cairn-snapshots source; no Job', (t) => {
  const plan = decide(state({ policy: policy({ volumeSnapshotClassName: 'csi-fast' }) }), now);
  const made = creates(plan);
  t.deepEqual(
    made.map((c) => c.kind),
    ['VolumeSnapshot', 'VolumeSnapshot'],
  );
  t.deepEqual(
    made.map((c) => c.object.metadata.name),
    ['db-202503200100-data-db-0', 'db-202503200100-data-db-1'],
  );
  const vs = made[0]?.object;
  t.is(vs?.apiVersion, 'snapshot.storage.k8s.io/v1');
  t.deepEqual(vs?.spec, {
    volumeSnapshotClassName: 'csi-fast',
    source: { persistentVolumeClaimName: 'data-db-0' },
  });
  t.like(vs?.metadata.labels, {
    'app.kubernetes.io/managed-by': 'cairn',
    'backup.cairn.dev/policy': 'db',
    'backup.cairn.dev/backup': 'db-202503200100',
    'backup-policy': 'db',
    pvc: 'data-db-0',
  });
  t.like(vs?.metadata.ownerReferences?.[0], { kind: 'Backup', name: 'db-202503200100', controller: true });
});

test("without volumeSnapshotClassName the snapshot names no class: the cluster's default is used", (t) => {
  const vs = creates(decide(state(), now))[0]?.object;
  t.deepEqual(vs?.spec, { source: { persistentVolumeClaimName: 'data-db-0' } });
});

test('the Backup records its snapshots and when they were asked for; the status goes after the creates', (t) => {
  const plan = decide(state(), now);
  const i = plan.findIndex((a) => a.type === 'status');
  t.true(i > plan.findLastIndex((a) => a.type === 'create'));
  const s = plan[i];
  t.like(s?.type === 'status' ? s.set : {}, {
    phase: 'Pending',
    startTime: '2025-03-20T01:00:05Z',
    snapshots: [
      { name: 'db-202503200100-data-db-0', persistentVolumeClaimName: 'data-db-0' },
      { name: 'db-202503200100-data-db-1', persistentVolumeClaimName: 'data-db-1' },
    ],
  });
  t.true(plan.some((a) => a.type === 'event' && a.reason === 'SnapshotsCreated'));
});

test('a snapshot policy writes to no claim: a missing cairn-backups is no reason to fail', (t) => {
  const plan = decide(state({ claims: {} }), now);
  t.false(plan.some((a) => a.type === 'status' && a.set.phase === 'Failed'));
});

test('no claim matches: VolumeNotFound, as for tar', (t) => {
  const plan = decide(state({ selectedClaims: [] }), now);
  t.like(
    plan.find((a) => a.type === 'status'),
    { set: { phase: 'Failed', reason: 'VolumeNotFound' } },
  );
  t.deepEqual(creates(plan), []);
});

test('a Backup whose snapshots were asked for is not launched again', (t) => {
  const asked = backup('db-202503200100', ref, {
    phase: 'Pending',
    snapshots: [{ name: 'db-202503200100-data-db-0', persistentVolumeClaimName: 'data-db-0' }],
  });
  t.deepEqual(decide(state({ backup: asked }), now), []);
});
