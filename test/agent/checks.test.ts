/**
 * Verification checks are user text run with the backup's database credentials: they must not
 * reach a shell, the agent pod's files, or the production server. Each test here attacks the check
 * runner through the real agent process against a real server (issue 15 item 3): psql/mariadb
 * client meta-commands (`\!`, `\copy`, `system`), a second statement that turns read-only off
 * or commits first, server-side programs and files, and a check naming another database. Each is
 * refused or harmless, and harmless is proven on the server: no new database, the source rows
 * unchanged, no file written.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { AGENT_EXIT, type VerifyCheck } from '../../shared/agent-contract.ts';
import { type MariadbServer, startMariadb } from '../fixtures/mariadb.ts';
import { type PostgresServer, startPostgres } from '../fixtures/postgres.ts';
import { destArgs, runAgent } from './helpers.ts';

const PASSWORD = 'checks-pw-4e1a';
let pg: PostgresServer;
let maria: MariadbServer;
let root: string;
/** A folder the server's OS user (postgres, mysql) and this one can both write. */
let drop: string;
let pgBackup: { manifestKey: string; sha256: string };
let mariaBackup: { manifestKey: string; sha256: string };

test.before(async () => {
  [pg, maria] = await Promise.all([startPostgres({ password: PASSWORD }), startMariadb()]);
  root = await mkdtemp(path.join(os.tmpdir(), 'cairn-checks-pvc-'));
  drop = await mkdtemp(path.join(os.tmpdir(), 'cairn-checks-drop-'));
  await chmod(drop, 0o1777);
  await pg.createDatabase('app');
  await pg.psql(
    'create table accounts (id int primary key, owner text); insert into accounts select g, $$o$$ || g from generate_series(1, 50) g;',
    'app',
  );
  await maria.createDatabase('shop');
  // The fixture's user holds every privilege (FILE too); checks need a user without FILE.
  await maria.query(
    "create user verifier@'%' identified by 'verifier-pw'; grant all on shop_scratch.* to verifier@'%'; grant select on shop.* to verifier@'%';",
  );
  await maria.query(
    "create table accounts (id int primary key, owner text); insert into accounts select seq, concat('o', seq) from seq_1_to_50;",
    'shop',
  );
  const backup = async (kind: 'postgres' | 'mariadb') => {
    const b = await runAgent(
      [
        'backup',
        '--source',
        kind,
        ...(kind === 'postgres'
          ? ['--host', pg.host, '--port', String(pg.port), '--user', 'postgres', '--database', 'app']
          : ['--host', maria.host, '--port', String(maria.port), '--user', maria.user, '--database', 'shop']),
        ...destArgs({ type: 'pvc', root }),
        '--policy',
        `${kind}-checks`,
        '--scheduled-time',
        '2030-01-01T00:00:00Z',
      ],
      kind === 'postgres'
        ? { PGPASSWORD: PASSWORD, CAIRN_PG_BINDIR: pg.binDir }
        : { MYSQL_PWD: maria.password },
    );
    if (!b.result.ok) throw new Error(`backup failed: ${b.stderr}`);
    return b.result;
  };
  pgBackup = await backup('postgres');
  mariaBackup = await backup('mariadb');
});

test.after.always(async () => {
  await Promise.all([pg?.stop(), maria?.stop()]);
});

function verifyPg(checks: VerifyCheck[]) {
  return runAgent(
    [
      'verify',
      '--target',
      'postgres',
      '--host',
      pg.host,
      '--port',
      String(pg.port),
      '--user',
      'postgres',
      '--database',
      'app_scratch',
      '--manifest-key',
      pgBackup.manifestKey,
      '--expect-sha256',
      pgBackup.sha256,
      ...destArgs({ type: 'pvc', root }),
      ...checks.flatMap((c) => ['--check', JSON.stringify(c)]),
    ],
    { PGPASSWORD: PASSWORD, CAIRN_PG_BINDIR: pg.binDir },
  );
}

function verifyMaria(checks: VerifyCheck[], as = { user: 'verifier', password: 'verifier-pw' }) {
  return runAgent(
    [
      'verify',
      '--target',
      'mariadb',
      '--host',
      maria.host,
      '--port',
      String(maria.port),
      '--user',
      as.user,
      '--database',
      'shop_scratch',
      '--manifest-key',
      mariaBackup.manifestKey,
      '--expect-sha256',
      mariaBackup.sha256,
      ...destArgs({ type: 'pvc', root }),
      ...checks.flatMap((c) => ['--check', JSON.stringify(c)]),
    ],
    { MYSQL_PWD: as.password },
  );
}

/** The failed checks' names, from the ChecksFailed message (`N of M check(s) failed: a: …; b: …`). */
function failedChecks(message: string, names: string[]): string[] {
  return names.filter((n) => message.includes(`${n}: `));
}

test.serial(
  'PostgreSQL: meta-commands, a second statement and server programs are refused; nothing is written',
  async (t) => {
    const marker = path.join(drop, 'pg-shell');
    const copied = path.join(drop, 'pg-copy');
    const program = path.join(drop, 'pg-program');
    const attacks: VerifyCheck[] = [
      { name: 'shell', sql: `\\! touch ${marker}` },
      { name: 'copy', sql: `\\copy (select 1) to '${copied}'` },
      { name: 'read-write', sql: 'set default_transaction_read_only = off; create database evil' },
      { name: 'set-rw', sql: 'set transaction read write' },
      { name: 'commit-first', sql: 'commit; create table pwned (a int)' },
      { name: 'other-database', sql: 'delete from app.public.accounts' },
      { name: 'program', sql: `copy (select 1) to program 'touch ${program}'` },
      { name: 'create-db', sql: 'create database evil2' },
    ];
    const canaries: VerifyCheck[] = [
      // A check that runs fine, and proof that the attacks wrote nothing to the scratch copy either.
      { name: 'rows', sql: 'select count(*) from accounts', expect: '50' },
      { name: 'no-pwned', sql: "select count(*) from pg_tables where tablename = 'pwned'", expect: '0' },
    ];
    const v = await verifyPg([...attacks, ...canaries]);
    t.is(v.code, AGENT_EXIT.checksFailed, v.stderr);
    if (v.result.ok) return;
    t.is(v.result.reason, 'ChecksFailed');
    const names = [...attacks, ...canaries].map((c) => c.name);
    t.deepEqual(
      failedChecks(v.result.message, names),
      attacks.map((c) => c.name),
      v.result.message,
    );
    t.regex(v.result.message, /commit-first: [^;]*multiple commands/);
    t.regex(v.result.message, /program: [^;]*pg_execute_server_program/);
    t.regex(v.result.message, /create-db: [^;]*read-only transaction/);
    t.false(existsSync(marker), '\\! ran a shell in the agent');
    t.false(existsSync(copied), '\\copy wrote a file in the agent');
    t.false(existsSync(program), 'COPY TO PROGRAM ran a shell on the server');
    t.is(
      (await pg.psql("select count(*) from pg_database where datname like 'evil%'", 'postgres')).trim(),
      '0',
    );
    t.is((await pg.psql('select count(*) from accounts', 'app')).trim(), '50', 'the source is untouched');
    t.is(
      (await pg.psql("select count(*) from pg_database where datname = 'app_scratch'", 'postgres')).trim(),
      '0',
      'the scratch database is dropped',
    );
  },
);

test.serial('PostgreSQL: the checks that pass report what they found, NULL as an empty field', async (t) => {
  const v = await verifyPg([
    { name: 'count', sql: 'select count(*) from accounts', compare: 'value == 50' },
    { name: 'text', sql: "select owner, null, 'a|b' from accounts where id = 7", expect: 'o7||a|b' },
    { name: 'rows', sql: 'select id from accounts where id <= 3 order by id', expect: '1\n2\n3' },
  ]);
  t.is(v.code, 0, v.stderr);
  if (!v.result.ok) return;
  t.deepEqual(
    v.result.checks?.map((c) => c.passed),
    [true, true, true],
  );
});

test.serial(
  'MariaDB: client commands, a second statement and writes elsewhere are refused; nothing is written',
  async (t) => {
    const marker = path.join(drop, 'maria-shell');
    const system = path.join(drop, 'maria-system');
    const outfile = path.join(drop, 'maria-outfile');
    const attacks: VerifyCheck[] = [
      { name: 'outfile', sql: `select 1 into outfile '${outfile}'` },
      { name: 'load-file', sql: "select load_file('/etc/passwd') is not null", expect: '1' },
      { name: 'shell', sql: `\\! touch ${marker}` },
      { name: 'system', sql: `system touch ${system}` },
      { name: 'read-write', sql: 'set session transaction read write; create database evil' },
      { name: 'create-db', sql: 'create database evil2' },
      { name: 'commit-first', sql: 'commit; create table pwned (a int)' },
      { name: 'other-database', sql: 'delete from shop.accounts' },
    ];
    const canaries: VerifyCheck[] = [
      { name: 'rows', sql: 'select count(*) from accounts', expect: '50' },
      // Reading another database of the server is possible (the DatabaseBackup's author already
      // chooses which database these credentials dump), and read-only: nothing changes.
      { name: 'reads-elsewhere', sql: 'select count(*) from shop.accounts', expect: '50' },
      {
        name: 'no-pwned',
        sql: "select count(*) from information_schema.tables where table_name = 'pwned'",
        expect: '0',
      },
    ];
    const v = await verifyMaria([...attacks, ...canaries]);
    t.is(v.code, AGENT_EXIT.checksFailed, v.stderr);
    if (v.result.ok) return;
    const names = [...attacks, ...canaries].map((c) => c.name);
    t.deepEqual(
      failedChecks(v.result.message, names),
      attacks.map((c) => c.name),
      v.result.message,
    );
    t.false(existsSync(marker), '\\! ran a shell in the agent');
    t.false(existsSync(system), 'system ran a shell in the agent');
    t.false(existsSync(outfile), 'INTO OUTFILE wrote a file on the server');
    t.is(
      (
        await maria.query("select count(*) from information_schema.schemata where schema_name like 'evil%'")
      ).trim(),
      '0',
    );
    t.is(
      (await maria.query('select count(*) from accounts', 'shop')).trim(),
      '50',
      'the source is untouched',
    );
    t.is(
      (
        await maria.query(
          "select count(*) from information_schema.schemata where schema_name = 'shop_scratch'",
        )
      ).trim(),
      '0',
      'the scratch database is dropped',
    );
  },
);

test.serial('MariaDB: a user with the FILE privilege runs no check, and says why', async (t) => {
  const outfile = path.join(drop, 'maria-outfile-root');
  const v = await verifyMaria(
    [
      { name: 'outfile', sql: `select 1 into outfile '${outfile}'` },
      { name: 'rows', sql: 'select count(*) from accounts', expect: '50' },
    ],
    { user: maria.user, password: maria.password },
  );
  t.is(v.code, AGENT_EXIT.checksFailed, v.stderr);
  if (v.result.ok) return;
  t.regex(v.result.message, /2 of 2 check\(s\) failed: outfile: .*FILE privilege.*; rows: .*FILE privilege/);
  t.false(existsSync(outfile));
});
