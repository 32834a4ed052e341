/**
 * What the Kubernetes access layer sends, counted at the wire against the API emulator (issue 17):
 * Events written the way client-go's recorder writes them (a repeat is one strategic merge PATCH
 * of its count and series, the tenth similar message in ten minutes one aggregate), LISTs that may
 * be served from the watch cache (`resourceVersion=0`) only when asked, and a status write that
 * starts from the object just read (one PUT) and still reads again on a 409. The real kubectl reads
 * what was written.
 */
import { execFile } from 'node:child_process';
import test from 'ava';
import type { DatabaseBackup } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { databaseBackup } from '../builders.ts';
import { type CountedApi, startCountedApi } from '../fixtures/counted-api.ts';
import { kubectlPath } from '../local/apiserver-helpers.ts';
import { scriptedPlan } from '../reliability/fault-proxy.ts';

const kubectl = (api: CountedApi, args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      kubectlPath(),
      ['--kubeconfig', api.kubeconfig, ...args],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
    );
  });

async function withPolicy(api: CountedApi, name = 'pg'): Promise<DatabaseBackup> {
  const { uid: _u, creationTimestamp: _c, generation: _g, ...metadata } = databaseBackup(name).metadata;
  const { object } = await api.direct.create('DatabaseBackup', { ...databaseBackup(name), metadata });
  return object;
}

const eventsAbout = async (api: CountedApi, name: string) =>
  (await api.direct.list<KubeObject>('Event', 'default')).filter((e) => e.involvedObject?.name === name);

test('an Event recorded again by the same process is one strategic PATCH of its count and series; kubectl describe shows it counted', async (t) => {
  const api = await startCountedApi();
  t.teardown(() => api.stop());
  const policy = await withPolicy(api);
  const input = {
    type: 'Warning',
    reason: 'MissedSchedules',
    message: 'missed',
    component: 'schedule-evaluator',
  } as const;
  await api.kube.recordEvent(policy, input);
  api.clock.advance(60_000);
  api.reset();
  await api.kube.recordEvent(policy, input);
  t.deepEqual(api.requests(), ['patch events']);
  t.deepEqual(JSON.parse(api.proxy.log.at(-1)?.body ?? '{}'), {
    count: 2,
    lastTimestamp: '2030-01-01T00:01:30Z',
    message: 'missed',
    series: { count: 2, lastObservedTime: '2030-01-01T00:01:30.000000Z' },
  });
  const events = await eventsAbout(api, 'pg');
  t.is(events.length, 1);
  t.like(events[0], {
    count: 2,
    firstTimestamp: '2030-01-01T00:00:30Z',
    lastTimestamp: '2030-01-01T00:01:30Z',
  });
  const d = await kubectl(api, ['describe', 'databasebackups', 'pg']);
  t.is(d.code, 0, d.stderr);
  t.regex(d.stdout, /Warning\s+MissedSchedules\s+.*\(x2 over .*\)\s+schedule-evaluator\s+missed/);
});

test('an Event a previous process wrote is found by its name and counted: a create, a read, a patch', async (t) => {
  const api = await startCountedApi();
  t.teardown(() => api.stop());
  const policy = await withPolicy(api);
  const input = {
    type: 'Normal',
    reason: 'BackupWaiting',
    message: 'waits',
    component: 'schedule-evaluator',
  } as const;
  await api.kube.recordEvent(policy, input);
  const restarted = await api.client();
  api.reset();
  await restarted.recordEvent(policy, input);
  t.deepEqual(api.requests(), ['create events', 'get events', 'patch events']);
  // Its next repeat is known to the new process: one patch.
  api.reset();
  await restarted.recordEvent(policy, input);
  t.deepEqual(api.requests(), ['patch events']);
  const events = await eventsAbout(api, 'pg');
  t.is(events.length, 1);
  t.is(events[0]?.count, 3);
  t.is(events[0]?.series?.count, 3);
});

test('similar Events (one object and reason, ten messages in ten minutes) become one counted aggregate', async (t) => {
  const api = await startCountedApi();
  t.teardown(() => api.stop());
  const policy = await withPolicy(api);
  for (let i = 1; i <= 11; i++) {
    api.clock.advance(10_000);
    await api.kube.recordEvent(policy, {
      type: 'Normal',
      reason: 'BackupScheduled',
      message: `created Backup pg-${i}`,
      component: 'schedule-evaluator',
    });
  }
  const events = await eventsAbout(api, 'pg');
  // Nine as they were, the tenth and eleventh as one aggregate counted twice, its message the latest.
  t.is(events.length, 10);
  const aggregate = events.find((e) => String(e.message).startsWith('(combined from similar events): '));
  t.like(aggregate, { count: 2, message: '(combined from similar events): created Backup pg-11' });
  t.is(api.requests().filter((r) => r === 'patch events').length, 1);
  t.is(api.requests().filter((r) => r === 'create events').length, 10);
});

test('a LIST asks the watch cache (resourceVersion=0) only when told to', async (t) => {
  const api = await startCountedApi();
  t.teardown(() => api.stop());
  await withPolicy(api);
  const cached = await api.kube.list('DatabaseBackup', undefined, { cached: true });
  const consistent = await api.kube.list('DatabaseBackup', undefined);
  t.deepEqual(
    cached.map((p) => p.metadata.name),
    consistent.map((p) => p.metadata.name),
  );
  const [a, b] = api.log();
  t.is(a?.verb, 'list');
  t.is(new URLSearchParams(a?.query).get('resourceVersion'), '0');
  t.is(b?.verb, 'list');
  t.is(new URLSearchParams(b?.query ?? '').get('resourceVersion'), null);
});

test('a status write from the object just read is one PUT; from a stale one, a 409, one GET and the PUT again', async (t) => {
  const api = await startCountedApi();
  t.teardown(() => api.stop());
  await withPolicy(api);
  const [listed] = await api.kube.list<DatabaseBackup>('DatabaseBackup', 'default');
  if (!listed) throw new Error('no policy listed');
  api.reset();
  const stored = await api.kube.updateStatus<DatabaseBackup>(
    'DatabaseBackup',
    'default',
    'pg',
    () => ({ nextScheduledBackup: '2030-01-02T01:00:00Z' }),
    { current: listed },
  );
  t.deepEqual(api.requests(), ['update:status databasebackups']);
  t.is(stored?.status?.nextScheduledBackup, '2030-01-02T01:00:00Z');
  // `listed` is now stale: the API server refuses its resourceVersion, the layer reads and writes again.
  api.reset();
  const again = await api.kube.updateStatus<DatabaseBackup>(
    'DatabaseBackup',
    'default',
    'pg',
    (cur) => ({ ...cur.status, lastScheduleTime: '2030-01-01T01:00:00Z' }),
    { current: listed },
  );
  t.deepEqual(api.requests(), [
    'update:status databasebackups',
    'get databasebackups',
    'update:status databasebackups',
  ]);
  t.like(again?.status, {
    nextScheduledBackup: '2030-01-02T01:00:00Z',
    lastScheduleTime: '2030-01-01T01:00:00Z',
  });
});

test('without the object, a status write reads it first, as before', async (t) => {
  const api = await startCountedApi('2030-01-01T00:00:30Z', scriptedPlan([]));
  t.teardown(() => api.stop());
  await withPolicy(api);
  api.reset();
  await api.kube.updateStatus('DatabaseBackup', 'default', 'pg', () => ({
    nextScheduledBackup: '2030-01-02T01:00:00Z',
  }));
  t.deepEqual(api.requests(), ['get databasebackups', 'update:status databasebackups']);
});
