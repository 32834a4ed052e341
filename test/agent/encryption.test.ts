/**
 * Encryption at rest (issue 15 item 5), through the real agent process, with the standard `age`
 * tools as the oracle no one here wrote: keys come from `age-keygen`, an encrypted artifact in
 * s3rver decrypts with `age -d` and decompresses with `zstd -d` to an archive `pg_restore --list`
 * reads, and a file the `age` CLI encrypted restores through the agent. Encrypted backups restore
 * and verify from S3 and a PVC; a wrong key or passphrase fails clearly before the target is
 * touched; the manifest names the recipient, never a key.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import { AGENT_EXIT } from '../../shared/agent-contract.ts';
import { type PostgresServer, startPostgres } from '../fixtures/postgres.ts';
import { type S3Server, startS3 } from '../fixtures/s3.ts';
import { destArgs, pgBackupArgs, pgConn, pgRestoreArgs, runAgent, treeListing } from './helpers.ts';

const run = promisify(execFile);
const PASSWORD = 'enc-pw-90aa';
let pg: PostgresServer;
let s3: S3Server;
let work: string;
let identity: string;
let recipient: string;
let otherIdentity: string;

async function keygen(): Promise<{ identity: string; recipient: string }> {
  const { stdout } = await run('age-keygen', []);
  const id = stdout.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1')) ?? '';
  const rec = /# public key: (age1[0-9a-z]+)/.exec(stdout)?.[1] ?? '';
  if (!id || !rec) throw new Error(`age-keygen printed no key pair:\n${stdout}`);
  return { identity: id, recipient: rec };
}

test.before(async () => {
  [pg, s3] = await Promise.all([startPostgres({ password: PASSWORD }), startS3({ buckets: ['sealed'] })]);
  work = await mkdtemp(path.join(os.tmpdir(), 'cairn-enc-'));
  ({ identity, recipient } = await keygen());
  otherIdentity = (await keygen()).identity;
  await pg.createDatabase('app');
  await pg.psql(
    `create table accounts (id int primary key, owner text, balance numeric(12,2));
     insert into accounts select g, 'owner ' || g, g * 1.5 from generate_series(1, 20000) g;`,
    'app',
  );
});

test.after.always(async () => {
  await Promise.all([pg?.stop(), s3?.stop()]);
});

const pgEnv = (extra: Record<string, string> = {}) => ({
  PGPASSWORD: PASSWORD,
  CAIRN_PG_BINDIR: pg.binDir,
  ...s3.env,
  ...extra,
});
const conn = () => pgConn(pg);
const rows = (db: string) => pg.psql('select count(*), sum(balance) from accounts', db);
const exists = async (db: string) =>
  (await pg.psql(`select count(*) from pg_database where datname = '${db}'`)).trim() === '1';

async function backup(dest: string[], policy: string, env: Record<string, string>) {
  const b = await runAgent(pgBackupArgs(pg, 'app', policy, dest, ['--encryption', 'age']), pgEnv(env));
  return b;
}

function restore(
  dest: string[],
  b: { manifestKey: string; sha256: string },
  db: string,
  env: Record<string, string>,
) {
  return runAgent(pgRestoreArgs(pg, b, db, dest), pgEnv(env));
}

test.serial(
  'an encrypted backup in s3rver decrypts with the age CLI and zstd to an archive pg_restore reads, and restores',
  async (t) => {
    const dest = destArgs({ type: 's3', bucket: 'sealed', endpoint: s3.endpoint, path: 'enc' });
    const b = await backup(dest, 'sealed', { CAIRN_AGE_RECIPIENT: recipient });
    t.is(b.code, 0, b.stderr);
    if (!b.result.ok) return;
    t.is(b.result.encryption, 'age');
    t.regex(b.result.key, /\.dump\.zst\.age$/);

    const manifestText = await (
      await s3.client.send(new GetObjectCommand({ Bucket: 'sealed', Key: b.result.manifestKey }))
    ).Body?.transformToString();
    const manifest = JSON.parse(manifestText ?? '{}');
    t.deepEqual(manifest.artifact.encryption, { format: 'age', recipient });
    t.false(manifestText?.includes('AGE-SECRET-KEY') ?? true, 'no key in the manifest');

    // The oracle: the age and zstd CLIs, then pg_restore --list, with no Cairn code involved.
    const stored = path.join(work, 'stored.age');
    const bytes = await (
      await s3.client.send(new GetObjectCommand({ Bucket: 'sealed', Key: b.result.key }))
    ).Body?.transformToByteArray();
    await writeFile(stored, bytes ?? new Uint8Array());
    t.is((await readFile(stored)).subarray(0, 21).toString(), 'age-encryption.org/v1');
    await writeFile(path.join(work, 'key.txt'), `${identity}\n`);
    await run('age', ['-d', '-i', path.join(work, 'key.txt'), '-o', path.join(work, 'stored.zst'), stored]);
    await run('zstd', [
      '-d',
      '-q',
      '-f',
      path.join(work, 'stored.zst'),
      '-o',
      path.join(work, 'stored.dump'),
    ]);
    const { stdout: list } = await run(path.join(pg.binDir, 'pg_restore'), [
      '--list',
      path.join(work, 'stored.dump'),
    ]);
    t.regex(list, /TABLE public accounts/);
    t.regex(list, /TABLE DATA public accounts/);

    const r = await restore(dest, b.result, 'sealed_copy', { CAIRN_AGE_IDENTITY: identity });
    t.is(r.code, 0, r.stderr);
    t.is(await rows('sealed_copy'), await rows('app'));
  },
);

test.serial('a wrong identity or passphrase fails clearly before the target is touched', async (t) => {
  const root = await mkdtemp(path.join(work, 'pvc-'));
  const dest = destArgs({ type: 'pvc', root });
  const b = await backup(dest, 'wrong', { CAIRN_AGE_RECIPIENT: recipient });
  if (!b.result.ok) return t.fail(b.stderr);

  const wrong = await restore(dest, b.result, 'wrong_victim', { CAIRN_AGE_IDENTITY: otherIdentity });
  t.is(wrong.code, AGENT_EXIT.verification, wrong.stderr);
  if (!wrong.result.ok) t.regex(wrong.result.message, new RegExp(`encrypted to ${recipient}.*wrong key`));
  const none = await restore(dest, b.result, 'wrong_victim', {});
  t.is(none.code, AGENT_EXIT.config);
  if (!none.result.ok) t.regex(none.result.message, /CAIRN_AGE_IDENTITY.*identitySecretRef/);
  t.false(await exists('wrong_victim'), 'the target was touched');

  const p = await backup(dest, 'pass', { CAIRN_AGE_PASSPHRASE: 'correct horse battery staple' });
  if (!p.result.ok) return t.fail(p.stderr);
  const manifest = JSON.parse(await readFile(path.join(root, p.result.manifestKey), 'utf8'));
  t.deepEqual(manifest.artifact.encryption, { format: 'age', passphrase: true });
  const badPass = await restore(dest, p.result, 'wrong_victim', { CAIRN_AGE_PASSPHRASE: 'incorrect horse' });
  t.is(badPass.code, AGENT_EXIT.verification, badPass.stderr);
  if (!badPass.result.ok) t.regex(badPass.result.message, /cannot be decrypted with the key given/);
  t.false(await exists('wrong_victim'), 'the target was touched');
  const ok = await restore(dest, p.result, 'pass_copy', {
    CAIRN_AGE_PASSPHRASE: 'correct horse battery staple',
  });
  t.is(ok.code, 0, ok.stderr);
  t.is(await rows('pass_copy'), await rows('app'));
});

test.serial(
  'a backup with --encryption but no key fails instead of writing the data in the clear',
  async (t) => {
    const root = await mkdtemp(path.join(work, 'pvc-'));
    const b = await backup(destArgs({ type: 'pvc', root }), 'nokey', {});
    t.is(b.code, AGENT_EXIT.config, b.stderr);
    if (!b.result.ok) t.regex(b.result.message, /CAIRN_AGE_RECIPIENT/);
    t.deepEqual(await readdir(root), [], 'nothing was written');
  },
);

test.serial('an encrypted backup verifies in a scratch database, decrypting while it streams', async (t) => {
  const root = await mkdtemp(path.join(work, 'pvc-'));
  const dest = destArgs({ type: 'pvc', root });
  const b = await backup(dest, 'verified', { CAIRN_AGE_RECIPIENT: recipient });
  if (!b.result.ok) return t.fail(b.stderr);
  const v = await runAgent(
    [
      'verify',
      '--target',
      'postgres',
      ...conn(),
      '--database',
      'verify_scratch',
      '--manifest-key',
      b.result.manifestKey,
      '--expect-sha256',
      b.result.sha256,
      '--check',
      JSON.stringify({ name: 'rows', sql: 'select count(*) from accounts', expect: '20000' }),
      ...dest,
    ],
    pgEnv({ CAIRN_AGE_IDENTITY: identity }),
  );
  t.is(v.code, 0, v.stderr);
  if (v.result.ok) t.like(v.result.checks?.[0], { name: 'rows', passed: true });
  t.false(await exists('verify_scratch'));
});

test.serial(
  'a volume encrypted by the age CLI and one encrypted by the agent both restore through the agent',
  async (t) => {
    const src = await mkdtemp(path.join(work, 'src-'));
    await writeFile(path.join(src, 'a.txt'), 'alpha\n'.repeat(10000));
    await writeFile(path.join(src, 'b.bin'), Buffer.alloc(300000, 7));
    const root = await mkdtemp(path.join(work, 'pvc-'));
    const dest = destArgs({ type: 'pvc', root });
    const b = await runAgent(
      [
        'backup',
        '--source',
        'tar',
        '--volume',
        src,
        '--encryption',
        'age',
        ...dest,
        '--policy',
        'vol',
        '--scheduled-time',
        '2030-01-01T00:00:00Z',
      ],
      { CAIRN_AGE_RECIPIENT: recipient },
    );
    if (!b.result.ok) return t.fail(b.stderr);
    const restoreTo = (dir: string) =>
      runAgent(
        [
          'restore',
          '--target',
          'tar',
          '--target-dir',
          dir,
          '--manifest-key',
          b.result.ok ? b.result.manifestKey : '',
          '--allow-unauthenticated',
          ...dest,
        ],
        { CAIRN_AGE_IDENTITY: identity },
      );
    const first = path.join(work, `vol-${Date.now()}`);
    const r = await restoreTo(first);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(await treeListing(first), await treeListing(src));

    // Re-encrypt the same compressed tar with the age CLI: the agent reads age's own output too.
    const file = path.join(root, b.result.key);
    await writeFile(path.join(work, 'key.txt'), `${identity}\n`);
    await run('sh', [
      '-c',
      `age -d -i "$1" "$2" | age -r "$3" -o "$2.cli" && mv "$2.cli" "$2"`,
      'sh',
      path.join(work, 'key.txt'),
      file,
      recipient,
    ]);
    const manifestFile = path.join(root, b.result.manifestKey);
    const m = JSON.parse(await readFile(manifestFile, 'utf8'));
    const sha = (await run('sha256sum', [file])).stdout.split(' ')[0];
    m.artifact.sha256 = sha;
    m.artifact.sizeBytes = (await readFile(file)).length;
    await writeFile(manifestFile, JSON.stringify(m, null, 2));
    const second = path.join(work, `vol2-${Date.now()}`);
    const r2 = await restoreTo(second);
    t.is(r2.code, 0, r2.stderr);
    t.deepEqual(await treeListing(second), await treeListing(src));
  },
);
