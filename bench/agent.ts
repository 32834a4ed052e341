/**
 * Agent benchmarks, each against its baseline measured in the same run on the same database. Every
 * variant runs once per round and rounds alternate, so load on the machine hits all alike; each
 * figure is the median of its rounds (quick: 3, full: 5).
 *
 * - backup wall time vs the expert's pipeline `pg_dump -Fc -Z0 | zstd -3 -T0 > file; sha256sum
 *   file` (target ≤ 1.0), vs `pg_dump -Fc -Z0 > /dev/null`, the floor (≤ 1.3), and vs
 *   `pg_dump -Fc > file`, what most users run (≤ 0.5)
 * - artifact size vs the expert pipeline's (≤ 1.05) and vs the `pg_dump -Fc` file (≤ 1.1)
 * - restore wall time (PVC artifact → verified spool → pg_restore, database created) vs `createdb;
 *   pg_restore --single-transaction` from the -Fc file (≤ 0.9) and vs `createdb; zstd -dc file |
 *   pg_restore --single-transaction` from the expert's file (≤ 1.0)
 * - the agent's own peak RSS in backup and restore (≤ 80 MiB)
 * - backup and restore with age encryption on vs off (≤ 1.15)
 * - full only, on four tables of orders (what parallel jobs need): a restore with a CPU request of
 *   2 (pg_restore --jobs 2) vs none, and the agent's one-stream backup vs `pg_dump -Fd -j 2` into a
 *   folder, then tar | zstd (what a parallel dump costs: see agent/README.md)
 *
 * Data: pgbench's tables (blank-padded, compress ~100×, gzip nearly free on them) and an orders
 * table of random-ish rows (md5 tokens, emails, numbers, jsonb, words; ~3.4× compressible) of about
 * the same size. Sizes: quick = scale 5 (~80 MiB); full adds scale 70 (≥ 1 GB). The agent runs as a
 * real process, bundled as its image runs it (`npm run build:agent`, then `node agent/dist/main.js`),
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

/** The flags the agent image runs node with (agent/Containerfile): a small young generation and no optimizing compiler keep RSS low. */
export const NODE_FLAGS = (process.env.CAIRN_AGENT_NODE_FLAGS ?? '--max-semi-space-size=2 --lite-mode')
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

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** Runs every variant once per round, rounds after each other; returns each variant's results. */
async function alternate<T>(
  rounds: number,
  variants: Record<string, () => Promise<T>>,
): Promise<Record<string, T[]>> {
  const out: Record<string, T[]> = {};
  for (let i = 0; i < rounds; i++) {
    for (const [name, run] of Object.entries(variants)) {
      const r = await run();
      out[name] = [...(out[name] ?? []), r];
    }
  }
  return out;
}

/** A shell pipeline as an expert writes it; arguments go in as "$1"…, never into the script text. */
function sh(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return timed('/bin/sh', ['-c', script, 'sh', ...args], env);
}

const EXPERT_BACKUP = '"$1" -Fc -Z0 "$2" | zstd -q -3 -T0 > "$3" && sha256sum "$3" > /dev/null';
const EXPERT_RESTORE = 'zstd -dc "$1" | "$2" --single-transaction --exit-on-error -d "$3"';

interface AgentRun {
  seconds: number;
  peakRssMiB: number;
  result: { sizeBytes?: number; manifestKey?: string; sha256?: string };
}
const mid = (runs: AgentRun[]) => ({
  seconds: median(runs.map((r) => r.seconds)),
  peakRssMiB: median(runs.map((r) => r.peakRssMiB)),
});

async function benchScale(
  pg: PostgresServer,
  scale: number,
  data: 'pgbench' | 'orders',
  rounds: number,
  quick: boolean,
): Promise<BenchResult[]> {
  const db = `bench_${data}_s${scale}`;
  await pg.createDatabase(db);
  const name = await (data === 'pgbench' ? pgbenchData : ordersData)(pg, db, scale);
  await pg.psql('vacuum analyze', db);
  const dbBytes = Number((await pg.psql(`select pg_database_size('${db}')`, db)).trim());
  const label = `${name} (${Math.round(dbBytes / 1048576)} MiB)`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-'));
  const env = { ...pg.env, PGDATABASE: db, CAIRN_PG_BINDIR: pg.binDir };
  const bin = (tool: string) => path.join(pg.binDir, tool);
  const conn = ['--host', pg.host, '--port', String(pg.port), '--user', pg.user];
  const root = path.join(dir, 'pvc');
  const fcFile = path.join(dir, 'baseline.dump');
  const expertFile = path.join(dir, 'expert.dump.zst');
  const identity = await generateIdentity();
  const sealedEnv = {
    ...env,
    CAIRN_AGE_RECIPIENT: await identityToRecipient(identity),
    CAIRN_AGE_IDENTITY: identity,
  };
  const agentBackup = (policy: string, extra: string[], e: NodeJS.ProcessEnv) =>
    agent(
      [
        'backup',
        '--source',
        'postgres',
        ...conn,
        '--database',
        db,
        ...extra,
        '--dest-type',
        'pvc',
        '--dest-root',
        root,
        '--policy',
        policy,
        '--scheduled-time',
        '2025-03-27T01:00:00Z',
      ],
      e,
    );
  const agentRestore = (target: string, b: AgentRun, e: NodeJS.ProcessEnv) =>
    agent(
      [
        'restore',
        '--target',
        'postgres',
        ...conn,
        '--database',
        target,
        '--dest-type',
        'pvc',
        '--dest-root',
        root,
        '--manifest-key',
        b.result.manifestKey ?? '',
        '--expect-sha256',
        b.result.sha256 ?? '',
      ],
      e,
    );
  /** A restore into a fresh database, dropped again outside the time. */
  const restoreRun = async (target: string, restore: () => Promise<number>) => {
    const s = await restore();
    await pg.psql(`drop database ${target}`);
    return s;
  };
  try {
    // Warm the cache once so no variant pays for the first read.
    await timed(bin('pg_dump'), ['-Fc', '-Z0', db], env);
    let plain: AgentRun | undefined;
    let sealed: AgentRun | undefined;
    // pg_dump -Fc gzips on one core (2-4 s on orders s=5): quick runs it once, for its file.
    const fcDump = () => timed(bin('pg_dump'), ['-Fc', db], env, fcFile);
    const fcOnce = quick ? [await fcDump()] : undefined;
    const backups = await alternate<number | AgentRun>(rounds, {
      floor: () => timed(bin('pg_dump'), ['-Fc', '-Z0', db], env),
      expert: () => sh(EXPERT_BACKUP, [bin('pg_dump'), db, expertFile], env),
      ...(fcOnce ? {} : { fcFile: fcDump }),
      agent: async () => (plain = await agentBackup('bench', [], env)),
      sealed: async () => (sealed = await agentBackup('bench-sealed', ['--encryption', 'age'], sealedEnv)),
    });
    if (!plain || !sealed) throw new Error('no agent backup ran');
    const b = plain;
    const eb = sealed;
    // The agent creates its target database itself: so do the baselines, inside their time.
    const createdb = async () => {
      const t0 = performance.now();
      await pg.createDatabase(`${db}_r`);
      return (performance.now() - t0) / 1000;
    };
    const restores = await alternate<number | AgentRun>(rounds, {
      pgRestore: () =>
        restoreRun(`${db}_r`, async () => {
          const c = await createdb();
          return (
            c +
            (await timed(
              bin('pg_restore'),
              ['--single-transaction', '--exit-on-error', '-d', `${db}_r`, fcFile],
              env,
            ))
          );
        }),
      zstdPgRestore: () =>
        restoreRun(
          `${db}_r`,
          async () =>
            (await createdb()) + (await sh(EXPERT_RESTORE, [expertFile, bin('pg_restore'), `${db}_r`], env)),
        ),
      agent: async () => {
        const r = await agentRestore(`${db}_r`, b, env);
        await pg.psql(`drop database ${db}_r`);
        return r;
      },
      sealed: async () => {
        const r = await agentRestore(`${db}_r`, eb, sealedEnv);
        await pg.psql(`drop database ${db}_r`);
        return r;
      },
    });
    const secs = (xs: (number | AgentRun)[] | undefined) =>
      median((xs ?? []).map((x) => (typeof x === 'number' ? x : x.seconds)));
    const agentRuns = (xs: (number | AgentRun)[] | undefined) =>
      (xs ?? []).filter((x): x is AgentRun => typeof x !== 'number');
    const ab = mid(agentRuns(backups.agent));
    const sb = mid(agentRuns(backups.sealed));
    const ar = mid(agentRuns(restores.agent));
    const sr = mid(agentRuns(restores.sealed));
    const size = b.result.sizeBytes ?? Number.NaN;
    const [fcSize, expertSize] = await Promise.all([stat(fcFile), stat(expertFile)]).then((s) =>
      s.map((x) => x.size),
    );
    await pg.psql(`drop database ${db}`);
    const n = `median of ${rounds}`;
    return [
      result(
        `backup time vs the expert pipeline (pg_dump -Z0 | zstd -T0; sha256sum), ${label}`,
        ab.seconds,
        secs(backups.expert),
        's',
        1.0,
        `${n}; agent: pg_dump -Fc -Z0 → zstd -3 -T → Node sha256 → PVC file (fsync, rename) + manifest, process start included; baseline: ${EXPERT_BACKUP}`,
      ),
      result(
        `backup time vs pg_dump -Fc -Z0 >/dev/null (the floor), ${label}`,
        ab.seconds,
        secs(backups.floor),
        's',
        1.3,
        `${n}; the agent's own pg_dump, uncompressed, to nowhere: what is left is compression, hashing and writing`,
      ),
      result(
        `backup time vs pg_dump -Fc > file, ${label}`,
        ab.seconds,
        secs(fcOnce ?? backups.fcFile),
        's',
        0.5,
        fcOnce ? `${n} (pg_dump -Fc: one run)` : n,
      ),
      result(
        `artifact size vs the expert pipeline's, ${label}`,
        size / 1048576,
        (expertSize ?? Number.NaN) / 1048576,
        'MiB',
        1.05,
        'zstd -3 with 4 MiB jobs vs zstd -3 -T0',
      ),
      result(
        `artifact size vs pg_dump -Fc, ${label}`,
        size / 1048576,
        (fcSize ?? Number.NaN) / 1048576,
        'MiB',
        1.1,
        'zstd level 3 vs pg_dump gzip level 6',
      ),
      result(
        `restore time vs pg_restore from the -Fc file, ${label}`,
        ar.seconds,
        secs(restores.pgRestore),
        's',
        0.9,
        `${n}; both create the database and restore in one transaction; agent: PVC file → /tmp spool while hashing → zstd -dc → pg_restore stdin; baseline: createdb; pg_restore --single-transaction -d db file.Fc`,
      ),
      result(
        `restore time vs zstd -dc | pg_restore, ${label}`,
        ar.seconds,
        secs(restores.zstdPgRestore),
        's',
        1.0,
        `${n}; baseline: createdb; ${EXPERT_RESTORE} on the expert pipeline's file`,
      ),
      result(
        `backup time, age encryption on vs off, ${label}`,
        sb.seconds,
        ab.seconds,
        's',
        1.15,
        `${n}; the same agent backup with --encryption age (X25519 recipient, ChaCha20-Poly1305 after zstd) vs without`,
      ),
      result(
        `restore time, age encryption on vs off, ${label}`,
        sr.seconds,
        ar.seconds,
        's',
        1.15,
        `${n}; the same agent restore decrypting the verified spool into zstd vs the unencrypted artifact`,
      ),
      result(
        `backup peak RSS, ${label}`,
        ab.peakRssMiB,
        80,
        'MiB',
        1.0,
        'the agent process; baseline = the 80 MiB budget',
      ),
      result(
        `backup peak RSS with encryption, ${label}`,
        sb.peakRssMiB,
        80,
        'MiB',
        1.0,
        'baseline = the 80 MiB budget',
      ),
      result(
        `restore peak RSS, ${label}`,
        ar.peakRssMiB,
        80,
        'MiB',
        1.0,
        'the agent process; baseline = the 80 MiB budget',
      ),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Parallel jobs need several tables: four tables of orders. A restore with a CPU request of 2
 * (pg_restore --jobs 2 from the decompressed spool) vs the same restore with none (one job, one
 * transaction); and the agent's one-stream backup vs a parallel dump as it would have to be done,
 * `pg_dump -Fd -j 2` into a folder, then tar | zstd -T0.
 */
async function benchJobs(pg: PostgresServer, scale: number, rounds: number): Promise<BenchResult[]> {
  const db = `bench_tables_s${scale}`;
  await pg.createDatabase(db);
  await ordersData(pg, db, scale);
  await pg.psql(
    `${[1, 2, 3, 4].map((i) => `create unlogged table orders_${i} as select * from orders where id % 4 = ${i - 1}; alter table orders_${i} add primary key (id);`).join('\n')}
     drop table orders; vacuum analyze;`,
    db,
  );
  const dbBytes = Number((await pg.psql(`select pg_database_size('${db}')`, db)).trim());
  const label = `4 orders tables, ${((scale * 40_000) / 1e6).toFixed(2)}M rows (${Math.round(dbBytes / 1048576)} MiB)`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-'));
  const env = { ...pg.env, PGDATABASE: db, CAIRN_PG_BINDIR: pg.binDir };
  const conn = ['--host', pg.host, '--port', String(pg.port), '--user', pg.user];
  const root = path.join(dir, 'pvc');
  const folder = path.join(dir, 'fd');
  try {
    const dest = ['--dest-type', 'pvc', '--dest-root', root];
    let b: AgentRun | undefined;
    const backups = await alternate<number | AgentRun>(rounds, {
      agent: async () =>
        (b = await agent(
          [
            'backup',
            '--source',
            'postgres',
            ...conn,
            '--database',
            db,
            ...dest,
            '--policy',
            'jobs',
            '--scheduled-time',
            '2025-03-27T01:00:00Z',
          ],
          env,
        )),
      dirJobs: async () => {
        await rm(folder, { recursive: true, force: true });
        return sh(
          '"$1" -Fd -Z0 -j 2 -f "$2" "$3" && tar -C "$2" -cf - . | zstd -q -3 -T0 > "$2.tar.zst" && sha256sum "$2.tar.zst" > /dev/null',
          [path.join(pg.binDir, 'pg_dump'), folder, db],
          env,
        );
      },
    });
    if (!b) throw new Error('no agent backup ran');
    const backup = b;
    const restore = (e: NodeJS.ProcessEnv) => async () => {
      const r = await agent(
        [
          'restore',
          '--target',
          'postgres',
          ...conn,
          '--database',
          `${db}_r`,
          ...dest,
          '--manifest-key',
          backup.result.manifestKey ?? '',
          '--expect-sha256',
          backup.result.sha256 ?? '',
        ],
        e,
      );
      await pg.psql(`drop database ${db}_r`);
      return r;
    };
    const restores = await alternate(rounds, {
      one: restore(env),
      two: restore({ ...env, CAIRN_CPU_REQUEST: '2' }),
    });
    await pg.psql(`drop database ${db}`);
    const secs = (xs: (number | AgentRun)[] | undefined) =>
      median((xs ?? []).map((x) => (typeof x === 'number' ? x : x.seconds)));
    const n = `median of ${rounds}; ${os.availableParallelism()} CPUs here`;
    return [
      result(
        `restore time, CPU request 2 (pg_restore --jobs 2) vs none, ${label}`,
        secs(restores.two),
        secs(restores.one),
        's',
        Number.NaN,
        `${n}; --jobs 2 first decompresses the spool to a file; see agent/README.md for 8 cores`,
      ),
      result(
        `backup time, one stream vs pg_dump -Fd -j 2 then tar | zstd, ${label}`,
        secs(backups.agent),
        secs(backups.dirJobs),
        's',
        Number.NaN,
        `${n}; why the agent dumps in one stream: see agent/README.md`,
      ),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchAgent(opts: { quick: boolean }): Promise<BenchResult[]> {
  await buildAgent();
  const pg = await startPostgres();
  const rounds = opts.quick ? 3 : 5;
  try {
    const out: BenchResult[] = [];
    for (const scale of opts.quick ? [5] : [5, 70]) {
      for (const data of ['pgbench', 'orders'] as const)
        out.push(...(await benchScale(pg, scale, data, rounds, opts.quick)));
    }
    if (!opts.quick) out.push(...(await benchJobs(pg, 20, rounds)));
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
