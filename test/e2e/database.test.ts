/**
 * End to end on the local runtime, with real PostgreSQL, s3rver and the real agent: an
 * every-minute DatabaseBackup produces verified Backups, the policy shows the seed status fields,
 * retention trims to keepLast (artifacts first), and a Restore into an empty database brings back
 * the same rows.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import test from 'ava';
import type { Backup, DatabaseBackup } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { startPostgres } from '../fixtures/postgres.ts';
import { startS3 } from '../fixtures/s3.ts';
import { createCredentials, names, postgresToS3, restorePostgres, startE2E, waitFor } from './helpers.ts';

const PASSWORD = 'pg-secret-e2e-7f3a';

test('a DatabaseBackup every minute: verified backups, seed status, keepLast retention, and a restore with identical rows', async (t) => {
  const [pg, s3] = await Promise.all([
    startPostgres({ password: PASSWORD }),
    startS3({ buckets: ['cairn-e2e'] }),
  ]);
  const e2e = await startE2E();
  t.teardown(async () => {
    await e2e.stop();
    await Promise.all([pg.stop(), s3.stop()]);
  });
  await pg.createDatabase('app');
  await pg.psql(
    `CREATE TABLE accounts (id int primary key, owner text, balance numeric);
     INSERT INTO accounts SELECT g, 'owner-' || g, g * 1.5 FROM generate_series(1, 500) g;`,
    'app',
  );
  const kube = e2e.runtime.kube;
  await createCredentials(kube, PASSWORD, s3);
  const policy = postgresToS3(
    'pg-minutely',
    { pg, s3, bucket: 'cairn-e2e', schedule: '* * * * *', path: 'pg' },
    { retention: { keepLast: 2 } },
  );
  await kube.create('DatabaseBackup', policy);
  await waitFor(
    'the first next run',
    async () =>
      (await kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-minutely'))?.status
        ?.nextScheduledBackup,
  );

  const runs: Backup[] = [];
  for (let i = 0; i < 3; i++) runs.push(await e2e.nextRun('pg-minutely'));
  for (const b of runs) {
    t.is(b.status?.phase, 'Completed', `${b.metadata.name}: ${b.status?.message}`);
    t.regex(b.status?.sha256 ?? '', /^[a-f0-9]{64}$/);
    t.true((b.status?.sizeBytes ?? 0) > 0);
    t.regex(b.status?.location ?? '', /^s3:\/\/cairn-e2e\/pg\/pg-minutely\/\d{8}T\d{6}Z\.dump\.zst$/);
  }

  // Retention: keepLast 2 removes the oldest Backup, and its artifact and manifest go first.
  const oldest = runs[0] as Backup;
  await waitFor('retention to delete the oldest Backup', async () =>
    (await kube.get('Backup', 'default', oldest.metadata.name)) === undefined ? true : undefined,
  );
  const left = await kube.list<Backup>('Backup', 'default');
  t.deepEqual(names(left), names(runs.slice(1)));
  const objects = await s3.client.send(new ListObjectsV2Command({ Bucket: 'cairn-e2e', Prefix: 'pg/' }));
  const keys = (objects.Contents ?? []).map((o) => o.Key);
  t.false(keys.includes(oldest.status?.key), 'the expired artifact is deleted');
  t.false(keys.includes(oldest.status?.manifestKey), 'its manifest too');
  for (const b of runs.slice(1))
    t.true(keys.includes(b.status?.key), `${b.metadata.name} keeps its artifact`);

  // The policy's status carries the seed systems' fields.
  const status = await waitFor('the policy status to settle', async () => {
    const p = await kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-minutely');
    return p?.status?.lastSuccessfulBackup === runs[2]?.metadata.name &&
      p?.status?.backupHistory?.length === 2
      ? p.status
      : undefined;
  });
  t.like(status, {
    lastBackupStatus: 'Succeeded',
    lastBackup: runs[2]?.metadata.name,
    failureReason: undefined,
    activeBackupJob: undefined,
  });
  t.truthy(status.lastSuccessfulTime);
  t.truthy(status.nextScheduledBackup);
  t.truthy(status.lastScheduleTime);

  // Restore the newest backup into an empty database: the same rows come back.
  const done = await restorePostgres(kube, pg, {
    name: 'back-again',
    backup: runs[2]?.metadata.name ?? '',
    database: 'restored',
  });
  t.is(done.status?.phase, 'Completed', done.status?.message);
  const q = 'SELECT id, owner, balance FROM accounts ORDER BY id';
  t.is(await pg.psql(q, 'restored'), await pg.psql(q, 'app'));

  // Secrets stay secret: the password appears in no status and no Event.
  const events = await kube.list<KubeObject>('Event', 'default');
  const everything = JSON.stringify([
    await kube.list('Backup', 'default'),
    await kube.list('DatabaseBackup', 'default'),
    events,
    done,
  ]);
  t.false(everything.includes(PASSWORD));
  t.true(events.some((e) => e.reason === 'BackupCompleted'));
  t.true(events.some((e) => e.reason === 'CleanupTriggered'));
  t.true(events.some((e) => e.reason === 'RestoreCompleted'));
});
