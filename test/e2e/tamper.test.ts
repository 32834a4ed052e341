/**
 * End to end on the local runtime (issue 15 item 4): whoever can write the bucket rewrites a
 * plain-format artifact and its manifest together — a psql script with a `\!` payload, and a
 * manifest whose sha256 and size match it. The Restore of that Backup is refused (the digest it
 * checks is the Backup's status.sha256 from the API, not the store's manifest), the payload never
 * runs, and the target database is untouched.
 */

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import type { DatabaseBackup } from '../../shared/api/index.ts';
import { startPostgres } from '../fixtures/postgres.ts';
import { startS3 } from '../fixtures/s3.ts';
import { createCredentials, postgresToS3, restorePostgres, startE2E, waitFor } from './helpers.ts';

const PASSWORD = 'pg-secret-tamper-77d2';
const BUCKET = 'cairn-tamper';

test('a bucket writer who rewrites artifact and manifest together cannot make a Restore run anything', async (t) => {
  const [pg, s3] = await Promise.all([startPostgres({ password: PASSWORD }), startS3({ buckets: [BUCKET] })]);
  const e2e = await startE2E();
  t.teardown(async () => {
    await e2e.stop();
    await Promise.all([pg.stop(), s3.stop()]);
  });
  await pg.createDatabase('app');
  await pg.psql(
    'CREATE TABLE accounts (id int primary key); INSERT INTO accounts SELECT generate_series(1, 20);',
    'app',
  );
  const kube = e2e.runtime.kube;
  await createCredentials(kube, PASSWORD, s3);
  await kube.create(
    'DatabaseBackup',
    postgresToS3('pg-plain', { pg, s3, bucket: BUCKET, schedule: '* * * * *' }, { format: 'plain' }),
  );
  await waitFor(
    'the first next run',
    async () =>
      (await kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-plain'))?.status?.nextScheduledBackup,
  );
  const backup = await e2e.nextRun('pg-plain');
  t.is(backup.status?.phase, 'Completed', backup.status?.message);
  const key = backup.status?.key ?? '';
  const manifestKey = backup.status?.manifestKey ?? '';
  t.regex(key, /\.sql\.zst$/);

  // The attack: a script that runs a shell in the restore pod, and a manifest that vouches for it.
  const drop = await mkdtemp(path.join(os.tmpdir(), 'cairn-tamper-'));
  await chmod(drop, 0o1777);
  const marker = path.join(drop, 'pwned');
  const forged = zstdCompressSync(Buffer.from(`\\! touch ${marker}\nCREATE TABLE pwned (a int);\n`));
  const get = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: manifestKey }));
  const manifest = JSON.parse((await get.Body?.transformToString()) ?? '{}');
  manifest.artifact.sha256 = createHash('sha256').update(forged).digest('hex');
  manifest.artifact.sizeBytes = forged.length;
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: forged }));
  await s3.client.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: manifestKey, Body: JSON.stringify(manifest, null, 2) }),
  );

  const done = await restorePostgres(kube, pg, {
    name: 'from-forged',
    backup: backup.metadata.name,
    database: 'victim',
  });
  t.is(done.status?.phase, 'Failed');
  t.regex(done.status?.message ?? '', /sha256/);
  t.false(existsSync(marker), 'the forged script ran a shell in the restore pod');
  t.is(
    (await pg.psql("select count(*) from pg_tables where schemaname = 'public'", 'victim')).trim(),
    '0',
    'the target is untouched',
  );
});
