/**
 * backupStrategy: snapshot (seed 002) end to end on the local runtime: job-launcher takes a CSI
 * VolumeSnapshot of each selected claim, job-watcher follows them through the cairn-snapshots
 * ApiServerSource to readyToUse (or error), retention deletes them before their Backup, and a
 * Restore creates a claim whose dataSource is one of them. The local CSI snapshot controller
 * (local/snapshots/) copies a claim's folder; a class with the parameter local.cairn.dev/fail
 * fails every snapshot.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { FAIL_PARAMETER } from '../../local/snapshots/index.ts';
import type { Backup, BackupPolicy, Restore } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { names, startE2E, waitFor } from './helpers.ts';

const pvc = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace: 'default', labels },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
});
const snapshotPolicy = (name: string, spec: Partial<BackupPolicy['spec']> = {}): BackupPolicy => ({
  apiVersion: 'backup.cairn.dev/v1alpha1',
  kind: 'BackupPolicy',
  metadata: { name, namespace: 'default' },
  spec: {
    schedule: '* * * * *',
    pvcSelector: { matchLabels: { app: 'db' } },
    backupStrategy: 'snapshot',
    ...spec,
  },
});

test('snapshot backups: Completed with a VolumeSnapshot per claim, pruned with them, restored into a new claim', async (t) => {
  const e2e = await startE2E('2030-04-01T00:00:30Z');
  t.teardown(() => e2e.stop());
  const kube = e2e.runtime.kube;
  const volumes = join(e2e.stateDir, 'volumes', 'default');
  for (const [claim, text] of [
    ['db-0', 'zero\n'],
    ['db-1', 'one\n'],
  ] as const) {
    await mkdir(join(volumes, claim), { recursive: true });
    await writeFile(join(volumes, claim, 'data.txt'), text);
    await kube.create('PersistentVolumeClaim', pvc(claim, { app: 'db' }));
  }
  // No destination and no cairn-backups claim: a snapshot policy writes to none.
  await kube.create('BackupPolicy', snapshotPolicy('db', { retentionCount: 1 }));
  await waitFor(
    'the policy to be scheduled',
    async () => (await kube.get<BackupPolicy>('BackupPolicy', 'default', 'db'))?.status?.nextScheduledBackup,
  );

  const first = await e2e.nextRun('db');
  t.is(first.status?.phase, 'Completed', first.status?.message);
  const snaps = first.status?.snapshots ?? [];
  t.deepEqual(snaps.map((s) => s.persistentVolumeClaimName).sort(), ['db-0', 'db-1']);
  for (const s of snaps) {
    t.like(s, { readyToUse: true, restoreSize: '1Gi' });
    t.regex(s.creationTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const vs = await kube.get('VolumeSnapshot', 'default', s.name);
    t.like(vs?.metadata.labels, {
      'app.kubernetes.io/managed-by': 'cairn',
      'backup.cairn.dev/backup': first.metadata.name,
      'backup-policy': 'db',
      pvc: s.persistentVolumeClaimName,
    });
    t.like(vs?.metadata.ownerReferences?.[0], {
      kind: 'Backup',
      name: first.metadata.name,
      controller: true,
    });
  }
  t.is((await kube.list('Job', 'default')).length, 0, 'no agent Job for a snapshot');
  const policy = await kube.get<BackupPolicy>('BackupPolicy', 'default', 'db');
  t.like(policy?.status, { lastBackupStatus: 'Succeeded', lastSuccessfulBackup: first.metadata.name });

  // The snapshot is a point in time: what the claim holds later is not in it.
  await writeFile(join(volumes, 'db-0', 'data.txt'), 'changed\n');
  const fromDb0 = snaps.find((s) => s.persistentVolumeClaimName === 'db-0');
  await kube.create<Restore>('Restore', {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'db-0-back', namespace: 'default' },
    spec: {
      backupRef: { name: first.metadata.name },
      target: { pvc: { claimName: 'db-0-restored', sourceClaimName: 'db-0' } },
    },
  });
  const restored = await waitFor('the Restore to finish', async () => {
    await e2e.runtime.tick();
    const r = await kube.get<Restore>('Restore', 'default', 'db-0-back');
    return r?.status?.phase === 'Completed' || r?.status?.phase === 'Failed' ? r : undefined;
  });
  t.is(restored.status?.phase, 'Completed', restored.status?.message);
  const claim = await kube.get('PersistentVolumeClaim', 'default', 'db-0-restored');
  t.like(claim?.spec.dataSource, {
    apiGroup: 'snapshot.storage.k8s.io',
    kind: 'VolumeSnapshot',
    name: fromDb0?.name,
  });
  t.is(claim?.status?.phase, 'Bound');
  t.is(await readFile(join(volumes, 'db-0-restored', 'data.txt'), 'utf8'), 'zero\n');

  // retentionCount 1: the next run's completion deletes the first Backup, its snapshots first.
  const second = await e2e.nextRun('db');
  t.is(second.status?.phase, 'Completed', second.status?.message);
  await waitFor('the first Backup to be pruned', async () => {
    await e2e.runtime.tick();
    return (await kube.get('Backup', 'default', first.metadata.name)) ? undefined : true;
  });
  t.deepEqual(names(await kube.list<Backup>('Backup', 'default')), [second.metadata.name]);
  const left = names(await kube.list('VolumeSnapshot', 'default'));
  for (const s of snaps) t.false(left.includes(s.name), `${s.name} is still there`);
  t.is(left.length, 2, 'the second run keeps its two');
  // The local controller deleted the copies with their contents.
  const copies = await readdir(join(e2e.stateDir, 'snapshots')).catch(() => []);
  t.is(copies.length, 2, copies.join(', '));
});

test('a snapshot class that fails gives a Failed Backup with the reason, on the policy and in an Event', async (t) => {
  const e2e = await startE2E('2030-04-01T00:00:30Z');
  t.teardown(() => e2e.stop());
  const kube = e2e.runtime.kube;
  const cls = `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: broken}
driver: local.cairn.dev
deletionPolicy: Delete
parameters:
  ${FAIL_PARAMETER}: disk array offline
`;
  await new Promise<void>((resolve, reject) => {
    const child = execFile('kubectl', ['--kubeconfig', e2e.runtime.kubeconfig, 'apply', '-f', '-'], (err) =>
      err ? reject(err) : resolve(),
    );
    child.stdin?.end(cls);
  });
  await kube.create('PersistentVolumeClaim', pvc('db-0', { app: 'db' }));
  await kube.create('BackupPolicy', snapshotPolicy('broken', { volumeSnapshotClassName: 'broken' }));
  await waitFor(
    'the policy to be scheduled',
    async () =>
      (await kube.get<BackupPolicy>('BackupPolicy', 'default', 'broken'))?.status?.nextScheduledBackup,
  );
  const b = await e2e.nextRun('broken');
  t.is(b.status?.phase, 'Failed');
  t.is(b.status?.reason, 'SnapshotFailed');
  t.regex(b.status?.message ?? '', /VolumeSnapshot \S+ of claim db-0: .*disk array offline/);
  const policy = await waitFor('the policy to say so', async () => {
    const p = await kube.get<BackupPolicy>('BackupPolicy', 'default', 'broken');
    return p?.status?.lastBackupStatus === 'Failed' ? p : undefined;
  });
  t.regex(policy.status?.failureReason ?? '', /disk array offline/);
  // The Event is job-watcher's last action, after the statuses: waited for, not raced.
  const event = await waitFor('the BackupFailed Event on the policy', async () =>
    (await kube.list('Event', 'default')).find(
      (e) => e.reason === 'BackupFailed' && e.involvedObject.kind === 'BackupPolicy',
    ),
  );
  t.regex(event.message ?? '', /disk array offline/);
});
