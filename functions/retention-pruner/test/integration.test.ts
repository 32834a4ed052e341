import test from 'ava';
import type { Backup } from '../../../shared/api/index.ts';
import { cairnEvent, functionSource, type KubeObjectLike, resourceEvent } from '../../../shared/events.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import { Labels } from '../../../shared/labels.ts';
import { type Policy, scheduledBackup } from '../../../shared/policy.ts';
import { backupPolicy } from '../../../test/builders.ts';
import { apiPutStatus } from '../../../test/fixtures/api.ts';
import { startFunction } from '../../../test/function-harness.ts';
import { plan } from '../handle.ts';

test('a backup.completed event over HTTP expires the oldest Backup and starts a delete Job for its artifact', async (t) => {
  const fn = await startFunction('retention-pruner', plan);
  t.teardown(() => fn.stop());
  const p = backupPolicy('volumes', { retentionCount: 1 });
  const { object: policy } = await fn.kube.create<Policy>('BackupPolicy', {
    ...p,
    metadata: { name: 'volumes', namespace: 'default' },
  });
  const runName = (when: string) => scheduledBackup('BackupPolicy', policy, new Date(when)).metadata.name;
  const older = runName('2030-01-01T00:00:00Z');
  const newer = runName('2030-01-01T00:05:00Z');
  for (const when of ['2030-01-01T00:00:00Z', '2030-01-01T00:05:00Z']) {
    const run = scheduledBackup('BackupPolicy', policy, new Date(when));
    const name = run.metadata.name;
    const { object } = await fn.kube.create<Backup>('Backup', run);
    await apiPutStatus(fn.api, `/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/${name}`, object, {
      phase: 'Completed',
      completionTime: when,
      key: `web/volumes/${name}.tar.zst`,
      manifestKey: `web/volumes/${name}.manifest.json`,
      destination: { type: 'pvc', claimName: 'backup-store', path: 'web' },
    });
  }
  const ev = cairnEvent('dev.cairn.backup.completed', {
    subject: `/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/${newer}`,
    source: functionSource('job-watcher'),
    data: { name: newer, namespace: 'default' },
  });
  t.is((await fn.post(ev)).status, 204);
  const old = await fn.kube.get<Backup>('Backup', 'default', older);
  t.truthy(old?.metadata.deletionTimestamp, 'the expired Backup is being deleted');
  t.deepEqual(old?.metadata.finalizers, ['backup.cairn.dev/artifact'], 'held until its artifact is gone');
  t.falsy((await fn.kube.get<Backup>('Backup', 'default', newer))?.metadata.deletionTimestamp);
  // The Backup's own update event (deletionTimestamp set) makes the pruner start the delete Job.
  t.is((await fn.post(ev)).status, 204);
  const jobs = await fn.kube.list<KubeObject>('Job', 'default');
  t.is(jobs.length, 1);
  const args: string[] = jobs[0]?.spec.template.spec.containers[0].args;
  t.deepEqual(args.slice(0, 1), ['delete']);
  t.true(
    args.includes(`web/volumes/${older}.tar.zst`) && args.includes(`web/volumes/${older}.manifest.json`),
  );
  t.false(args.some((a) => a.includes(newer)));
});

test('a Backup deleted while its Job runs: over HTTP the pruner suspends the Job in the API server and keeps the finalizer', async (t) => {
  const fn = await startFunction('retention-pruner', plan);
  t.teardown(() => fn.stop());
  const p = backupPolicy('volumes');
  const { object: policy } = await fn.kube.create<Policy>('BackupPolicy', {
    ...p,
    metadata: { name: 'volumes', namespace: 'default' },
  });
  const run = scheduledBackup('BackupPolicy', policy, new Date('2030-01-01T00:00:00Z'));
  const name = run.metadata.name;
  const { object: b } = await fn.kube.create<Backup>('Backup', run);
  await apiPutStatus(fn.api, `/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/${name}`, b, {
    phase: 'Running',
    jobName: name,
    destination: { type: 'pvc', claimName: 'backup-store' },
  });
  await fn.kube.create<KubeObject>('Job', {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: 'default',
      labels: { ...run.metadata.labels, [Labels.component]: 'backup' },
    },
    spec: {
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'agent', image: 'cairn-agent', args: ['backup', '--source', 'tar'] }],
        },
      },
    },
  });
  await fn.kube.delete('Backup', 'default', name);
  const deleting = await fn.kube.get<Backup>('Backup', 'default', name);
  t.truthy(deleting?.metadata.deletionTimestamp);
  const ev = resourceEvent('update', deleting as unknown as KubeObjectLike, { source: fn.api.url });
  const res = await fn.post(ev);
  t.is(res.status, 204, res.body);
  const job = await fn.kube.get<KubeObject>('Job', 'default', name);
  t.is(job?.spec.suspend, true, 'the run is stopped');
  t.deepEqual(
    (await fn.kube.get<Backup>('Backup', 'default', name))?.metadata.finalizers,
    ['backup.cairn.dev/artifact'],
    'and the Backup stays until what it wrote is deleted',
  );
});
