/**
 * job-watcher's API requests on the tick, counted at the wire (issue 17;
 * test/fixtures/counted-api.ts): its four LISTs, and a status write that starts from the listed
 * object instead of a GET of its own.
 */
import test from 'ava';
import type { Backup, DatabaseBackup } from '../../../shared/api/index.ts';
import { pingEvent } from '../../../shared/events.ts';
import { backup, databaseBackup, forCreate } from '../../../test/builders.ts';
import { startCountedApi } from '../../../test/fixtures/counted-api.ts';
import { NAME, plan } from '../handle.ts';

test('the tick derives a policy’s status from its Backups with one PUT from the listed policy, no GET', async (t) => {
  const api = await startCountedApi();
  t.teardown(() => api.stop());
  const post = await api.serve(NAME, plan);
  await api.direct.create('DatabaseBackup', forCreate(databaseBackup('pg')));
  // A run that failed without a Job (job-launcher refused it): the policy does not know yet.
  await api.direct.create(
    'Backup',
    forCreate(backup('pg-203001010000', { kind: 'DatabaseBackup', name: 'pg' })),
  );
  await api.direct.updateStatus<Backup>('Backup', 'default', 'pg-203001010000', () => ({
    phase: 'Failed',
    reason: 'ClaimNotFound',
    message: 'the claim is missing',
    completionTime: '2030-01-01T00:00:30Z',
  }));
  api.reset();
  t.is(await post(pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: {} })), 204);
  t.deepEqual(api.requests().sort(), [
    'list backuppolicies',
    'list backups',
    'list databasebackups',
    'list restores',
    'update:status databasebackups',
  ]);
  const p = await api.direct.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg');
  t.like(p?.status, { lastBackupStatus: 'Failed', failureReason: 'the claim is missing' });
});
