import test from 'ava';
import type { Backup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, resourceEvent } from '../../../shared/events.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import { backup, databaseBackup } from '../../../test/builders.ts';
import { startFunction } from '../../../test/function-harness.ts';
import { plan } from '../handle.ts';

const bare = <T extends KubeObject>(o: T): T =>
  ({ ...o, metadata: { name: o.metadata.name, namespace: 'default', labels: o.metadata.labels ?? {} } }) as T;
const ev = (o: KubeObject, url: string) =>
  resourceEvent('add', o as unknown as KubeObjectLike, { source: url });

test('a Backup add event over HTTP creates its Job, owned by the Backup', async (t) => {
  const fn = await startFunction('job-launcher', plan);
  t.teardown(() => fn.stop());
  for (const name of ['pg', 's3']) {
    await fn.kube.create('Secret', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: 'default' },
      stringData: { x: 'y' },
    });
  }
  await fn.kube.create('DatabaseBackup', bare(databaseBackup('pg-nightly')));
  const { object } = await fn.kube.create(
    'Backup',
    bare(backup('pg-nightly-203001010100', { kind: 'DatabaseBackup', name: 'pg-nightly' }, undefined)),
  );
  const res = await fn.post(ev(object, fn.api.url));
  t.is(res.status, 204);
  const job = await fn.kube.get<KubeObject>('Job', 'default', 'pg-nightly-203001010100');
  t.like(job?.metadata.ownerReferences?.[0], {
    kind: 'Backup',
    name: 'pg-nightly-203001010100',
    uid: object.metadata.uid,
    controller: true,
  });
  const b = await fn.kube.get<Backup>('Backup', 'default', 'pg-nightly-203001010100');
  t.like(b?.status, { phase: 'Pending', jobName: 'pg-nightly-203001010100' });
  // A duplicate delivery creates no second Job and no error.
  t.is((await fn.post(ev(object, fn.api.url))).status, 204);
  t.is((await fn.kube.list('Job', 'default')).length, 1);
});

test('a Backup whose Secret is missing still gets its Job: job-launcher reads no Secret, the Pod will report it', async (t) => {
  const fn = await startFunction('job-launcher', plan);
  t.teardown(() => fn.stop());
  await fn.kube.create('DatabaseBackup', bare(databaseBackup('pg-nightly')));
  const { object } = await fn.kube.create(
    'Backup',
    bare(backup('b1', { kind: 'DatabaseBackup', name: 'pg-nightly' }, undefined)),
  );
  t.is((await fn.post(ev(object, fn.api.url))).status, 204);
  const b = await fn.kube.get<Backup>('Backup', 'default', 'b1');
  t.like(b?.status, { phase: 'Pending', jobName: 'b1' });
  const job = await fn.kube.get<KubeObject>('Job', 'default', 'b1');
  const env = job?.spec.template.spec.containers[0].env as {
    valueFrom?: { secretKeyRef?: { name: string } };
  }[];
  t.deepEqual(
    env.map((e) => e.valueFrom?.secretKeyRef?.name),
    ['pg', 's3', 's3', undefined],
  );
  t.false((fn.kube.requests.get('get Secret') ?? 0) > 0, 'no Secret was read');
});

test("a policy's backupImage the admin did not allow fails the Backup with ImageNotAllowed and a Warning, and makes no Job", async (t) => {
  const fn = await startFunction('job-launcher', plan);
  t.teardown(() => fn.stop());
  await fn.kube.create(
    'DatabaseBackup',
    bare(databaseBackup('pg-nightly', { backupImage: 'busybox:latest' })),
  );
  const { object } = await fn.kube.create(
    'Backup',
    bare(backup('b2', { kind: 'DatabaseBackup', name: 'pg-nightly' }, undefined)),
  );
  t.is((await fn.post(ev(object, fn.api.url))).status, 204);
  const b = await fn.kube.get<Backup>('Backup', 'default', 'b2');
  t.like(b?.status, { phase: 'Failed', reason: 'ImageNotAllowed' });
  t.is((await fn.kube.list('Job', 'default')).length, 0);
  t.true(
    (await fn.kube.list('Event', 'default')).some(
      (e) =>
        e.reason === 'BackupFailed' && e.involvedObject?.name === 'b2' && /busybox:latest/.test(e.message),
    ),
  );
});
