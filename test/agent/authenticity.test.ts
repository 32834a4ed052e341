/**
 * A bucket writer must not be able to make a restore run anything (issue 15 item 4), through the
 * real agent process against real PostgreSQL and MariaDB:
 *
 * - bytes that do not hash to the Backup's digest never reach psql, not even the first ones;
 * - without a Backup's digest, a manifest must be signed with the signing key (HMAC-SHA256) that
 *   the store never sees: unsigned, rewritten, moved or wrongly keyed manifests are refused, and
 *   only `--allow-unauthenticated` restores what nothing vouches for;
 * - psql never gets a custom-format archive to read as a script; mariadb runs with --sandbox.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import test from 'ava';
import { AGENT_EXIT } from '../../shared/agent-contract.ts';
import { type MariadbServer, startMariadb } from '../fixtures/mariadb.ts';
import { type PostgresServer, startPostgres } from '../fixtures/postgres.ts';
import { destArgs, runAgent } from './helpers.ts';

const PASSWORD = 'auth-pw-51c0';
const SIGNING_KEY = `${'k'.repeat(16)}signing-key-of-the-policy-0123456789`;
let pg: PostgresServer;
let maria: MariadbServer;
let drop: string;

test.before(async () => {
  [pg, maria] = await Promise.all([startPostgres({ password: PASSWORD }), startMariadb()]);
  drop = await mkdtemp(path.join(os.tmpdir(), 'cairn-auth-drop-'));
  await chmod(drop, 0o1777);
  await pg.createDatabase('app');
  await pg.createDatabase('big');
  await pg.psql(
    'create table t as select g as id, md5(g::text) as h from generate_series(1, 100000) g;',
    'big',
  );
  await pg.psql(
    'create table accounts (id int primary key); insert into accounts select generate_series(1, 30);',
    'app',
  );
  await maria.createDatabase('shop');
  await maria.query(
    'create table accounts (id int primary key); insert into accounts select seq from seq_1_to_30;',
    'shop',
  );
});

test.after.always(async () => {
  await Promise.all([pg?.stop(), maria?.stop()]);
});

const pgEnv = (extra: Record<string, string> = {}) => ({
  PGPASSWORD: PASSWORD,
  CAIRN_PG_BINDIR: pg.binDir,
  ...extra,
});
const pgConn = () => ['--host', pg.host, '--port', String(pg.port), '--user', 'postgres'];

async function pgBackup(
  root: string,
  policy: string,
  flags: string[] = [],
  env: Record<string, string> = {},
  database = 'app',
) {
  const b = await runAgent(
    [
      'backup',
      '--source',
      'postgres',
      ...pgConn(),
      '--database',
      database,
      ...flags,
      ...destArgs({ type: 'pvc', root }),
      '--policy',
      policy,
      '--scheduled-time',
      '2030-01-01T00:00:00Z',
    ],
    pgEnv(env),
  );
  if (!b.result.ok) throw new Error(`backup failed: ${b.stderr}`);
  return b.result;
}

function pgRestore(
  root: string,
  manifestKey: string,
  database: string,
  flags: string[],
  env: Record<string, string> = {},
) {
  return runAgent(
    [
      'restore',
      '--target',
      'postgres',
      ...pgConn(),
      '--database',
      database,
      '--manifest-key',
      manifestKey,
      ...flags,
      ...destArgs({ type: 'pvc', root }),
    ],
    pgEnv(env),
  );
}

const databaseExists = async (name: string) =>
  (await pg.psql(`select count(*) from pg_database where datname = '${name}'`)).trim() === '1';

test.serial(
  'bytes that do not hash to the Backup digest never reach psql, not even the first ones',
  async (t) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-auth-pvc-'));
    const b = await pgBackup(root, 'plain', ['--format', 'plain', '--compression', 'none'], {}, 'big');
    t.true(b.sizeBytes > 3 << 20);
    // A script of the same size that starts with a shell escape: a restore that streamed it into
    // psql while hashing would have run the escape megabytes before the digest was known.
    const marker = path.join(drop, 'streamed');
    const head = `\\! touch ${marker}\n`;
    // Many short comment lines, which psql must read one by one (the pipe then makes the stream
    // wait for psql): the agent before the spool ran the escape and only then saw the mismatch.
    const rest = b.sizeBytes - head.length;
    await writeFile(
      path.join(root, b.key),
      `${head}${'-- x\n'.repeat(Math.floor(rest / 5))}${'-'.repeat(rest % 5)}`,
    );
    const r = await pgRestore(root, b.manifestKey, 'streamed_victim', ['--expect-sha256', b.sha256]);
    t.is(r.code, AGENT_EXIT.verification, r.stderr);
    if (!r.result.ok) t.regex(r.result.message, /does not match/);
    t.false(existsSync(marker), 'psql ran the forged script before the digest was checked');
    t.false(await databaseExists('streamed_victim'), 'the target was touched before the digest matched');
  },
);

test.serial(
  'without a Backup digest an unsigned manifest is refused unless --allow-unauthenticated',
  async (t) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-auth-pvc-'));
    const b = await pgBackup(root, 'unsigned');
    const refused = await pgRestore(root, b.manifestKey, 'unsigned_copy', []);
    t.is(refused.code, AGENT_EXIT.verification, refused.stderr);
    if (!refused.result.ok) t.regex(refused.result.message, /nothing vouches for .*allowUnauthenticated/);
    t.false(await databaseExists('unsigned_copy'));
    // With a key at hand, an unsigned manifest is no better.
    const keyed = await pgRestore(root, b.manifestKey, 'unsigned_copy', [], {
      CAIRN_SIGNING_KEY: SIGNING_KEY,
    });
    t.is(keyed.code, AGENT_EXIT.verification);
    if (!keyed.result.ok) t.regex(keyed.result.message, /is not signed/);

    const allowed = await pgRestore(root, b.manifestKey, 'unsigned_copy', ['--allow-unauthenticated']);
    t.is(allowed.code, 0, allowed.stderr);
    t.is((await pg.psql('select count(*) from accounts', 'unsigned_copy')).trim(), '30');
    t.true(allowed.logs.some((l) => l.level === 'warn' && String(l.msg).includes('nothing vouches')));
  },
);

test.serial(
  'a signed manifest restores with the key alone; rewritten, moved or wrongly keyed ones are refused',
  async (t) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-auth-pvc-'));
    const key = { CAIRN_SIGNING_KEY: SIGNING_KEY };
    const b = await pgBackup(root, 'signed', ['--format', 'plain'], key);
    const manifestFile = path.join(root, b.manifestKey);
    const genuine = await readFile(manifestFile, 'utf8');
    const m = JSON.parse(genuine);
    t.is(m.signature.algorithm, 'hmac-sha256');
    t.regex(m.signature.value, /^[0-9a-f]{64}$/);
    t.false(genuine.includes(SIGNING_KEY), 'the manifest carries no key');

    const ok = await pgRestore(root, b.manifestKey, 'signed_copy', [], key);
    t.is(ok.code, 0, ok.stderr);
    t.is((await pg.psql('select count(*) from accounts', 'signed_copy')).trim(), '30');

    // Artifact and manifest rewritten together, the manifest's digest matching the forged script.
    const marker = path.join(drop, 'signed');
    const forged = zstdCompressSync(Buffer.from(`\\! touch ${marker}\n`));
    await writeFile(path.join(root, b.key), forged);
    await writeFile(
      manifestFile,
      JSON.stringify(
        {
          ...m,
          artifact: {
            ...m.artifact,
            sha256: createHash('sha256').update(forged).digest('hex'),
            sizeBytes: forged.length,
          },
        },
        null,
        2,
      ),
    );
    const rewritten = await pgRestore(root, b.manifestKey, 'signed_victim', [], key);
    t.is(rewritten.code, AGENT_EXIT.verification, rewritten.stderr);
    if (!rewritten.result.ok) t.regex(rewritten.result.message, /no valid signature/);
    t.false(existsSync(marker));
    t.false(await databaseExists('signed_victim'));

    // A genuine signed manifest of another backup, copied over this one's (an old backup passed off as the newest).
    const other = await pgBackup(root, 'signed-older', ['--format', 'plain'], key);
    await copyFile(path.join(root, other.manifestKey), manifestFile);
    const moved = await pgRestore(root, b.manifestKey, 'signed_victim', [], key);
    t.is(moved.code, AGENT_EXIT.verification);
    if (!moved.result.ok) t.regex(moved.result.message, /no valid signature/);

    // The genuine manifest, checked with another key.
    await writeFile(manifestFile, genuine);
    const wrongKey = await pgRestore(root, b.manifestKey, 'signed_victim', [], {
      CAIRN_SIGNING_KEY: `${SIGNING_KEY}-rotated`,
    });
    t.is(wrongKey.code, AGENT_EXIT.verification);
    t.false(await databaseExists('signed_victim'));

    // Too short a key is a configuration error, said as such.
    const short = await pgRestore(root, b.manifestKey, 'signed_victim', [], { CAIRN_SIGNING_KEY: 'short' });
    t.is(short.code, AGENT_EXIT.config);
    if (!short.result.ok) t.regex(short.result.message, /at least 32/);
  },
);

test.serial(
  "psql, restoring what the Restore allowed unauthenticated, cannot start the pod's editor",
  async (t) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-auth-pvc-'));
    const b = await pgBackup(root, 'editor', ['--format', 'plain']);
    const editor = path.join(drop, 'pg-editor.sh');
    const marker = path.join(drop, 'pg-editor');
    await writeFile(editor, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    const forged = zstdCompressSync(Buffer.from('select 1 \\e\n'));
    await writeFile(path.join(root, b.key), forged);
    const manifestFile = path.join(root, b.manifestKey);
    const m = JSON.parse(await readFile(manifestFile, 'utf8'));
    m.artifact.sha256 = createHash('sha256').update(forged).digest('hex');
    m.artifact.sizeBytes = forged.length;
    await writeFile(manifestFile, JSON.stringify(m, null, 2));
    await pgRestore(root, b.manifestKey, 'editor_victim', ['--allow-unauthenticated'], {
      PSQL_EDITOR: editor,
      EDITOR: editor,
      VISUAL: editor,
    });
    t.false(existsSync(marker), "psql's \\e ran the pod's editor");
  },
);

test.serial(
  'psql never reads a custom-format archive whose manifest says it is a plain script',
  async (t) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-auth-pvc-'));
    const key = { CAIRN_SIGNING_KEY: SIGNING_KEY };
    // The rows of a genuine archive hold a line that psql would run as a meta-command.
    const marker = path.join(drop, 'rows');
    await pg.psql(
      `create table notes (body text); insert into notes values (E'x\\n\\\\! touch ${marker}\\n');`,
      'app',
    );
    t.teardown(() => pg.psql('drop table notes', 'app'));
    const b = await pgBackup(root, 'flip', []);
    const manifestFile = path.join(root, b.manifestKey);
    const m = JSON.parse(await readFile(manifestFile, 'utf8'));
    await writeFile(
      manifestFile,
      JSON.stringify({ ...m, source: { ...m.source, format: 'plain' } }, null, 2),
    );
    const r = await pgRestore(root, b.manifestKey, 'flip_victim', ['--expect-sha256', b.sha256], key);
    t.is(r.code, AGENT_EXIT.verification, r.stderr);
    if (!r.result.ok) t.regex(r.result.message, /custom-format archive, not the SQL script/);
    t.false(existsSync(marker));
  },
);

test.serial(
  'mariadb restores with --sandbox: a dump that calls the shell cannot, even when allowed unauthenticated',
  async (t) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-auth-pvc-'));
    const conn = ['--host', maria.host, '--port', String(maria.port), '--user', maria.user];
    const b = await runAgent(
      [
        'backup',
        '--source',
        'mariadb',
        ...conn,
        '--database',
        'shop',
        ...destArgs({ type: 'pvc', root }),
        '--policy',
        'shop',
        '--scheduled-time',
        '2030-01-01T00:00:00Z',
      ],
      { MYSQL_PWD: maria.password },
    );
    if (!b.result.ok) throw new Error(b.stderr);
    // An editor that would leave a mark: mariadb's \e runs $EDITOR even in --sandbox mode.
    const editor = path.join(drop, 'editor.sh');
    await writeFile(editor, `#!/bin/sh\ntouch ${path.join(drop, 'maria-editor')}\n`, { mode: 0o755 });
    const manifestFile = path.join(root, b.result.manifestKey);
    const genuine = JSON.parse(await readFile(manifestFile, 'utf8'));
    for (const [name, line] of [
      ['maria-system', `system touch ${path.join(drop, 'maria-system')}`],
      ['maria-bang', `\\! touch ${path.join(drop, 'maria-bang')}`],
      ['maria-source', `source ${editor}`],
      ['maria-editor', 'select 1 \\e'],
    ] as const) {
      const forged = zstdCompressSync(Buffer.from(`${line}\ncreate table pwned (a int);\n`));
      await writeFile(path.join(root, b.result.key), forged);
      const m = structuredClone(genuine);
      m.artifact.sha256 = createHash('sha256').update(forged).digest('hex');
      m.artifact.sizeBytes = forged.length;
      await writeFile(manifestFile, JSON.stringify(m, null, 2));
      const r = await runAgent(
        [
          'restore',
          '--target',
          'mariadb',
          ...conn,
          '--database',
          'shop_victim',
          '--manifest-key',
          b.result.manifestKey,
          '--allow-unauthenticated',
          '--overwrite',
          ...destArgs({ type: 'pvc', root }),
        ],
        { MYSQL_PWD: maria.password, EDITOR: editor, VISUAL: editor },
      );
      t.false(existsSync(path.join(drop, name)), `${line} reached the restore pod's shell`);
      t.not(r.code, 0, `${line}: ${r.stderr}`);
    }
    t.is(
      (await maria.query("select count(*) from information_schema.tables where table_name = 'pwned'")).trim(),
      '0',
    );
  },
);
