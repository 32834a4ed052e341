/**
 * backupStrategy: snapshot: job-watcher follows a Backup's VolumeSnapshots (the cairn-snapshots
 * ApiServerSource's events, or the tick) to readyToUse or an error, as it follows a Job: phase,
 * what the Backup records of each snapshot, the policy's status, Events and the reply. The
 * VolumeSnapshot status fields are the API's (external-snapshotter client/apis/volumesnapshot/v1).
 */
import test from 'ava';
import { applyYaml } from '../../../local/runtime.ts';
import { installSnapshotCrds } from '../../../local/snapshots/index.ts';
import type { Backup, BackupPolicy, Restore } from '../../../shared/api/index.ts';
import { type KubeObjectLike, pingEvent, resourceEvent } from '../../../shared/events.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, backupPolicy } from '../../../test/builders.ts';
import { apiPutStatus } from '../../../test/fixtures/api.ts';
import { startFunction } from '../../../test/function-harness.ts';
import { decideEvent, decideTick } from '../decide.ts';
import type { PolicyState, RunState } from '../gather.ts';
import { plan } from '../handle.ts';
import { DEADLINE_GRACE_SECONDS } from '../outcome.ts';

const ref = { kind: 'BackupPolicy' as const, name: 'db' };
const START = '2025-03-20T01:00:05Z';
const at = (s: number) => new Date(Date.parse(START) + s * 1000);
const asked = [
  { name: 'db-1-data-db-0', persistentVolumeClaimName: 'data-db-0' },
  { name: 'db-1-data-db-1', persistentVolumeClaimName: 'data-db-1' },
];
const pending = (status: Partial<Backup['status']> = {}) =>
  backup('db-1', ref, { phase: 'Pending', startTime: START, snapshots: asked, ...status });
function snap(name: string, claim: string, status?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshot',
    metadata: { name, namespace: 'default', labels: { 'backup.cairn.dev/backup': 'db-1' } },
    spec: { volumeSnapshotClassName: 'local', source: { persistentVolumeClaimName: claim } },
    ...(status ? { status } : {}),
  };
}
const ready = (name: string, claim: string, created = '2025-03-20T01:00:07Z') =>
  snap(name, claim, {
    boundVolumeSnapshotContentName: `snapcontent-${name}`,
    readyToUse: true,
    restoreSize: '1Gi',
    creationTime: created,
  });
const policy = (spec = {}) => backupPolicy('db', { backupStrategy: 'snapshot', ...spec });
function state(run: Backup, snapshots: KubeObject[], p = policy()) {
  const r: RunState = { kind: 'Backup', run, job: undefined, pods: [], jobDeleted: false, snapshots };
  const ps: PolicyState = { kind: 'BackupPolicy', policy: p, backups: [run], restores: [] };
  return { run: r, policy: ps };
}
const statusOf = (plan: Action[], kind = 'Backup') =>
  plan.find((a): a is Extract<Action, { type: 'status' }> => a.type === 'status' && a.kind === kind);
/** The actions about the Backup itself (its status), not its policy's. */
const onBackup = (plan: Action[]) => plan.filter((a) => a.type !== 'event' && a.kind === 'Backup');
const events = (plan: Action[]) =>
  plan.flatMap((a) => (a.type === 'event' ? [`${a.involved.kind}:${a.eventType}:${a.reason}`] : []));

test('all snapshots readyToUse: the Backup is Completed with each snapshot, its restoreSize and time', (t) => {
  const d = decideEvent(
    state(pending(), [
      ready('db-1-data-db-0', 'data-db-0', '2025-03-20T01:00:06Z'),
      ready('db-1-data-db-1', 'data-db-1', '2025-03-20T01:00:09Z'),
    ]),
    at(10),
  );
  const s = statusOf(d.plan);
  t.like(s?.set, {
    phase: 'Completed',
    completionTime: '2025-03-20T01:00:09Z',
    durationSeconds: 4,
    sizeBytes: 2 * 1024 ** 3,
  });
  t.deepEqual(s?.set.snapshots, [
    {
      name: 'db-1-data-db-0',
      persistentVolumeClaimName: 'data-db-0',
      volumeSnapshotClassName: 'local',
      readyToUse: true,
      restoreSize: '1Gi',
      creationTime: '2025-03-20T01:00:06Z',
    },
    {
      name: 'db-1-data-db-1',
      persistentVolumeClaimName: 'data-db-1',
      volumeSnapshotClassName: 'local',
      readyToUse: true,
      restoreSize: '1Gi',
      creationTime: '2025-03-20T01:00:09Z',
    },
  ]);
  t.like(s?.conditions?.[0], { type: 'Ready', status: 'True', reason: 'BackupCompleted' });
  t.deepEqual(events(d.plan), ['Backup:Normal:BackupCompleted', 'BackupPolicy:Normal:BackupCompleted']);
  t.regex(
    String(
      d.plan.find((a) => a.type === 'event' && a.involved.kind === 'Backup')?.type === 'event'
        ? (
            d.plan.find((a) => a.type === 'event' && a.involved.kind === 'Backup') as Extract<
              Action,
              { type: 'event' }
            >
          ).message
        : '',
    ),
    /2 VolumeSnapshots ready: db-1-data-db-0 of claim data-db-0 \(1Gi\)/,
  );
  t.is(d.reply?.type, 'dev.cairn.backup.completed');
  t.like(statusOf(d.plan, 'BackupPolicy')?.set, {
    lastBackupStatus: 'Succeeded',
    lastSuccessfulBackup: 'db-1',
  });
});

test("a snapshot's error fails the Backup with it, on the Backup, the policy and in an Event", (t) => {
  const failing = snap('db-1-data-db-1', 'data-db-1', {
    readyToUse: false,
    error: { message: 'failed to take snapshot: disk array offline', time: '2025-03-20T01:00:08Z' },
  });
  const d = decideEvent(state(pending(), [ready('db-1-data-db-0', 'data-db-0'), failing]), at(10));
  const s = statusOf(d.plan);
  t.like(s?.set, { phase: 'Failed', reason: 'SnapshotFailed' });
  t.is(
    s?.set.message,
    'VolumeSnapshot db-1-data-db-1 of claim data-db-1: failed to take snapshot: disk array offline',
  );
  t.like((s?.set.snapshots as unknown[])?.[1], {
    readyToUse: false,
    error: 'failed to take snapshot: disk array offline',
  });
  t.deepEqual(events(d.plan), ['Backup:Warning:BackupFailed', 'BackupPolicy:Warning:BackupFailed']);
  t.is(d.reply?.type, 'dev.cairn.backup.failed');
  t.like(statusOf(d.plan, 'BackupPolicy')?.set, { lastBackupStatus: 'Failed' });
  t.regex(String(statusOf(d.plan, 'BackupPolicy')?.set.failureReason), /disk array offline/);
});

test('snapshots on their way: Running, BackupStarted once', (t) => {
  const d = decideEvent(
    state(pending(), [ready('db-1-data-db-0', 'data-db-0'), snap('db-1-data-db-1', 'data-db-1')]),
    at(3),
  );
  t.like(statusOf(d.plan)?.set, { phase: 'Running' });
  t.deepEqual(events(d.plan), ['Backup:Normal:BackupStarted', 'BackupPolicy:Normal:BackupStarted']);
  const running = pending({ phase: 'Running' });
  t.deepEqual(
    decideEvent(
      state(running, [ready('db-1-data-db-0', 'data-db-0'), snap('db-1-data-db-1', 'data-db-1')]),
      at(4),
    ).plan.filter((a) => a.type === 'event' || a.kind === 'Backup'),
    [],
  );
});

test('a snapshot deleted before it was ready fails the Backup', (t) => {
  const d = decideEvent(state(pending({ phase: 'Running' }), [ready('db-1-data-db-0', 'data-db-0')]), at(5));
  t.like(statusOf(d.plan)?.set, { phase: 'Failed', reason: 'SnapshotDeleted' });
  t.regex(
    String(statusOf(d.plan)?.set.message),
    /VolumeSnapshot db-1-data-db-1 of claim data-db-1 was deleted/,
  );
});

test("snapshots never ready within the policy's activeDeadlineSeconds fail the Backup DeadlineExceeded", (t) => {
  const stuck = [snap('db-1-data-db-0', 'data-db-0'), snap('db-1-data-db-1', 'data-db-1')];
  const p = policy({ activeDeadlineSeconds: 600 });
  t.deepEqual(onBackup(decideEvent(state(pending({ phase: 'Running' }), stuck, p), at(600)).plan), []);
  const d = decideEvent(state(pending({ phase: 'Running' }), stuck, p), at(600 + DEADLINE_GRACE_SECONDS + 1));
  t.like(statusOf(d.plan)?.set, { phase: 'Failed', reason: 'DeadlineExceeded' });
});

test('a finished snapshot Backup is not changed by later snapshot events, and the tick leaves it', (t) => {
  const done = backup('db-1', ref, { phase: 'Completed', snapshots: asked });
  t.deepEqual(onBackup(decideEvent(state(done, []), at(9)).plan), []);
  const s = state(pending({ phase: 'Running' }), [
    ready('db-1-data-db-0', 'data-db-0'),
    snap('db-1-data-db-1', 'data-db-1'),
  ]);
  // The tick an hour before the deadline: a snapshot run has no Job and that is no failure.
  const parts = decideTick(
    { runs: [s.run], policies: [s.policy], backups: [s.run.run as Backup], restores: [] },
    at(900),
  );
  t.false(
    parts.some((p) =>
      p.plan.some((a) => a.type === 'status' && a.kind === 'Backup' && a.set.phase === 'Failed'),
    ),
  );
});

// ---------------------------------------------------------------------------------------------
// Over HTTP, with the snapshot CRDs installed in the emulator.

async function world() {
  const fn = await startFunction('job-watcher', plan, '2030-01-01T00:01:00Z');
  await installSnapshotCrds((texts) => applyYaml(fn.kubeconfig, texts));
  const p = policy();
  await fn.kube.create<BackupPolicy>('BackupPolicy', {
    ...p,
    metadata: { name: 'db', namespace: 'default' },
  });
  const b = backup('db-1', ref);
  const { object } = await fn.kube.create('Backup', {
    ...b,
    metadata: { name: 'db-1', namespace: 'default', labels: b.metadata.labels ?? {} },
  });
  await apiPutStatus(fn.api, '/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/db-1', object, {
    phase: 'Pending',
    startTime: '2030-01-01T00:00:50Z',
    snapshots: [asked[0]],
  });
  const vs = snap('db-1-data-db-0', 'data-db-0');
  const { object: created } = await fn.kube.create('VolumeSnapshot', {
    ...vs,
    metadata: { ...vs.metadata, labels: { ...b.metadata.labels, 'backup.cairn.dev/backup': 'db-1' } },
  });
  const updated = await apiPutStatus<KubeObject>(
    fn.api,
    '/apis/snapshot.storage.k8s.io/v1/namespaces/default/volumesnapshots/db-1-data-db-0',
    created,
    { readyToUse: true, restoreSize: '1Gi', creationTime: '2030-01-01T00:00:55Z' },
  );
  return { fn, updated };
}

test('a VolumeSnapshot update event over HTTP completes its Backup and replies backup.completed', async (t) => {
  const { fn, updated } = await world();
  t.teardown(() => fn.stop());
  const res = await fn.post(
    resourceEvent('update', updated as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.is(res.status, 200);
  t.is(res.headers.get('ce-type'), 'dev.cairn.backup.completed');
  const b = await fn.kube.get<Backup>('Backup', 'default', 'db-1');
  t.like(b?.status, { phase: 'Completed', sizeBytes: 1024 ** 3 });
  t.like(b?.status?.snapshots?.[0], {
    readyToUse: true,
    restoreSize: '1Gi',
    creationTime: '2030-01-01T00:00:55Z',
  });
});

test('the tick completes it too, when the event was lost', async (t) => {
  const { fn } = await world();
  t.teardown(() => fn.stop());
  await fn.post(pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: {} }));
  t.is((await fn.kube.get<Backup>('Backup', 'default', 'db-1'))?.status?.phase, 'Completed');
});

// ---------------------------------------------------------------------------------------------
// A Restore of a snapshot Backup: restore-runner created the claim from the VolumeSnapshot; it is
// restored once the claim is Bound.

const restoring = (spec: Partial<Restore['spec']> = {}): Restore => ({
  apiVersion: 'backup.cairn.dev/v1alpha1',
  kind: 'Restore',
  metadata: { name: 'back', namespace: 'default', uid: 'uid-back', creationTimestamp: START },
  spec: { backupRef: { name: 'db-1' }, target: { pvc: { claimName: 'restored' } }, ...spec },
  status: { phase: 'Pending', startTime: START, claimName: 'restored', volumeSnapshotName: 'db-1-data-db-0' },
});
const claim = (phase?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name: 'restored', namespace: 'default', labels: { 'backup.cairn.dev/restore': 'back' } },
  spec: {
    dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'db-1-data-db-0' },
  },
  ...(phase ? { status: { phase, ...(phase === 'Bound' ? { capacity: { storage: '2Gi' } } : {}) } } : {}),
});
const restoreState = (r: Restore, c: KubeObject | undefined) => ({
  run: {
    kind: 'Restore' as const,
    run: r,
    job: undefined,
    pods: [],
    jobDeleted: false,
    claim: c,
    claimRestore: true,
  },
});

test('a snapshot Restore is Running while its claim is Pending, and Completed once the claim is Bound', (t) => {
  const running = decideEvent(restoreState(restoring(), claim('Pending')), at(2));
  t.like(statusOf(running.plan, 'Restore')?.set, { phase: 'Running' });
  t.deepEqual(events(running.plan), ['Restore:Normal:RestoreStarted']);
  const done = decideEvent(restoreState(restoring(), claim('Bound')), at(6));
  t.like(statusOf(done.plan, 'Restore')?.set, {
    phase: 'Completed',
    completionTime: '2025-03-20T01:00:11Z',
    durationSeconds: 6,
    restoredBytes: 2 * 1024 ** 3,
  });
  t.deepEqual(events(done.plan), ['Restore:Normal:RestoreCompleted']);
  t.is(done.reply?.type, 'dev.cairn.restore.completed');
});

test('a snapshot Restore fails when its claim is deleted, or is not Bound within activeDeadlineSeconds', (t) => {
  const gone = decideEvent(restoreState(restoring(), undefined), at(5));
  t.like(statusOf(gone.plan, 'Restore')?.set, { phase: 'Failed', reason: 'ClaimDeleted' });
  const late = decideEvent(
    restoreState(restoring({ activeDeadlineSeconds: 60 }), claim('Pending')),
    at(60 + DEADLINE_GRACE_SECONDS + 1),
  );
  t.like(statusOf(late.plan, 'Restore')?.set, { phase: 'Failed', reason: 'DeadlineExceeded' });
  t.regex(String(statusOf(late.plan, 'Restore')?.set.message), /WaitForFirstConsumer/);
});

test("a claim's update event over HTTP completes the snapshot Restore it belongs to", async (t) => {
  const fn = await startFunction('job-watcher', plan, '2030-01-01T00:01:00Z');
  t.teardown(() => fn.stop());
  const r = restoring();
  const { object } = await fn.kube.create<Restore>('Restore', {
    ...r,
    metadata: { name: 'back', namespace: 'default' },
    status: undefined,
  } as Restore);
  await fn.kube.replaceStatus('Restore', {
    ...object,
    status: { ...r.status, startTime: '2030-01-01T00:00:50Z' },
  });
  const c = claim();
  const { object: pvc } = await fn.kube.create('PersistentVolumeClaim', {
    ...c,
    spec: { ...c.spec, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } },
  });
  const put = apiPutStatus<KubeObject>(
    fn.api,
    '/api/v1/namespaces/default/persistentvolumeclaims/restored',
    pvc,
    {
      phase: 'Bound',
      capacity: { storage: '2Gi' },
    },
  );
  await t.notThrowsAsync(put);
  const bound = await put;
  const answer = await fn.post(
    resourceEvent('update', bound as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.is(answer.headers.get('ce-type'), 'dev.cairn.restore.completed');
  t.is((await fn.kube.get<Restore>('Restore', 'default', 'back'))?.status?.phase, 'Completed');
});
