/**
 * Agent benchmarks, each against its baseline in the same run on the same database:
 *
 * - backup wall time vs `pg_dump -Fc > /dev/null` and vs `pg_dump -Fc > file` (target ≤ 0.5:
 *   the agent runs pg_dump -Z0 and compresses with zstd beside it, pg_dump -Fc gzips on one core)
 * - artifact size vs the `pg_dump -Fc` file (target ≤ 1.1)
 * - restore wall time (PVC artifact → pg_restore --single-transaction, verified) vs
 *   `pg_restore --single-transaction` from the local -Fc file (target ≤ 1.0)
 * - the agent's peak RSS in backup and restore (target ≤ 100 MB)
 * - backup and restore with age encryption on vs off, the same data in the same run (target ≤ 1.15)
 *
 * Data: pgbench's tables (blank-padded, compress ~10×, gzip nearly free on them) and an orders
 * table of random-ish rows (md5 tokens, emails, numbers, jsonb, words; ~3× compressible) of about
 * the same size. Sizes: quick = scale 5 (~75 MB); full adds scale 70 (≥ 1 GB). The agent runs as a real
 * process, bundled as its image runs it (`npm run build:agent`, then `node agent/dist/main.js`),
 * start-up included.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { AGENT_BUNDLE, buildAgent } from '../agent/build.ts';
import { type PostgresServer, startPostgres } from '../test/fixtures/postgres.ts';
import { run } from '../test/fixtures/run.ts';

export interface BenchResult {
  name: string;
  cairn: number;
  baseline: number;
  unit: string;
  /** cairn / baseline */
  ratio: number;
  /** The ratio must stay at or under this. */
  target: number;
  note?: string;
}

/** The flags the agent image runs node with (agent/Containerfile): a small young generation keeps RSS flat while streaming. */
export const NODE_FLAGS = (process.env.CAIRN_AGENT_NODE_FLAGS ?? '--max-semi-space-size=2')
  .split(' ')
  .filter(Boolean);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Runs a command with stdout to a file (or /dev/null); resolves with the wall time in seconds. */
async function timed(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdoutTo?: string,
): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', stdoutTo ? 'pipe' : 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-2000);
    });
    if (stdoutTo && child.stdout) child.stdout.pipe(createWriteStream(stdoutTo));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err}`)),
    );
  });
  return (performance.now() - t0) / 1000;
}

/** Runs the agent; returns wall seconds, the parsed result and the peak RSS it logged. */
async function agent(args: string[], env: NodeJS.ProcessEnv) {
  const t0 = performance.now();
  // Through sh, which forks it: Linux carries a parent's RSS at fork into the child's maxRSS
  // (across exec), so spawned straight from this process (171 MiB after the tick suite) the
  // agent's own peak-RSS figure read this process's size, not its own.
  const res = await run(
    '/bin/sh',
    ['-c', '"$@"; exit $?', 'sh', process.execPath, ...NODE_FLAGS, AGENT_BUNDLE, ...args],
    {
      env: { ...env, CAIRN_TERMINATION_LOG: '/dev/null' },
      cwd: REPO,
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  const done = res.stderr
    .split('\n')
    .filter((l) => l.includes('completed'))
    .map((l) => JSON.parse(l) as { peakRssMiB?: number })[0];
  const result = JSON.parse(res.stdout.trim().split('\n').at(-1) ?? '{}') as {
    sizeBytes?: number;
    manifestKey?: string;
    sha256?: string;
  };
  return { seconds, peakRssMiB: done?.peakRssMiB ?? Number.NaN, result };
}

const r2 = (n: number) => Math.round(n * 100) / 100;
const result = (
  name: string,
  cairn: number,
  baseline: number,
  unit: string,
  target: number,
  note?: string,
): BenchResult => ({
  name,
  cairn: r2(cairn),
  baseline: r2(baseline),
  unit,
  ratio: r2(cairn / baseline),
  target,
  ...(note ? { note } : {}),
});

/** pgbench's tables: mostly blank-padded char columns, which any compressor squeezes for free. */
async function pgbenchData(pg: PostgresServer, db: string, scale: number): Promise<string> {
  await run(path.join(pg.binDir, 'pgbench'), ['-i', '-s', String(scale), '-q', '--unlogged-tables', db], {
    env: pg.env,
  });
  return `pgbench s=${scale}`;
}

const WORDS = (
  'order invoice customer refund shipping delayed warehouse payment card account address street ' +
  'city berlin paris tokyo sydney urgent normal express return damaged replacement ticket support ' +
  'agent email phone call resolved pending review approved rejected discount coupon premium basic ' +
  'monthly yearly subscription renewal cancel upgrade downgrade error timeout retry success failed ' +
  'product blue red green large small medium bundle gift wrap note thanks please'
).split(' ');

/**
 * What users back up more often than blanks: an orders table of ~400-byte rows, generated in SQL
 * from random numbers, md5 tokens, emails, timestamps, a jsonb document and 16 words drawn from
 * 64 per row, with a primary key. `rows` is picked to land near pgbench's size at the same scale.
 */
async function ordersData(pg: PostgresServer, db: string, scale: number): Promise<string> {
  const rows = scale * 40_000;
  const word = () => `w[1 + floor(random() * ${WORDS.length})::int]`;
  const words = (n: number) => Array.from({ length: n }, word).join(" || ' ' || ");
  await pg.psql(
    `create unlogged table orders as
     select g as id,
            timestamptz '2024-01-01' + g * interval '7 seconds' + random() * interval '5 seconds' as created_at,
            'customer' || floor(random() * 200000)::int || '@example.com' as email,
            (array['new', 'paid', 'shipped', 'delivered', 'refunded'])[1 + floor(random() * 5)::int] as status,
            round((random() * 2000)::numeric, 2) as amount,
            md5(g::text || random()::text) as token,
            jsonb_build_object(
              'sku', 'SKU-' || floor(random() * 50000)::int,
              'qty', 1 + floor(random() * 9)::int,
              'weight', round((random() * 30)::numeric, 3),
              'tags', jsonb_build_array(${word()}, ${word()}),
              'note', ${words(4)}
            ) as attrs,
            ${words(12)} as comment
       from generate_series(1, ${rows}) g,
            (select array[${WORDS.map((w) => `'${w}'`).join(', ')}] as w) v;
     alter table orders add primary key (id);`,
    db,
  );
  return `orders ${(rows / 1e6).toFixed(rows < 1e6 ? 1 : 2)}M rows`;
}

async function benchScale(
  pg: PostgresServer,
  scale: number,
  data: 'pgbench' | 'orders',
): Promise<BenchResult[]> {
  const db = `bench_${data}_s${scale}`;
  await pg.createDatabase(db);
  const name = await (data === 'pgbench' ? pgbenchData : ordersData)(pg, db, scale);
  await pg.psql('vacuum analyze', db);
  const dbBytes = Number((await pg.psql(`select pg_database_size('${db}')`, db)).trim());
  const label = `${name} (${Math.round(dbBytes / 1048576)} MiB)`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-'));
  const env = { ...pg.env, PGDATABASE: db, CAIRN_PG_BINDIR: pg.binDir };
  try {
    const pgDump = path.join(pg.binDir, 'pg_dump');
    // Warm the cache once so neither side pays for the first read.
    await timed(pgDump, ['-Fc', '-Z0', db], env);
    // What the agent itself runs, to nowhere: the floor no pipeline after it can beat.
    const floor = await timed(pgDump, ['-Fc', '-Z0', db], env);
    const devNull = await timed(pgDump, ['-Fc', db], env);
    const fcFile = path.join(dir, 'baseline.dump');
    const toFile = await timed(pgDump, ['-Fc', db], env, fcFile);
    const fcSize = (await stat(fcFile)).size;

    const root = path.join(dir, 'pvc');
    const conn = ['--host', pg.host, '--port', String(pg.port), '--user', pg.user];
    const b = await agent(
      [
        'backup',
        '--source',
        'postgres',
        ...conn,
        '--database',
        db,
        '--dest-type',
        'pvc',
        '--dest-root',
        root,
        '--policy',
        'bench',
        '--scheduled-time',
        '2025-03-27T01:00:00Z',
      ],
      env,
    );
    const size = b.result.sizeBytes ?? Number.NaN;

    // The agent creates its target database itself: so does the baseline, inside its time.
    const t0 = performance.now();
    await pg.createDatabase(`${db}_pgr`);
    const createdb = (performance.now() - t0) / 1000;
    const pgRestore =
      createdb +
      (await timed(
        path.join(pg.binDir, 'pg_restore'),
        ['--single-transaction', '-d', `${db}_pgr`, fcFile],
        env,
      ));
    const r = await agent(
      [
        'restore',
        '--target',
        'postgres',
        ...conn,
        '--database',
        `${db}_cairn`,
        '--dest-type',
        'pvc',
        '--dest-root',
        root,
        '--manifest-key',
        b.result.manifestKey ?? '',
        '--expect-sha256',
        b.result.sha256 ?? '',
      ],
      env,
    );
    // The same backup and restore, encrypted to an age recipient: what encryption costs.
    const identity = await generateIdentity();
    const sealedEnv = {
      ...env,
      CAIRN_AGE_RECIPIENT: await identityToRecipient(identity),
      CAIRN_AGE_IDENTITY: identity,
    };
    const eb = await agent(
      [
        'backup',
        '--source',
        'postgres',
        ...conn,
        '--database',
        db,
        '--encryption',
        'age',
        '--dest-type',
        'pvc',
        '--dest-root',
        root,
        '--policy',
        'bench-sealed',
        '--scheduled-time',
        '2025-03-27T01:00:00Z',
      ],
      sealedEnv,
    );
    const er = await agent(
      [
        'restore',
        '--target',
        'postgres',
        ...conn,
        '--database',
        `${db}_sealed`,
        '--dest-type',
        'pvc',
        '--dest-root',
        root,
        '--manifest-key',
        eb.result.manifestKey ?? '',
        '--expect-sha256',
        eb.result.sha256 ?? '',
      ],
      sealedEnv,
    );
    await pg.psql(
      `drop database ${db}_pgr; drop database ${db}_cairn; drop database ${db}_sealed; drop database ${db}`,
    );
    return [
      result(
        `backup time vs pg_dump -Fc >/dev/null, ${label}`,
        b.seconds,
        devNull,
        's',
        0.5,
        'agent: pg_dump -Fc -Z0 | zstd-3 | sha256 | PVC file, process start included',
      ),
      result(`backup time vs pg_dump -Fc > file, ${label}`, b.seconds, toFile, 's', 0.5),
      result(
        `backup time vs pg_dump -Fc -Z0 >/dev/null (the floor), ${label}`,
        b.seconds,
        floor,
        's',
        1.15,
        "the agent's own pg_dump, uncompressed, to nowhere: what is left is compression, hashing and writing",
      ),
      result(
        `artifact size vs pg_dump -Fc, ${label}`,
        size / 1048576,
        fcSize / 1048576,
        'MiB',
        1.1,
        'zstd level 3 vs pg_dump gzip level 6',
      ),
      result(
        `restore time vs pg_restore from a local file, ${label}`,
        r.seconds,
        pgRestore,
        's',
        1.0,
        'both --single-transaction and creating the database; agent copies the PVC file into a /tmp spool while hashing it, then streams the verified spool through zstd into pg_restore stdin; baseline reads its own -Fc file',
      ),
      result(
        `backup time, age encryption on vs off, ${label}`,
        eb.seconds,
        b.seconds,
        's',
        1.15,
        'the same agent backup with --encryption age (X25519 recipient, ChaCha20-Poly1305 after zstd) vs without',
      ),
      result(
        `restore time, age encryption on vs off, ${label}`,
        er.seconds,
        r.seconds,
        's',
        1.15,
        'the same agent restore decrypting while it streams vs the unencrypted artifact',
      ),
      result(
        `backup peak RSS with encryption, ${label}`,
        eb.peakRssMiB,
        100,
        'MiB',
        1.0,
        'baseline = the 100 MiB budget',
      ),
      result(`backup peak RSS, ${label}`, b.peakRssMiB, 100, 'MiB', 1.0, 'baseline = the 100 MiB budget'),
      result(`restore peak RSS, ${label}`, r.peakRssMiB, 100, 'MiB', 1.0, 'baseline = the 100 MiB budget'),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchAgent(opts: { quick: boolean }): Promise<BenchResult[]> {
  await buildAgent();
  const pg = await startPostgres();
  try {
    const out: BenchResult[] = [];
    for (const scale of opts.quick ? [5] : [5, 70]) {
      for (const data of ['pgbench', 'orders'] as const) out.push(...(await benchScale(pg, scale, data)));
    }
    return out;
  } finally {
    await pg.stop();
  }
}

if (import.meta.main) {
  const quick = !process.argv.includes('--full');
  for (const r of await benchAgent({ quick })) {
    const ok = r.ratio <= r.target ? 'ok  ' : 'MISS';
    console.log(
      `${ok} ${r.name}: cairn ${r.cairn} ${r.unit}, baseline ${r.baseline} ${r.unit}, ratio ${r.ratio} (target ≤ ${r.target})`,
    );
  }
}
