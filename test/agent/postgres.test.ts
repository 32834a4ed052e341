/**
 * PostgreSQL round trips through the real agent process against a real server (scram password),
 * through S3 (s3rver, multipart), GCS (wire fake) and a PVC folder, and the failure cases: a
 * corrupt, truncated or wrong-checksum artifact is refused with the target unchanged, and a
 * pg_dump killed halfway leaves nothing that looks complete.
 */
import { chmod, mkdtemp, readdir, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { AGENT_EXIT } from '../../shared/agent-contract.ts';
import { openStore } from '../../shared/storage/index.ts';
import { type GcsFake, startGcsFake } from '../fixtures/gcs-fake.ts';
import { type PostgresServer, startPostgres } from '../fixtures/postgres.ts';
import { run } from '../fixtures/run.ts';
import { type S3Server, startS3 } from '../fixtures/s3.ts';
import { destArgs, runAgent } from './helpers.ts';

const PASSWORD = 'p@ss w0rd';
let pg: PostgresServer;
let s3: S3Server;
let gcs: GcsFake;
let pvcRoot: string;

/** Every table's rows, hashed in a stable order: equal databases give equal strings. */
async function fingerprint(db: string, schemas = ['public', 'billing']): Promise<string> {
  const tables = (
    await pg.psql(
      `select format('%I.%I', schemaname, tablename) from pg_tables where schemaname in (${schemas.map((s) => `'${s}'`).join(',')}) order by 1`,
      db,
    )
  )
    .trim()
    .split('\n')
    .filter(Boolean);
  const parts: string[] = [];
  for (const t of tables) {
    parts.push(
      `${t}=${(await pg.psql(`select count(*) || ':' || coalesce(md5(string_agg(x::text, '|' order by x::text)), '') from ${t} x`, db)).trim()}`,
    );
  }
  return parts.join('\n');
}

const conn = () => ['--host', pg.host, '--port', String(pg.port), '--user', 'postgres'];
const env = () => ({ PGPASSWORD: PASSWORD, CAIRN_PG_BINDIR: pg.binDir });

test.before(async () => {
  [pg, s3, gcs] = await Promise.all([
    startPostgres({ password: PASSWORD }),
    startS3({ buckets: ['backups'] }),
    startGcsFake({ buckets: ['gbackups'] }),
  ]);
  pvcRoot = await mkdtemp(path.join(os.tmpdir(), 'cairn-pvc-'));
  await pg.createDatabase('app');
  await run(path.join(pg.binDir, 'pgbench'), ['-i', '-s', '2', '-q', 'app'], { env: pg.env });
  // A second schema with incompressible data, so the zstd artifact is well over one 8 MiB S3 part.
  await pg.psql(
    `create schema billing;
     create table billing.invoices (id int primary key, customer text not null, amount numeric(12,2), blob bytea);
     insert into billing.invoices
       select g, 'customer ' || (g % 977), (g * 7 % 10000) / 100.0,
              decode(md5(random()::text) || md5(random()::text) || md5(random()::text), 'hex')
       from generate_series(1, 300000) g;
     create index on billing.invoices (customer);
     create view billing.big_invoices as select * from billing.invoices where amount > 50;`,
    'app',
  );
});

test.after.always(async () => {
  await Promise.all([pg?.stop(), s3?.stop(), gcs?.stop()]);
});

test.serial(
  'a pgbench database and a second schema round-trip through S3 with a real multipart upload',
  async (t) => {
    const b = await runAgent(
      [
        'backup',
        '--source',
        'postgres',
        ...conn(),
        '--database',
        'app',
        ...destArgs({ type: 's3', bucket: 'backups', endpoint: s3.endpoint, path: 'postgres/daily' }),
        '--policy',
        'postgres-daily-backup',
        '--scheduled-time',
        '2025-03-27T01:00:00Z',
        '--backup-name',
        'postgres-daily-backup-202503270100',
      ],
      { ...env(), ...s3.env },
    );
    t.is(b.code, 0, b.stderr);
    if (!b.result.ok) return t.fail(b.result.message);
    t.is(b.result.key, 'postgres/daily/postgres-daily-backup/20250327T010000Z.dump.zst');
    t.is(b.result.manifestKey, 'postgres/daily/postgres-daily-backup/20250327T010000Z.manifest.json');
    t.true(b.result.sizeBytes > 8 * 1024 * 1024, `artifact ${b.result.sizeBytes} bytes`);
    t.true(b.result.rawBytes > b.result.sizeBytes);
    const parts = s3.requests.filter(
      (r) => r.method === 'PUT' && r.query.partNumber && r.path.endsWith('.dump.zst'),
    );
    t.true(parts.length >= 2, `${parts.length} parts uploaded`);
    t.true(
      s3.requests.some((r) => r.method === 'POST' && r.query.uploadId && r.status === 200),
      'multipart upload completed',
    );

    const store = await openStore(
      { type: 's3', bucket: 'backups', endpoint: s3.endpoint, forcePathStyle: true },
      { s3: s3 },
    );
    const manifest = JSON.parse(
      await (await store.get(b.result.manifestKey)).toArray().then((c) => Buffer.concat(c).toString()),
    );
    t.like(manifest, {
      formatVersion: 1,
      policy: 'postgres-daily-backup',
      backupName: 'postgres-daily-backup-202503270100',
      artifact: {
        sha256: b.result.sha256,
        sizeBytes: b.result.sizeBytes,
        rawBytes: b.result.rawBytes,
        compression: 'zstd',
      },
      source: { kind: 'postgres', format: 'custom', database: 'app', tool: 'pg_dump' },
    });
    t.regex(manifest.source.serverVersion, /^15|^\d+/);
    t.regex(manifest.cairnVersion, /^\d+\.\d+\.\d+/);

    const r = await runAgent(
      [
        'restore',
        '--target',
        'postgres',
        ...conn(),
        '--database',
        'app_copy',
        '--manifest-key',
        b.result.manifestKey,
        '--expect-sha256',
        b.result.sha256,
        ...destArgs({ type: 's3', bucket: 'backups', endpoint: s3.endpoint }),
      ],
      { ...env(), ...s3.env },
    );
    t.is(r.code, 0, r.stderr);
    t.like(r.result, { ok: true, command: 'restore', sha256: b.result.sha256 });
    t.is(await fingerprint('app_copy'), await fingerprint('app'));
    t.is(
      (await pg.psql("select count(*) from pg_indexes where schemaname = 'billing'", 'app_copy')).trim(),
      '2',
    );
    t.is(
      (await pg.psql('select count(*) from billing.big_invoices', 'app_copy')).trim(),
      (await pg.psql('select count(*) from billing.big_invoices', 'app')).trim(),
    );

    // A database name with quotes, a backslash, a space and `=` is created and restored into as
    // it is: it travels as a psql variable and a conninfo value, never as SQL or shell text.
    const odd = `it's "odd" \\ db=1`;
    const o = await runAgent(
      [
        'restore',
        '--target',
        'postgres',
        ...conn(),
        '--database',
        odd,
        '--manifest-key',
        b.result.manifestKey,
        '--expect-sha256',
        b.result.sha256,
        ...destArgs({ type: 's3', bucket: 'backups', endpoint: s3.endpoint }),
      ],
      { ...env(), ...s3.env },
    );
    t.is(o.code, 0, o.stderr);
    const oddConninfo = `dbname='${odd.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    t.is(
      (await pg.psql('select count(*) from billing.invoices', oddConninfo)).trim(),
      (await pg.psql('select count(*) from billing.invoices', 'app')).trim(),
    );
  },
);

test.serial('a one-schema dump through GCS restores only that schema (seed 001)', async (t) => {
  const b = await runAgent(
    [
      'backup',
      '--source',
      'postgres',
      ...conn(),
      '--database',
      'app',
      '--schema',
      'billing',
      '--compression',
      'gzip',
      ...destArgs({ type: 'gcs', bucket: 'gbackups', endpoint: gcs.endpoint, path: 'api' }),
      '--policy',
      'database-backup',
      '--scheduled-time',
      '2025-03-27T02:30:00+01:00',
    ],
    env(),
  );
  t.is(b.code, 0, b.stderr);
  if (!b.result.ok) return t.fail(b.result.message);
  t.is(b.result.key, 'api/database-backup/20250327T013000Z.dump.gz');
  t.deepEqual(gcs.unhandled, []);
  t.true(gcs.requests.filter((r) => r.method === 'PUT' && r.contentRange).length >= 1);
  t.deepEqual(gcs.objects('gbackups'), [b.result.key, b.result.manifestKey].sort());

  const r = await runAgent(
    [
      'restore',
      '--target',
      'postgres',
      ...conn(),
      '--database',
      'billing_only',
      '--manifest-key',
      b.result.manifestKey,
      '--expect-sha256',
      b.result.sha256,
      ...destArgs({ type: 'gcs', bucket: 'gbackups', endpoint: gcs.endpoint }),
    ],
    env(),
  );
  t.is(r.code, 0, r.stderr);
  t.is(await fingerprint('billing_only', ['billing']), await fingerprint('app', ['billing']));
  t.is(
    (await pg.psql("select count(*) from pg_tables where schemaname = 'public'", 'billing_only')).trim(),
    '0',
  );
});

test.serial(
  'a plain-format dump on a PVC restores with psql, and a non-empty target is refused unless --overwrite',
  async (t) => {
    const root = await mkdtemp(path.join(pvcRoot, 'plain-'));
    const b = await runAgent(
      [
        'backup',
        '--source',
        'postgres',
        ...conn(),
        '--database',
        'app',
        '--format',
        'plain',
        '--compression',
        'none',
        ...destArgs({ type: 'pvc', root, path: 'pg' }),
        '--policy',
        'plain',
        '--scheduled-time',
        '2025-03-27T01:00:00Z',
      ],
      env(),
    );
    t.is(b.code, 0, b.stderr);
    if (!b.result.ok) return t.fail(b.result.message);
    t.is(b.result.key, 'pg/plain/20250327T010000Z.sql');
    t.is(b.result.sizeBytes, b.result.rawBytes);
    t.deepEqual((await readdir(path.join(root, 'pg/plain'))).sort(), [
      '20250327T010000Z.manifest.json',
      '20250327T010000Z.sql',
    ]);
    const restore = (db: string, ...extra: string[]) =>
      runAgent(
        [
          'restore',
          '--target',
          'postgres',
          ...conn(),
          '--database',
          db,
          '--manifest-key',
          b.result.ok ? b.result.manifestKey : '',
          '--expect-sha256',
          b.result.ok ? b.result.sha256 : '',
          ...destArgs({ type: 'pvc', root }),
          ...extra,
        ],
        env(),
      );
    const r = await restore('plain_copy');
    t.is(r.code, 0, r.stderr);
    t.is(await fingerprint('plain_copy'), await fingerprint('app'));

    const again = await restore('plain_copy');
    t.is(again.code, AGENT_EXIT.targetNotEmpty);
    t.like(again.result, { ok: false, reason: 'TargetNotEmpty' });
    if (!again.result.ok) t.regex(again.result.message, /not empty.*--overwrite/);
  },
);

test.serial('a custom-format restore with --overwrite replaces what the backup contains', async (t) => {
  const root = await mkdtemp(path.join(pvcRoot, 'ow-'));
  const b = await backupToPvc(root, 'ow');
  await pg.createDatabase('ow_target');
  await pg.psql(
    'create table public.keepme (x int); insert into keepme values (42); create table public.pgbench_branches (junk text);',
    'ow_target',
  );
  const refused = await runAgent(
    [
      'restore',
      '--target',
      'postgres',
      ...conn(),
      '--database',
      'ow_target',
      '--manifest-key',
      b.manifestKey,
      '--expect-sha256',
      b.sha256,
      ...destArgs({ type: 'pvc', root }),
    ],
    env(),
  );
  t.is(refused.code, AGENT_EXIT.targetNotEmpty);
  const r = await runAgent(
    [
      'restore',
      '--target',
      'postgres',
      ...conn(),
      '--database',
      'ow_target',
      '--manifest-key',
      b.manifestKey,
      '--expect-sha256',
      b.sha256,
      '--overwrite',
      ...destArgs({ type: 'pvc', root }),
    ],
    env(),
  );
  t.is(r.code, 0, r.stderr);
  t.is(await fingerprint('ow_target', ['billing']), await fingerprint('app', ['billing']));
  t.is((await pg.psql('select count(*) from pgbench_branches', 'ow_target')).trim(), '2');
  t.is((await pg.psql('select x from keepme', 'ow_target')).trim(), '42');
});

async function backupToPvc(root: string, policy: string, extra: string[] = []) {
  const b = await runAgent(
    [
      'backup',
      '--source',
      'postgres',
      ...conn(),
      '--database',
      'app',
      ...extra,
      ...destArgs({ type: 'pvc', root }),
      '--policy',
      policy,
      '--scheduled-time',
      '2025-03-27T01:00:00Z',
    ],
    env(),
  );
  if (b.code !== 0 || !b.result.ok) throw new Error(`backup failed: ${b.stderr}`);
  return b.result;
}

/** A database with known content to restore over; returns its fingerprint. */
async function victim(name: string): Promise<string> {
  await pg.createDatabase(name);
  await pg.psql(
    'create table pgbench_accounts (aid int, note text); insert into pgbench_accounts values (1, $$original$$);',
    name,
  );
  return fingerprint(name);
}

test.serial(
  'a corrupted, truncated or wrong-checksum artifact is refused and the target stays unchanged',
  async (t) => {
    const root = await mkdtemp(path.join(pvcRoot, 'bad-'));
    const b = await backupToPvc(root, 'bad');
    const file = path.join(root, b.key);
    const original = await readFile(file);
    const restoreOver = (db: string) =>
      runAgent(
        [
          'restore',
          '--target',
          'postgres',
          ...conn(),
          '--database',
          db,
          '--manifest-key',
          b.manifestKey,
          '--expect-sha256',
          b.sha256,
          '--overwrite',
          ...destArgs({ type: 'pvc', root }),
        ],
        env(),
      );

    // A flipped byte in the middle.
    const before1 = await victim('victim_corrupt');
    const corrupt = Buffer.from(original);
    const mid = Math.floor(corrupt.length / 2);
    corrupt[mid] = (corrupt[mid] ?? 0) ^ 0xff;
    await writeFile(file, corrupt);
    const r1 = await restoreOver('victim_corrupt');
    t.is(r1.code, AGENT_EXIT.verification, r1.stderr);
    t.like(r1.result, { ok: false, reason: 'VerificationFailed' });
    t.is(await fingerprint('victim_corrupt'), before1);

    // Truncated.
    const before2 = await victim('victim_truncated');
    await writeFile(file, original);
    await truncate(file, Math.floor(original.length * 0.7));
    const r2 = await restoreOver('victim_truncated');
    t.is(r2.code, AGENT_EXIT.verification);
    t.is(await fingerprint('victim_truncated'), before2);

    // The artifact is intact but the manifest's sha256 is not the one the Backup recorded: the
    // manifest is not this backup's, and nothing is read.
    const before3 = await victim('victim_checksum');
    await writeFile(file, original);
    const manifestFile = path.join(root, b.manifestKey);
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    manifest.artifact.sha256 = 'f'.repeat(64);
    await writeFile(manifestFile, JSON.stringify(manifest));
    const r3 = await restoreOver('victim_checksum');
    t.is(r3.code, AGENT_EXIT.verification, r3.stderr);
    if (!r3.result.ok)
      t.regex(r3.result.message, /the Backup recorded [0-9a-f]{64}: the store's manifest was rewritten/);
    t.is(await fingerprint('victim_checksum'), before3);
  },
);

test.serial(
  'a plain SQL restore whose manifest names another checksum touches nothing, not even to create the target',
  async (t) => {
    const root = await mkdtemp(path.join(pvcRoot, 'badplain-'));
    const b = await backupToPvc(root, 'badplain', ['--format', 'plain']);
    const manifestFile = path.join(root, b.manifestKey);
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    manifest.artifact.sha256 = '0'.repeat(64);
    await writeFile(manifestFile, JSON.stringify(manifest));
    const r = await runAgent(
      [
        'restore',
        '--target',
        'postgres',
        ...conn(),
        '--database',
        'plain_victim',
        '--manifest-key',
        b.manifestKey,
        '--expect-sha256',
        b.sha256,
        ...destArgs({ type: 'pvc', root }),
      ],
      env(),
    );
    t.is(r.code, AGENT_EXIT.verification, r.stderr);
    t.is((await pg.psql("select count(*) from pg_database where datname = 'plain_victim'")).trim(), '0');
  },
);

test.serial(
  'a pg_dump killed halfway fails the backup and leaves no object, no manifest and no multipart upload',
  async (t) => {
    // A pg_dump that streams 12 MB of the real dump and then dies of SIGKILL.
    const bin = await mkdtemp(path.join(os.tmpdir(), 'cairn-killed-pgdump-'));
    for (const tool of ['psql', 'pg_restore'])
      await symlink(path.join(pg.binDir, tool), path.join(bin, tool));
    await writeFile(
      path.join(bin, 'pg_dump'),
      `#!/bin/bash\nif [ "$1" = "--version" ]; then exec ${pg.binDir}/pg_dump --version; fi\n${pg.binDir}/pg_dump "$@" | head -c 12000000\nkill -KILL $$\n`,
    );
    await chmod(path.join(bin, 'pg_dump'), 0o755);
    const before = s3.requests.length;
    const b = await runAgent(
      [
        'backup',
        '--source',
        'postgres',
        ...conn(),
        '--database',
        'app',
        '--compression',
        'none',
        ...destArgs({ type: 's3', bucket: 'backups', endpoint: s3.endpoint, path: 'killed' }),
        '--policy',
        'killed',
        '--scheduled-time',
        '2025-03-27T01:00:00Z',
      ],
      { ...env(), ...s3.env, CAIRN_PG_BINDIR: bin },
    );
    t.is(b.code, AGENT_EXIT.source, b.stderr);
    t.like(b.result, { ok: false, reason: 'SourceFailed' });
    if (!b.result.ok) t.regex(b.result.message, /pg_dump was killed by SIGKILL/);
    const during = s3.requests.slice(before);
    t.true(
      during.some((r) => r.method === 'PUT' && r.query.partNumber),
      'a part had been uploaded before the kill',
    );
    t.true(
      during.some((r) => r.method === 'DELETE' && r.query.uploadId),
      'the multipart upload was aborted',
    );
    t.false(
      during.some((r) => r.method === 'POST' && r.query.uploadId),
      'the multipart upload was never completed',
    );
    const store = await openStore(
      { type: 's3', bucket: 'backups', endpoint: s3.endpoint, forcePathStyle: true },
      { s3 },
    );
    t.deepEqual(await store.list('killed/'), []);
  },
);

test.serial('a killed dump to a PVC leaves no file, not even a partial one', async (t) => {
  const root = await mkdtemp(path.join(pvcRoot, 'killedpvc-'));
  const b = await runAgent(
    [
      'backup',
      '--source',
      'custom',
      ...destArgs({ type: 'pvc', root }),
      '--policy',
      'k',
      '--scheduled-time',
      '2025-03-27T01:00:00Z',
      '--',
      'bash',
      '-c',
      'head -c 3000000 /dev/urandom; kill -KILL $$',
    ],
    {},
  );
  t.is(b.code, AGENT_EXIT.source);
  t.deepEqual(
    await readdir(root, { recursive: true }).then((l) => l.filter((n) => !n.endsWith('k') && n !== '.')),
    [],
  );
});

test.serial('a wrong password is a source failure that says it cannot connect', async (t) => {
  const root = await mkdtemp(path.join(pvcRoot, 'pw-'));
  const b = await runAgent(
    [
      'backup',
      '--source',
      'postgres',
      ...conn(),
      '--database',
      'app',
      ...destArgs({ type: 'pvc', root }),
      '--policy',
      'pw',
      '--scheduled-time',
      '2025-03-27T01:00:00Z',
    ],
    { ...env(), PGPASSWORD: 'wrong' },
  );
  t.is(b.code, AGENT_EXIT.source);
  if (!b.result.ok) {
    t.regex(b.result.message, /cannot connect to PostgreSQL/);
    t.false(b.result.message.includes('wrong'));
  }
});

test.serial('pg_dumpall of the whole cluster restores into a fresh cluster', async (t) => {
  const root = await mkdtemp(path.join(pvcRoot, 'all-'));
  const b = await runAgent(
    [
      'backup',
      '--source',
      'postgres',
      ...conn(),
      '--all-databases',
      ...destArgs({ type: 'pvc', root }),
      '--policy',
      'all',
      '--scheduled-time',
      '2025-03-27T01:00:00Z',
    ],
    env(),
  );
  t.is(b.code, 0, b.stderr);
  if (!b.result.ok) return;
  t.regex(b.result.key, /\.sql\.zst$/);
  const fresh = await startPostgres({ password: PASSWORD });
  try {
    const r = await runAgent(
      [
        'restore',
        '--target',
        'postgres',
        '--host',
        fresh.host,
        '--port',
        String(fresh.port),
        '--user',
        'postgres',
        '--manifest-key',
        b.result.manifestKey,
        '--expect-sha256',
        b.result.sha256,
        ...destArgs({ type: 'pvc', root }),
      ],
      env(),
    );
    t.is(r.code, 0, r.stderr);
    t.is((await fresh.psql('select count(*) from billing.invoices', 'app')).trim(), '300000');
    t.is((await fresh.psql('select count(*) from pgbench_accounts', 'app')).trim(), '200000');
  } finally {
    await fresh.stop();
  }
});
