/**
 * schedule-evaluator's API requests, counted at the wire (issue 17; test/fixtures/counted-api.ts):
 * a tick is one LIST per kind it reads plus, per due run, the Backup, one status write (no GET
 * first) and its Event; the policy LISTs come from the watch cache, the Backup LIST does not; a
 * status-only update of a policy costs nothing; a 409 still reads again.
 */
import test from 'ava';
import type { Backup, BackupPolicy, DatabaseBackup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, pingEvent, resourceEvent } from '../../../shared/events.ts';
import { backupPolicy, databaseBackup, forCreate } from '../../../test/builders.ts';
import { type CountedApi, startCountedApi } from '../../../test/fixtures/counted-api.ts';
import { scriptedPlan } from '../../../test/reliability/fault-proxy.ts';
import { NAME, plan } from '../handle.ts';

const tick = () => pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: {} });

/**
 * Five policies, two of them every five minutes, and the claim the BackupPolicy writes to; a first
 * tick records every status (and looks the claim up once, for the policy it has not seen yet).
 */
async function fivePolicies(api: CountedApi) {
  const post = await api.serve(NAME, plan);
  for (const [name, schedule] of [
    ['a', '*/5 * * * *'],
    ['b', '0 3 * * *'],
    ['c', '*/5 * * * *'],
    ['d', '0 4 * * *'],
  ] as const)
    await api.direct.create('DatabaseBackup', forCreate(databaseBackup(name, { schedule })));
  await api.direct.create('BackupPolicy', forCreate(backupPolicy('e', { schedule: '0 5 * * *' })));
  // The claim e's backups go to: a policy whose claim is missing is looked at again each time.
  await api.direct.create('PersistentVolumeClaim', {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'backup-store', namespace: 'default' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
  if ((await post(tick())) !== 204) throw new Error('the first tick failed');
  return post;
}

test('a tick is 3 LISTs and, per due run, a create, one status PUT and an Event: no GET', async (t) => {
  const api = await startCountedApi('2030-01-01T00:00:30Z');
  t.teardown(() => api.stop());
  const post = await fivePolicies(api);
  // The first evaluation wrote five statuses, each without reading the policy again.
  t.false(api.requests().includes('get databasebackups'));
  t.is(api.requests().filter((r) => r.startsWith('update:status')).length, 5);

  api.clock.set('2030-01-01T00:05:10Z');
  api.reset();
  t.is(await post(tick()), 204);
  t.deepEqual(api.requests().sort(), [
    'create backups',
    'create backups',
    'create events',
    'create events',
    'list backuppolicies',
    'list backups',
    'list databasebackups',
    'update:status databasebackups',
    'update:status databasebackups',
  ]);
  const a = await api.direct.get<DatabaseBackup>('DatabaseBackup', 'default', 'a');
  t.like(a?.status, {
    lastScheduleTime: '2030-01-01T00:05:00Z',
    nextScheduledBackup: '2030-01-01T00:10:00Z',
  });
  t.truthy(await api.direct.get<Backup>('Backup', 'default', 'c-203001010005'));
});

test('the policy LISTs ask the watch cache (resourceVersion=0); the Backup LIST, which Forbid and Replace count runs from, does not', async (t) => {
  const api = await startCountedApi('2030-01-01T00:00:30Z');
  t.teardown(() => api.stop());
  const post = await fivePolicies(api);
  api.reset();
  await post(tick());
  const rv = (resource: string) =>
    new URLSearchParams(api.log().find((r) => r.verb === 'list' && r.resource === resource)?.query ?? '').get(
      'resourceVersion',
    );
  t.is(rv('databasebackups'), '0');
  t.is(rv('backuppolicies'), '0');
  t.is(rv('backups'), null);
});

test('a status-only update of a policy (its own status write coming back) costs no request; a spec change is planned', async (t) => {
  const api = await startCountedApi('2030-01-01T00:00:30Z');
  t.teardown(() => api.stop());
  const post = await fivePolicies(api);
  const a = await api.direct.get<DatabaseBackup>('DatabaseBackup', 'default', 'a');
  const e = await api.direct.get<BackupPolicy>('BackupPolicy', 'default', 'e');
  api.reset();
  for (const o of [a, e]) {
    t.is(await post(resourceEvent('update', o as unknown as KubeObjectLike, { source: api.api.url })), 204);
  }
  t.deepEqual(api.requests(), []);

  // The schedule changed: generation is ahead of observedGeneration, so it is evaluated at once.
  const edited = await api.direct.patch<DatabaseBackup>('DatabaseBackup', 'default', 'a', {
    spec: { schedule: '30 2 * * *' },
  });
  api.reset();
  t.is(
    await post(resourceEvent('update', edited as unknown as KubeObjectLike, { source: api.api.url })),
    204,
  );
  t.deepEqual(api.requests(), ['get databasebackups', 'list backups', 'update:status databasebackups']);
  const after = await api.direct.get<DatabaseBackup>('DatabaseBackup', 'default', 'a');
  t.is(after?.status?.nextScheduledBackup, '2030-01-01T02:30:00Z');
});

test('a run waiting under Forbid is started by the status write that ends the active one, not a minute later', async (t) => {
  const api = await startCountedApi('2030-01-01T00:00:30Z');
  t.teardown(() => api.stop());
  const post = await fivePolicies(api);
  api.clock.set('2030-01-01T00:05:10Z');
  await post(tick());
  api.clock.set('2030-01-01T00:10:10Z');
  await post(tick());
  // a-203001010005 is still Pending (no job-launcher here), so the 00:10 run of a waits.
  t.falsy(await api.direct.get('Backup', 'default', 'a-203001010010'));
  const waiting = await api.direct.get<DatabaseBackup>('DatabaseBackup', 'default', 'a');
  t.is(waiting?.status?.nextScheduledBackup, '2030-01-01T00:10:00Z');
  // The active run ends; job-watcher's write of the policy status is the update event that follows.
  await api.direct.updateStatus<Backup>('Backup', 'default', 'a-203001010005', (b) => ({
    ...b.status,
    phase: 'Completed',
  }));
  const ended = await api.direct.updateStatus<DatabaseBackup>('DatabaseBackup', 'default', 'a', (p) => ({
    ...p.status,
    lastBackupStatus: 'Succeeded',
  }));
  t.is(await post(resourceEvent('update', ended as unknown as KubeObjectLike, { source: api.api.url })), 204);
  t.truthy(await api.direct.get('Backup', 'default', 'a-203001010010'));
});

test('a 409 on the status write decides that policy again from fresh state and writes once more; the schedule is kept', async (t) => {
  // The first status write of the due tick finds its resourceVersion stale (someone wrote first).
  let armed = false;
  const api = await startCountedApi(
    '2030-01-01T00:00:30Z',
    scriptedPlan([{ match: (r) => armed && r.subresource === 'status', fault: 'stale' }]),
  );
  t.teardown(() => api.stop());
  const post = await fivePolicies(api);
  api.clock.set('2030-01-01T00:05:10Z');
  armed = true;
  api.reset();
  t.is(await post(tick()), 204);
  const statusRequests = api.requests().filter((r) => r.endsWith('databasebackups') && !r.startsWith('list'));
  // Two policies were due: two writes, the stale one refused and, decided again, written (DESIGN.md
  // rule 4: a 409 is read again and decided again, never the same fields written blindly).
  t.deepEqual(statusRequests.sort(), [
    'update:status databasebackups',
    'update:status databasebackups',
    'update:status databasebackups',
  ]);
  t.is(api.requests().filter((r) => r === 'list databasebackups').length, 2, 'the tick read again once');
  for (const name of ['a', 'c']) {
    const p = await api.direct.get<DatabaseBackup>('DatabaseBackup', 'default', name);
    t.like(p?.status, {
      lastScheduleTime: '2030-01-01T00:05:00Z',
      nextScheduledBackup: '2030-01-01T00:10:00Z',
    });
  }
});
