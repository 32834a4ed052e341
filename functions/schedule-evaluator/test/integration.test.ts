import test from 'ava';
import { CloudEvent } from 'cloudevents';
import type { Backup, DatabaseBackup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, pingEvent, resourceEvent } from '../../../shared/events.ts';
import { databaseBackup } from '../../../test/builders.ts';
import { startFunction } from '../../../test/function-harness.ts';
import { plan } from '../handle.ts';

const strip = (p: DatabaseBackup): DatabaseBackup => ({
  ...p,
  metadata: { name: p.metadata.name, namespace: 'default' },
});

test('a PingSource tick over HTTP creates the due Backup in the API server', async (t) => {
  const fn = await startFunction('schedule-evaluator', plan, '2030-01-01T00:00:00Z');
  t.teardown(() => fn.stop());
  await fn.kube.create('DatabaseBackup', strip(databaseBackup('pg', { schedule: '*/5 * * * *' })));
  fn.clock.set('2030-01-01T00:05:10Z');
  const res = await fn.post(
    pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: { tick: 'cairn' } }),
  );
  t.is(res.status, 204);
  const b = await fn.kube.get<Backup>('Backup', 'default', 'pg-203001010005');
  t.like(b?.spec, {
    policyRef: { kind: 'DatabaseBackup', name: 'pg' },
    scheduledTime: '2030-01-01T00:05:00Z',
  });
  const p = await fn.kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg');
  t.is(p?.status?.nextScheduledBackup, '2030-01-01T00:10:00Z');
  // The same tick again (a duplicate delivery) creates nothing new.
  await fn.post(pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: {} }));
  t.is((await fn.kube.list('Backup', 'default')).length, 1);
});

test('an ApiServerSource add event sets the policy status; an invalid schedule gets Ready=False', async (t) => {
  const fn = await startFunction('schedule-evaluator', plan);
  t.teardown(() => fn.stop());
  const { object } = await fn.kube.create(
    'DatabaseBackup',
    strip(databaseBackup('bad', { schedule: '61 * * * *' })),
  );
  const res = await fn.post(
    resourceEvent('add', object as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.is(res.status, 204);
  const p = await fn.kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'bad');
  t.like(p?.status?.conditions?.[0], { type: 'Ready', status: 'False', reason: 'InvalidSchedule' });
  const events = await fn.kube.list('Event', 'default');
  t.true(events.some((e) => e.reason === 'InvalidSchedule' && e.type === 'Warning'));
});

test('a malformed event is refused with 4xx naming what is missing, and changes nothing', async (t) => {
  const fn = await startFunction('schedule-evaluator', plan);
  t.teardown(() => fn.stop());
  const noKind = new CloudEvent({
    type: 'dev.knative.apiserver.resource.add',
    source: 'x',
    data: { metadata: { name: 'a' } },
  });
  const res = await fn.post(noKind);
  t.true(res.status >= 400 && res.status < 500, `status ${res.status}`);
  t.regex(res.body, /kind/);
  const foreign = new CloudEvent({ type: 'com.example.other', source: 'x', data: {} });
  const res2 = await fn.post(foreign);
  t.true(res2.status >= 400 && res2.status < 500);
  t.regex(res2.body, /does not handle com\.example\.other/);
});
