/**
 * End to end on the local runtime (issue 15 item 5): a DatabaseBackup with `spec.encryption` and
 * `spec.signing` whose keys live in a Secret. The artifact lands in s3rver age-encrypted and its
 * manifest signed, naming the recipient and no key; a Restore of the Backup decrypts it with the
 * identity from the same Secret and brings back the same rows.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import test from 'ava';
import type { DatabaseBackup } from '../../shared/api/index.ts';
import { startPostgres } from '../fixtures/postgres.ts';
import { startS3 } from '../fixtures/s3.ts';
import { createCredentials, postgresToS3, restorePostgres, startE2E, waitFor } from './helpers.ts';

const PASSWORD = 'pg-secret-sealed-3b7f';
const BUCKET = 'cairn-sealed';

test('an encrypted, signed DatabaseBackup lands sealed in the bucket and a Restore brings the rows back', async (t) => {
  const [pg, s3] = await Promise.all([startPostgres({ password: PASSWORD }), startS3({ buckets: [BUCKET] })]);
  const e2e = await startE2E();
  t.teardown(async () => {
    await e2e.stop();
    await Promise.all([pg.stop(), s3.stop()]);
  });
  await pg.createDatabase('app');
  await pg.psql(
    "CREATE TABLE accounts (id int primary key, owner text); INSERT INTO accounts SELECT g, 'o' || g FROM generate_series(1, 300) g;",
    'app',
  );
  const kube = e2e.runtime.kube;
  await createCredentials(kube, PASSWORD, s3);
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  const signingKey = 'e2e-signing-key-0123456789abcdef0123456789';
  await kube.create('Secret', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'backup-keys', namespace: 'default' },
    stringData: { recipient, identity, 'signing-key': signingKey },
  });
  await kube.create(
    'DatabaseBackup',
    postgresToS3(
      'pg-sealed',
      { pg, s3, bucket: BUCKET, schedule: '* * * * *' },
      {
        encryption: {
          recipientSecretRef: { name: 'backup-keys', key: 'recipient' },
          identitySecretRef: { name: 'backup-keys', key: 'identity' },
        },
        signing: { keySecretRef: { name: 'backup-keys', key: 'signing-key' } },
      },
    ),
  );
  await waitFor(
    'the first next run',
    async () =>
      (await kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-sealed'))?.status?.nextScheduledBackup,
  );
  const backup = await e2e.nextRun('pg-sealed');
  t.is(backup.status?.phase, 'Completed', backup.status?.message);
  const key = backup.status?.key ?? '';
  t.regex(key, /\.dump\.zst\.age$/);

  const object = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const bytes = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
  t.is(bytes.subarray(0, 21).toString(), 'age-encryption.org/v1');
  const manifestText =
    (await (
      await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: backup.status?.manifestKey ?? '' }))
    ).Body?.transformToString()) ?? '';
  const manifest = JSON.parse(manifestText);
  t.deepEqual(manifest.artifact.encryption, { format: 'age', recipient });
  t.is(manifest.signature?.algorithm, 'hmac-sha256');
  t.false(manifestText.includes(identity) || manifestText.includes(signingKey), 'no key in the store');

  const done = await restorePostgres(kube, pg, {
    name: 'unseal',
    backup: backup.metadata.name,
    database: 'unsealed',
  });
  t.is(done.status?.phase, 'Completed', done.status?.message);
  const q = 'SELECT id, owner FROM accounts ORDER BY id';
  t.is(await pg.psql(q, 'unsealed'), await pg.psql(q, 'app'));
});
