/**
 * A Restore of a snapshot Backup (backupStrategy: snapshot) creates the target claim with the
 * VolumeSnapshot as its dataSource, as Kubernetes restores a snapshot; the CSI driver fills it
 * and job-watcher completes the Restore once the claim is Bound. A claim that exists already is
 * accepted only when it was created from that snapshot (dataSource is set at creation).
 */
import test from 'ava';
import type { Backup, Restore } from '../../../shared/api/index.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, backupPolicy } from '../../../test/builders.ts';
import { decide, type RestoreState } from '../decide.ts';

const now = new Date('2030-01-01T03:00:00Z');
const ref = { kind: 'BackupPolicy' as const, name: 'db' };
const rec = (claim: string) => ({
  name: `db-1-${claim}`,
  persistentVolumeClaimName: claim,
  readyToUse: true,
  restoreSize: '2Gi',
  creationTime: '2030-01-01T01:00:02Z',
});
const snapBackup = (claims = ['data-db-0']) =>
  backup('db-1', ref, { phase: 'Completed', snapshots: claims.map(rec), sizeBytes: 2 * 1024 ** 3 });
const vs = (name: string): KubeObject => ({
  apiVersion: 'snapshot.storage.k8s.io/v1',
  kind: 'VolumeSnapshot',
  metadata: { name, namespace: 'default' },
  spec: { source: { persistentVolumeClaimName: 'data-db-0' } },
  status: { readyToUse: true, restoreSize: '2Gi' },
});
const restore = (
  pvc: NonNullable<Restore['spec']['target']['pvc']>,
  extra: Partial<Restore['spec']> = {},
): Restore => ({
  apiVersion: 'backup.cairn.dev/v1alpha1',
  kind: 'Restore',
  metadata: { name: 'back', namespace: 'default', uid: 'uid-back' },
  spec: { backupRef: { name: 'db-1' }, target: { pvc }, ...extra },
});
const state = (r: Restore, b: Backup = snapBackup(), over: Partial<RestoreState> = {}): RestoreState => ({
  restore: r,
  backup: b,
  policy: backupPolicy('db', { backupStrategy: 'snapshot' }),
  claims: {},
  snapshots: { 'db-1-data-db-0': vs('db-1-data-db-0'), 'db-1-data-db-1': vs('db-1-data-db-1') },
  targetClaim: undefined,
  ...over,
});
const statusOf = (plan: Action[]) =>
  plan.find((a): a is Extract<Action, { type: 'status' }> => a.type === 'status');
const refusal = (plan: Action[]) => {
  const s = statusOf(plan);
  return s?.set.phase === 'Failed' ? String(s.set.message) : undefined;
};

test('into a claim that does not exist: it is created with the VolumeSnapshot as dataSource, of its restoreSize; no Job', (t) => {
  const plan = decide(state(restore({ claimName: 'restored', storageClassName: 'csi-fast' })), now);
  const creates = plan.filter((a) => a.type === 'create');
  t.deepEqual(
    creates.map((c) => (c.type === 'create' ? c.kind : '')),
    ['PersistentVolumeClaim'],
  );
  const claim = creates[0]?.type === 'create' ? creates[0].object : undefined;
  t.like(claim?.metadata, {
    name: 'restored',
    namespace: 'default',
    labels: { 'app.kubernetes.io/managed-by': 'cairn', 'backup.cairn.dev/restore': 'back' },
  });
  t.deepEqual(claim?.spec, {
    accessModes: ['ReadWriteOnce'],
    resources: { requests: { storage: '2Gi' } },
    storageClassName: 'csi-fast',
    dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'db-1-data-db-0' },
  });
  t.false(claim?.metadata.ownerReferences !== undefined, 'the restored data outlives the Restore');
  t.like(statusOf(plan)?.set, {
    phase: 'Pending',
    startTime: '2030-01-01T03:00:00Z',
    claimName: 'restored',
    volumeSnapshotName: 'db-1-data-db-0',
  });
  t.true(plan.some((a) => a.type === 'event' && a.reason === 'ClaimCreated'));
});

test('into a claim already created from that snapshot: it is filled by the driver, nothing is created', (t) => {
  const existing: KubeObject = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'restored', namespace: 'default' },
    spec: {
      dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'db-1-data-db-0' },
    },
  };
  const plan = decide(
    state(restore({ claimName: 'restored' }), snapBackup(), { targetClaim: existing }),
    now,
  );
  t.false(plan.some((a) => a.type === 'create'));
  t.like(statusOf(plan)?.set, {
    phase: 'Pending',
    claimName: 'restored',
    volumeSnapshotName: 'db-1-data-db-0',
  });
});

test('into another claim that exists: refused, since only a new claim can be filled from a snapshot', (t) => {
  const other: KubeObject = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'data-db-0' },
    spec: {},
  };
  t.regex(
    refusal(decide(state(restore({ claimName: 'data-db-0' }), snapBackup(), { targetClaim: other }), now)) ??
      '',
    /PersistentVolumeClaim data-db-0 exists.*new claim/,
  );
});

test('a Backup of several claims: sourceClaimName picks the snapshot; without it the Restore is refused, naming them', (t) => {
  const two = snapBackup(['data-db-0', 'data-db-1']);
  t.regex(
    refusal(decide(state(restore({ claimName: 'restored' }), two), now)) ?? '',
    /snapshots of claims data-db-0, data-db-1: set spec\.target\.pvc\.sourceClaimName/,
  );
  const plan = decide(state(restore({ claimName: 'restored', sourceClaimName: 'data-db-1' }), two), now);
  t.like(statusOf(plan)?.set, { volumeSnapshotName: 'db-1-data-db-1' });
  t.regex(
    refusal(decide(state(restore({ claimName: 'restored', sourceClaimName: 'nope' }), two), now)) ?? '',
    /has no snapshot of claim nope/,
  );
});

test('a snapshot restores a whole claim: a database target or a path is refused, and a snapshot that is gone', (t) => {
  t.regex(
    refusal(
      decide(
        state({
          ...restore({ claimName: 'x' }),
          spec: { backupRef: { name: 'db-1' }, target: { database: { host: 'h', name: 'd' } } },
        }),
        now,
      ),
    ) ?? '',
    /volume backup can only be restored into a pvc target/,
  );
  t.regex(refusal(decide(state(restore({ claimName: 'restored', path: 'sub' })), now)) ?? '', /whole claim/);
  t.regex(
    refusal(decide(state(restore({ claimName: 'restored' }), snapBackup(), { snapshots: {} }), now)) ?? '',
    /VolumeSnapshot db-1-data-db-0 no longer exists/,
  );
});
