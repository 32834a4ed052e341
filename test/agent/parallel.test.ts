/**
 * Parallel PostgreSQL restores (agent/cpus.ts, restoreParallel in agent/restore.ts): the Job's CPU
 * request, handed over as CAIRN_CPU_REQUEST, becomes `pg_restore --jobs`, only into a database the
 * restore creates (jobs cannot share a transaction), and a failed one drops that database again.
 * Through the real agent, a real server and the real pg_restore; zstd, zlib and age alike.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { AGENT_EXIT } from '../../shared/agent-contract.ts';
import { type PostgresServer, startPostgres } from '../fixtures/postgres.ts';
import { destArgs, pgBackupArgs, pgRestoreArgs, runAgent } from './helpers.ts';

const exec = promisify(execFile);
let pg: PostgresServer;
let work: string;
let noZstd: string;
/** What a request of 2 CPUs gives on this machine (availableParallelism caps it). */
const JOBS = Math.min(2, os.availableParallelism());

test.before(async () => {
  pg = await startPostgres();
  work = await mkdtemp(path.join(os.tmpdir(), 'cairn-parallel-'));
  noZstd = await mkdtemp(path.join(os.tmpdir(), 'cairn-nozstd-'));
  await pg.createDatabase('shop');
  await pg.psql(
    `create table customers (id int primary key, name text);
     create table orders (id int primary key, customer int references customers, total numeric);
     create table items (id int primary key, order_id int references orders, sku text);
     create index on items (sku);
     insert into customers select g, 'c' || g from generate_series(1, 3000) g;
     insert into orders select g, 1 + g % 3000, g * 0.5 from generate_series(1, 20000) g;
     insert into items select g, 1 + g % 20000, 'sku' || (g % 97) from generate_series(1, 40000) g;`,
    'shop',
  );
});

test.after.always(async () => {
  await pg?.stop();
});

const fingerprint = (db: string) =>
  pg.psql(
    `select (select count(*) || md5(string_agg(id || name, ',' order by id)) from customers)
         || (select count(*) || md5(string_agg(id || ':' || total, ',' order by id)) from orders)
         || (select count(*) || md5(string_agg(id || sku, ',' order by id)) from items)
         || (select count(*) from pg_indexes where schemaname = 'public')`,
    db,
  );
const exists = async (db: string) =>
  (await pg.psql(`select count(*) from pg_database where datname = '${db}'`)).trim() === '1';

async function backup(root: string, db: string, extra: string[] = [], env: Record<string, string> = {}) {
  const b = await runAgent(pgBackupArgs(pg, db, 'p', destArgs({ type: 'pvc', root }), extra), {
    CAIRN_PG_BINDIR: pg.binDir,
    ...env,
  });
  if (!b.result.ok) throw new Error(b.stderr);
  return b.result;
}

function restore(
  root: string,
  b: { manifestKey: string; sha256: string },
  db: string,
  env: Record<string, string>,
) {
  return runAgent(pgRestoreArgs(pg, b, db, destArgs({ type: 'pvc', root })), {
    CAIRN_PG_BINDIR: pg.binDir,
    ...env,
  });
}

const parallelLog = (logs: Record<string, unknown>[]) => logs.find((l) => l.msg === 'parallel restore');

test.serial(
  'a CPU request of 2 restores a new database with pg_restore --jobs: zstd, zlib and age alike',
  async (t) => {
    const root = path.join(work, 'plain');
    const b = await backup(root, 'shop');
    const { stdout } = await exec('age-keygen', []);
    const identity = stdout.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1')) ?? '';
    const recipient = /# public key: (age1[0-9a-z]+)/.exec(stdout)?.[1] ?? '';
    const sealedRoot = path.join(work, 'sealed');
    const sealed = await backup(sealedRoot, 'shop', ['--encryption', 'age'], {
      CAIRN_AGE_RECIPIENT: recipient,
    });
    for (const [db, r] of [
      ['by_zstd', await restore(root, b, 'by_zstd', { CAIRN_CPU_REQUEST: '2' })],
      ['by_zlib', await restore(root, b, 'by_zlib', { CAIRN_CPU_REQUEST: '2', PATH: noZstd })],
      [
        'by_age',
        await restore(sealedRoot, sealed, 'by_age', { CAIRN_CPU_REQUEST: '2', CAIRN_AGE_IDENTITY: identity }),
      ],
    ] as const) {
      t.is(r.code, 0, r.stderr);
      if (JOBS > 1) t.like(parallelLog(r.logs), { jobs: JOBS, database: db }, db);
      else t.is(parallelLog(r.logs), undefined);
      t.is(await fingerprint(db), await fingerprint('shop'), db);
    }
  },
);

test.serial(
  'without a CPU request, or into a database that exists, a restore stays one transaction',
  async (t) => {
    const root = path.join(work, 'serial');
    const b = await backup(root, 'shop');
    const r1 = await restore(root, b, 'no_request', { CAIRN_CPU_REQUEST: '0' });
    t.is(r1.code, 0, r1.stderr);
    t.is(parallelLog(r1.logs), undefined);
    await pg.createDatabase('existing');
    const r2 = await restore(root, b, 'existing', { CAIRN_CPU_REQUEST: '2' });
    t.is(r2.code, 0, r2.stderr);
    t.is(parallelLog(r2.logs), undefined);
    t.is(await fingerprint('existing'), await fingerprint('shop'));
  },
);

test.serial(
  'a parallel restore that fails drops the database it created: the target is as it was',
  async (t) => {
    if (JOBS < 2) {
      t.pass('one CPU here: restores are one transaction, rolled back');
      return;
    }
    // A table owned by a role the target server no longer has: ALTER … OWNER TO fails halfway.
    await pg.createDatabase('owned');
    await pg.psql('create role ghost', 'postgres');
    await pg.psql(
      `create table a (id int primary key); insert into a select generate_series(1, 5000);
     create table b (id int primary key); alter table b owner to ghost;`,
      'owned',
    );
    const root = path.join(work, 'owned');
    const b = await backup(root, 'owned');
    await pg.psql('drop database owned; drop role ghost', 'postgres');
    const r = await restore(root, b, 'owned_copy', { CAIRN_CPU_REQUEST: '2' });
    t.is(r.code, AGENT_EXIT.source, r.stderr);
    t.like(r.result, { ok: false, reason: 'RestoreFailed' });
    if (!r.result.ok) t.regex(r.result.message, /role "ghost" does not exist/);
    t.truthy(parallelLog(r.logs));
    t.false(await exists('owned_copy'));
  },
);

test.serial(
  'one job: a pg_restore that fails by itself is reported as its failure, not zstd’s broken pipe, and rolled back',
  async (t) => {
    // pg_restore reads zstd's output straight from zstd; when pg_restore stops, zstd's next write
    // fails too. The cause is pg_restore's error: a role the target server does not have.
    await pg.createDatabase('owned_once');
    await pg.psql('create role ghost_once', 'postgres');
    await pg.psql(
      `create table a (id int primary key); insert into a select generate_series(1, 200000);
     create table b (id int); alter table b owner to ghost_once;`,
      'owned_once',
    );
    const root = path.join(work, 'owned_once');
    const b = await backup(root, 'owned_once');
    await pg.psql('drop database owned_once; drop role ghost_once', 'postgres');
    const r = await restore(root, b, 'owned_once_copy', {});
    t.is(r.code, AGENT_EXIT.source, r.stderr);
    t.like(r.result, { ok: false, reason: 'RestoreFailed' });
    if (!r.result.ok)
      t.regex(r.result.message, /pg_restore exited with code 1: .*role "ghost_once" does not exist/s);
    t.is(parallelLog(r.logs), undefined);
    t.is(
      (await pg.psql("select count(*) from pg_class where relname in ('a', 'b')", 'owned_once_copy')).trim(),
      '0',
    );
  },
);
