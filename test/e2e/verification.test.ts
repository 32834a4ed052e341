/**
 * End to end on the local runtime with real PostgreSQL, s3rver and the real agent: a
 * DatabaseBackup with `verification.everyNthBackup: 1` verifies each backup in a scratch
 * database. A passing check marks the Backup Verified; a failing one (a row count too high) marks
 * it Verified=False with the reason, records it in status.lastVerification, emits a Warning Event
 * and the dev.cairn.backup.verification.failed CloudEvent; no scratch database is left behind.
 */
import test from 'ava';
import { readRecords } from '../../local/broker/records.ts';
import type { Backup, DatabaseBackup, Restore } from '../../shared/api/index.ts';
import { getCondition } from '../../shared/conditions.ts';
import { CAIRN_EVENT_TYPES } from '../../shared/event-types.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { startPostgres } from '../fixtures/postgres.ts';
import { startS3 } from '../fixtures/s3.ts';
import { createCredentials, postgresToS3, startE2E, waitFor } from './helpers.ts';

const PASSWORD = 'pg-secret-verify-1c9e';

test('verification: a passing check marks the Backup Verified; a failing one is recorded, announced and leaves no scratch database', async (t) => {
  const [pg, s3] = await Promise.all([
    startPostgres({ password: PASSWORD }),
    startS3({ buckets: ['cairn-verify'] }),
  ]);
  const e2e = await startE2E();
  t.teardown(async () => {
    await e2e.stop();
    await Promise.all([pg.stop(), s3.stop()]);
  });
  await pg.createDatabase('app');
  await pg.psql(
    `CREATE TABLE accounts (id int primary key, owner text);
     INSERT INTO accounts SELECT g, 'owner-' || g FROM generate_series(1, 500) g;`,
    'app',
  );
  const kube = e2e.runtime.kube;
  await createCredentials(kube, PASSWORD, s3);
  const policy = postgresToS3(
    'pg-verified',
    { pg, s3, bucket: 'cairn-verify', schedule: '* * * * *' },
    {
      verification: {
        everyNthBackup: 1,
        checks: [
          { name: 'count', sql: 'select count(*) from accounts', expect: '500' },
          { name: 'rows', sql: 'select id from accounts', compare: 'rowCount >= 500' },
        ],
      },
    },
  );
  await kube.create('DatabaseBackup', policy);
  await waitFor(
    'the first next run',
    async () =>
      (await kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-verified'))?.status
        ?.nextScheduledBackup,
  );
  const scratchLeft = async () =>
    (await pg.psql("select count(*) from pg_database where datname = 'app_cairn_verify'", 'postgres')).trim();

  const verifiedOf = (name: string) =>
    waitFor(`Backup ${name} to be verified`, async () => {
      const b = await kube.get<Backup>('Backup', 'default', name);
      return getCondition(b?.status?.conditions, 'Verified') ? b : undefined;
    });

  // 1. A passing verification.
  const first = await e2e.nextRun('pg-verified');
  t.is(first.status?.phase, 'Completed', first.status?.message);
  const ok = await verifiedOf(first.metadata.name);
  t.like(getCondition(ok.status?.conditions, 'Verified'), { status: 'True', reason: 'Verified' });
  // job-watcher writes the Backup's Verified condition before the Restore's own final status (so
  // a redelivery after a failure in between redoes both): wait for the Restore too.
  const okRestore = await waitFor('the verification Restore to finish', async () => {
    const r = await kube.get<Restore>('Restore', 'default', `${first.metadata.name}-verify`);
    return r?.status?.phase === 'Completed' || r?.status?.phase === 'Failed' ? r : undefined;
  });
  t.is(okRestore?.spec.purpose, 'verification');
  t.is(okRestore?.metadata.ownerReferences?.[0]?.name, first.metadata.name);
  t.is(okRestore?.status?.phase, 'Completed', okRestore?.status?.message);
  const passed = await waitFor('lastVerification Passed', async () => {
    const p = await kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-verified');
    return p?.status?.lastVerification?.backup === first.metadata.name
      ? p.status.lastVerification
      : undefined;
  });
  t.is(passed.result, 'Passed');
  t.is(await scratchLeft(), '0', 'the scratch database is dropped after a passing verification');

  // 2. A failing check: more rows expected than the backup holds.
  const latest = await kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-verified');
  await kube.patch('DatabaseBackup', 'default', 'pg-verified', {
    metadata: { resourceVersion: latest?.metadata.resourceVersion },
    spec: {
      verification: {
        everyNthBackup: 1,
        checks: [{ name: 'too-many', sql: 'select id from accounts', compare: 'rowCount >= 1000' }],
      },
    },
  });
  const second = await e2e.nextRun('pg-verified');
  t.is(second.status?.phase, 'Completed', second.status?.message);
  const bad = await verifiedOf(second.metadata.name);
  const cond = getCondition(bad.status?.conditions, 'Verified');
  t.like(cond, { status: 'False', reason: 'ChecksFailed' });
  t.regex(cond?.message ?? '', /too-many: rowCount 500 is not >= 1000/);
  const failed = await waitFor('lastVerification Failed', async () => {
    const p = await kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-verified');
    return p?.status?.lastVerification?.backup === second.metadata.name
      ? p.status.lastVerification
      : undefined;
  });
  t.like(failed, { result: 'Failed', reason: 'ChecksFailed' });
  t.regex(failed.message ?? '', /rowCount 500 is not >= 1000/);
  t.is(await scratchLeft(), '0', 'the scratch database is dropped after a failed check too');
  t.is((await pg.psql('select count(*) from accounts', 'app')).trim(), '500', 'the source is untouched');

  const events = await kube.list<KubeObject>('Event', 'default');
  const warning = events.find(
    (e) =>
      e.reason === 'VerificationFailed' &&
      (e.involvedObject as { name?: string })?.name === second.metadata.name,
  );
  t.is(warning?.type, 'Warning');
  t.true(events.some((e) => e.reason === 'Verified'));
  t.false(JSON.stringify(events).includes(PASSWORD));

  const cloudEvents = await waitFor('the CloudEvents to be recorded', async () => {
    await e2e.runtime.flushed();
    const recs = (await readRecords(e2e.stateDir)).map((r) => r.record.event);
    const f = recs.find((e) => e.type === CAIRN_EVENT_TYPES.backupVerificationFailed);
    const v = recs.find((e) => e.type === CAIRN_EVENT_TYPES.backupVerified);
    return f && v ? { failed: f, verified: v } : undefined;
  });
  t.like(cloudEvents.failed.data, { name: second.metadata.name, result: 'Failed', reason: 'ChecksFailed' });
  t.like(cloudEvents.verified.data, { name: first.metadata.name, result: 'Passed' });
});
