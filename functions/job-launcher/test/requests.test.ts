/**
 * job-launcher's API requests on a tick's new Backups, counted at the wire (issue 17;
 * test/fixtures/counted-api.ts): the add event reads the Backup once (its status write starts from
 * that read), and the update events of the run's own status writes cost nothing.
 */
import test from 'ava';
import type { Backup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, resourceEvent } from '../../../shared/events.ts';
import { type Policy, scheduledBackup } from '../../../shared/policy.ts';
import { backup, backupPolicy, forCreate } from '../../../test/builders.ts';
import { startCountedApi } from '../../../test/fixtures/counted-api.ts';
import { NAME, plan } from '../handle.ts';

test('a new Backup: one read of it, one status write from that read, an Event; its status write coming back costs nothing', async (t) => {
  const api = await startCountedApi();
  t.teardown(() => api.stop());
  const post = await api.serve(NAME, plan);
  // Its destination claim does not exist: the run fails at once, as in the bench's tick.
  // As the tick creates it (owned, finalized: nothing to adopt).
  const { object: policy } = await api.direct.create<Policy>('BackupPolicy', forCreate(backupPolicy('vol')));
  const { object } = await api.direct.create(
    'Backup',
    scheduledBackup('BackupPolicy', policy, new Date('2030-01-01T00:00:00Z')),
  );
  api.reset();
  t.is(await post(resourceEvent('add', object as unknown as KubeObjectLike, { source: api.api.url })), 204);
  t.deepEqual(api.requests(), [
    'get backups',
    'get backuppolicies',
    'list persistentvolumeclaims',
    'get persistentvolumeclaims',
    'update:status backups',
    'create events',
  ]);
  const failed = await api.direct.get<Backup>('Backup', 'default', 'vol-203001010000');
  t.is(failed?.status?.phase, 'Failed');

  api.reset();
  t.is(
    await post(resourceEvent('update', failed as unknown as KubeObjectLike, { source: api.api.url })),
    204,
  );
  t.deepEqual(api.requests(), []);
});

test('an update of a Backup that still needs its Job is read and launched, as an add is', async (t) => {
  const api = await startCountedApi();
  t.teardown(() => api.stop());
  const post = await api.serve(NAME, plan);
  await api.direct.create('BackupPolicy', forCreate(backupPolicy('vol')));
  const { object } = await api.direct.create(
    'Backup',
    forCreate(backup('vol-203001010000', { kind: 'BackupPolicy', name: 'vol' })),
  );
  api.reset();
  t.is(
    await post(resourceEvent('update', object as unknown as KubeObjectLike, { source: api.api.url })),
    204,
  );
  t.is(api.requests()[0], 'get backups');
  t.is((await api.direct.get<Backup>('Backup', 'default', 'vol-203001010000'))?.status?.phase, 'Failed');
});

test('a Backup made by hand: adopted by a patch guarded by the resourceVersion read, then one status write from what the patch stored (no 409, no second decision)', async (t) => {
  const api = await startCountedApi();
  t.teardown(() => api.stop());
  const post = await api.serve(NAME, plan);
  await api.direct.create('BackupPolicy', forCreate(backupPolicy('vol')));
  // No owner, no finalizer: what kubectl apply of seed 003's manual Backup gives.
  const { object } = await api.direct.create(
    'Backup',
    forCreate(backup('vol-by-hand', { kind: 'BackupPolicy', name: 'vol' })),
  );
  api.reset();
  t.is(await post(resourceEvent('add', object as unknown as KubeObjectLike, { source: api.api.url })), 204);
  t.deepEqual(api.requests(), [
    'get backups',
    'get backuppolicies',
    'list persistentvolumeclaims',
    'get persistentvolumeclaims',
    'patch backups',
    'update:status backups',
    'create events',
  ]);
  const adopted = await api.direct.get<Backup>('Backup', 'default', 'vol-by-hand');
  t.is(adopted?.metadata.ownerReferences?.[0]?.name, 'vol');
  t.true(adopted?.metadata.finalizers?.includes('backup.cairn.dev/artifact'));
  t.is(adopted?.status?.phase, 'Failed');
});
