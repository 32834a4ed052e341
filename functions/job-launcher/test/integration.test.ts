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

test('a Backup whose Secret is missing fails with SecretNotFound and a Warning Event', async (t) => {
  const fn = await startFunction('job-launcher', plan);
  t.teardown(() => fn.stop());
  await fn.kube.create('DatabaseBackup', bare(databaseBackup('pg-nightly')));
  const { object } = await fn.kube.create(
    'Backup',
    bare(backup('b1', { kind: 'DatabaseBackup', name: 'pg-nightly' }, undefined)),
  );
  t.is((await fn.post(ev(object, fn.api.url))).status, 204);
  const b = await fn.kube.get<Backup>('Backup', 'default', 'b1');
  t.like(b?.status, { phase: 'Failed', reason: 'SecretNotFound' });
  t.is((await fn.kube.list('Job', 'default')).length, 0);
  t.true(
    (await fn.kube.list('Event', 'default')).some(
      (e) => e.reason === 'BackupFailed' && e.involvedObject?.name === 'b1',
    ),
  );
});
