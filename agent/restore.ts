/**
 * A restore: read the manifest, check the artifact's size, then stream it back while hashing it,
 * and let nothing reach the target for good before the sha256 matches:
 *
 * - PostgreSQL, one database (custom or plain): verify *while* streaming into
 *   `pg_restore --single-transaction` / `psql --single-transaction`, holding back the last bytes
 *   (HoldTail) until the hash is known. Without its end the tool cannot finish, so it cannot
 *   commit; on a mismatch it is killed and the server rolls the transaction back. One read, no
 *   temp disk (an agent pod has a read-only root filesystem). A custom-format archive goes to
 *   pg_restore re-framed in large chunks (RechunkArchive: pg_dump -Z0 writes one per row).
 * - pg_dumpall, MySQL/MariaDB and custom: their scripts commit as they go (CREATE DATABASE, DDL),
 *   so the artifact is read and verified completely first, then read again and applied.
 * - tar: extracted into a hidden staging folder *inside* the target (the same filesystem even when
 *   the target is a volume mount, so the final moves are renames), verified, then moved in.
 */
import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import type {
  AgentRestoreOptions,
  AgentSuccess,
  DatabaseTarget,
  RestoreTarget,
} from '../shared/agent-contract.ts';
import { messageOf, StorageError } from '../shared/errors.ts';
import type { AgentDeps } from './backup.ts';
import { createDecompressor } from './compression.ts';
import { RestoreFailed, TargetNotEmpty, Unsupported, VerificationFailed } from './errors.ts';
import { type Manifest, parseManifest } from './manifest.ts';
import { paceGc } from './memory.ts';
import { RechunkArchive } from './pgarchive.ts';
import { peakRssMiB } from './progress.ts';
import { checkMysqlName, mysqlArgs, pgEnv } from './sources.ts';
import { ChildSink, HashTap, HoldTail, sink } from './streams.ts';
import { pgTool, type RunningTool, runTool, startTool, type ToolSpec } from './tools.ts';

/** Bytes kept from the restore tool until the checksum matched (see HoldTail). */
export const HOLD_BACK_BYTES = 1 << 20;
const STAGING_PREFIX = '.cairn-restore-';

type Artifact = Manifest['artifact'];

export async function runRestore(opts: AgentRestoreOptions, deps: AgentDeps): Promise<AgentSuccess> {
  const { store, log, clock } = deps;
  const start = clock.now();
  const manifest = parseManifest(await text(await store.get(opts.manifestKey)), opts.manifestKey);
  const a = manifest.artifact;
  checkTargetKind(opts.target, manifest);
  const head = await store.head(a.key);
  if (!head)
    throw new StorageError(
      `artifact ${store.location(a.key)} is missing (its manifest is ${opts.manifestKey})`,
    );
  if (head.sizeBytes !== a.sizeBytes) {
    throw new VerificationFailed(
      `artifact ${a.key} has ${head.sizeBytes} bytes but its manifest says ${a.sizeBytes}: truncated or replaced; nothing was restored`,
    );
  }
  log.info('restore started', { key: a.key, target: opts.target.kind, sizeBytes: a.sizeBytes });
  const ctx: RestoreCtx = { opts, manifest, deps };
  const t = opts.target;
  switch (t.kind) {
    case 'postgres':
      await restorePostgres(ctx, t);
      break;
    case 'mysql':
    case 'mariadb':
      await restoreMysql(ctx, t);
      break;
    case 'tar':
      await restoreTar(ctx, t.directory);
      break;
    case 'custom':
      await verifyArtifact(ctx);
      await applyArtifact(ctx, { cmd: t.command[0] as string, args: t.command.slice(1), env: deps.env });
      break;
  }
  const end = clock.now();
  log.info('restore completed', {
    key: a.key,
    durationMs: end.getTime() - start.getTime(),
    peakRssMiB: peakRssMiB(),
  });
  return {
    ok: true,
    command: 'restore',
    location: store.location(a.key),
    key: a.key,
    manifestKey: opts.manifestKey,
    sizeBytes: a.sizeBytes,
    rawBytes: a.rawBytes,
    sha256: a.sha256,
    compression: a.compression,
    startTime: start.toISOString(),
    completionTime: end.toISOString(),
    durationMs: end.getTime() - start.getTime(),
  };
}

interface RestoreCtx {
  opts: AgentRestoreOptions;
  manifest: Manifest;
  deps: AgentDeps;
}

function checkTargetKind(t: RestoreTarget, m: Manifest): void {
  const family = (k: string) => (k === 'mariadb' ? 'mysql' : k);
  if (family(t.kind) !== family(m.source.kind)) {
    throw new Unsupported(
      '--target',
      `this backup is a ${m.source.kind} backup; it cannot be restored as ${t.kind}`,
    );
  }
  if (t.kind === 'custom' && t.command.length === 0)
    throw new Unsupported('--', 'the restore command is empty');
}

function mismatch(a: Artifact, hash: HashTap): VerificationFailed | undefined {
  if (hash.bytes === a.sizeBytes && hash.sha256 === a.sha256) return undefined;
  return new VerificationFailed(
    `artifact ${a.key} does not match its manifest: sha256 ${hash.sha256 ?? '?'} over ${hash.bytes} bytes, ` +
      `manifest says ${a.sha256} over ${a.sizeBytes}; nothing was restored`,
  );
}

/** Decompression errors mean a corrupt artifact; storage and verification errors stay what they are. */
function classify(e: unknown, a: Artifact): unknown {
  if (e instanceof VerificationFailed || e instanceof StorageError) return e;
  // zlib's error codes are Z_* (gzip) and ZSTD_error_* (zstd).
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('Z_') || code.startsWith('ZSTD_error'))) {
    return new VerificationFailed(
      `artifact ${a.key} cannot be decompressed (${messageOf(e)}): it is corrupt; nothing was restored`,
    );
  }
  return e;
}

async function open(ctx: RestoreCtx): Promise<{ body: Readable; hash: HashTap }> {
  return { body: await ctx.deps.store.get(ctx.manifest.artifact.key), hash: new HashTap() };
}

/** Reads the whole artifact once, decompressing it too (a corrupt stream fails here), and checks its hash. */
async function verifyArtifact(ctx: RestoreCtx): Promise<void> {
  const a = ctx.manifest.artifact;
  const { body, hash } = await open(ctx);
  const stopGc = paceGc();
  try {
    await pipeline(body, hash, createDecompressor(a.compression), sink());
  } catch (e) {
    throw classify(e, a);
  } finally {
    stopGc();
  }
  const bad = mismatch(a, hash);
  if (bad) throw bad;
  ctx.deps.log.info('artifact verified', { key: a.key, sha256: a.sha256 });
}

/**
 * Streams the artifact into a restore tool's stdin, keeping its tail back until the hash matched.
 * On any failure the tool is killed before its input closes (ChildSink). `customArchive`: the
 * tool is pg_restore, fed through RechunkArchive.
 */
async function applyArtifact(
  ctx: RestoreCtx,
  spec: ToolSpec,
  opts: { customArchive?: boolean } = {},
): Promise<RunningTool> {
  const a = ctx.manifest.artifact;
  const { body, hash } = await open(ctx);
  const tool = startTool(spec, (m) => new RestoreFailed(m));
  const hold = new HoldTail(HOLD_BACK_BYTES, () => {
    const bad = mismatch(a, hash);
    if (bad) throw bad;
  });
  const stopGc = paceGc();
  try {
    // The hold sits right after the hash (whose digest exists once the hold sees the end), before
    // decompression: the held compressed tail holds back the end of the decompressed stream too.
    const decompress = createDecompressor(a.compression);
    if (opts.customArchive) {
      const rechunk = new RechunkArchive();
      const child = new ChildSink(tool.child, { onWritten: (b) => rechunk.release(b) });
      await pipeline(body, hash, hold, decompress, rechunk, child);
    } else {
      await pipeline(body, hash, hold, decompress, new ChildSink(tool.child));
    }
  } catch (e) {
    tool.kill();
    await tool.done.catch(() => {});
    const cause = classify(e, a);
    const exit = tool.exit();
    if (!(cause instanceof VerificationFailed) && exit?.code) {
      // The tool failed by itself (the pipeline then sees EPIPE). A tool choking on a corrupt
      // artifact must be reported as the corrupt artifact: read the rest to tell which it is.
      if (hash.sha256 === undefined) await verifyArtifact(ctx);
      await tool.done;
    }
    throw cause;
  } finally {
    stopGc();
  }
  await tool.done;
  return tool;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** A conninfo `dbname='…'` for -d (a bare name with "=" in it would be read as a conninfo). */
function conninfoDb(name: string): string {
  return `dbname='${name.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

async function psqlQuery(env: NodeJS.ProcessEnv, sql: string, vars: Record<string, string>): Promise<string> {
  const args = ['-X', '-A', '-t', '-q', '-w', '-v', 'ON_ERROR_STOP=1'];
  for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
  args.push('-f', '-');
  return (await runTool({ cmd: pgTool('psql', env), args, env }, (m) => new RestoreFailed(m), sql)).trim();
}

const USER_SCHEMA =
  "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'";

async function restorePostgres(ctx: RestoreCtx, t: DatabaseTarget): Promise<void> {
  const { opts, manifest, deps } = ctx;
  const src = manifest.source;
  const replace = !!(opts.overwrite || opts.clean);
  const where = `PostgreSQL at ${t.host}:${t.port ?? 5432}`;

  if (src.allDatabases) {
    const env = pgEnv(t, t.database ?? 'postgres', deps.env);
    const others = Number(
      await psqlQuery(
        env,
        "select count(*) from pg_database where datname not in ('postgres', 'template0', 'template1');",
        {},
      ),
    );
    if (others > 0 && !replace) {
      throw new TargetNotEmpty(
        `${where} already has ${others} database(s); restore a pg_dumpall backup into an empty cluster, or pass --overwrite`,
      );
    }
    await verifyArtifact(ctx);
    // pg_dumpall scripts cannot run in one transaction (CREATE DATABASE) and always hit
    // "role … already exists" for the connecting role: run on, then judge the errors.
    const tool = await applyArtifact(ctx, {
      cmd: pgTool('psql', deps.env),
      args: ['-X', '-q', '-w', '-f', '-'],
      env,
    });
    const errors = tool
      .stderr()
      .split('\n')
      .filter((l) => /ERROR:/.test(l) && !/role ".*" already exists/.test(l));
    if (errors.length)
      throw new RestoreFailed(
        `psql reported ${errors.length} error(s) restoring ${manifest.artifact.key}: ${errors.slice(0, 3).join('; ')}`,
      );
    return;
  }

  const db = t.database ?? src.database;
  if (!db) throw new Unsupported('--database', 'the target database is required (the manifest names none)');
  const env = pgEnv(t, db, deps.env);
  const scope = JSON.stringify(src.schemas ?? []);
  const inScope = `(:'scope' = '[]' or n.nspname in (select json_array_elements_text(:'scope'::json)))`;
  // Two psql runs where there were three (each a process and a connection, ~30 ms): create the
  // database when missing, then count in it what is in the way. Not one run with `\connect`:
  // psql re-reads a meta-command's interpolated argument and drops the double quotes a database
  // name may hold, while PGDATABASE (pgEnv) carries any name as it is.
  const created = await psqlQuery(
    pgEnv(t, 'postgres', deps.env),
    `select not exists (select from pg_database where datname = :'db') as missing \\gset
\\if :missing
create database :"db";
\\endif
select :'missing';`,
    { db },
  );
  if (created === 't') deps.log.info('created target database', { database: db });
  const objects = Number(
    await psqlQuery(
      env,
      `select (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where ${USER_SCHEMA} and ${inScope})
            + (select count(*) from pg_namespace n where ${USER_SCHEMA} and n.nspname <> 'public' and ${inScope});`,
      { scope },
    ),
  );
  if (objects > 0 && !replace) {
    const what = src.schemas?.length
      ? `schema(s) ${src.schemas.join(', ')} of database ${db}`
      : `database ${db}`;
    throw new TargetNotEmpty(
      `${what} on ${where} is not empty (${objects} objects); restore into an empty database, or pass --overwrite to replace what this backup contains`,
    );
  }
  if (src.format === 'plain') {
    if (objects > 0) {
      throw new Unsupported(
        '--overwrite',
        'a plain-format backup restores only into an empty target (it has no DROP statements); use format custom to overwrite',
      );
    }
    await applyArtifact(ctx, {
      cmd: pgTool('psql', deps.env),
      args: ['-X', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', '-'],
      env,
    });
    return;
  }
  await applyArtifact(
    ctx,
    {
      cmd: pgTool('pg_restore', deps.env),
      args: [
        '--no-password',
        '--single-transaction',
        '--exit-on-error',
        ...(objects > 0 ? ['--clean', '--if-exists'] : []),
        ...(opts.noOwner ? ['--no-owner'] : []),
        `--dbname=${conninfoDb(db)}`,
      ],
      env,
    },
    { customArchive: true },
  );
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB

function sqlString(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

async function restoreMysql(ctx: RestoreCtx, t: DatabaseTarget): Promise<void> {
  const { opts, manifest, deps } = ctx;
  const conn = mysqlArgs(t);
  const query = (sql: string) =>
    runTool(
      { cmd: 'mariadb', args: [...conn, '--batch', '--skip-column-names'], env: deps.env },
      (m) => new RestoreFailed(m),
      sql,
    );
  const replace = !!(opts.overwrite || opts.clean);
  const where = `${t.kind} at ${t.host}:${t.port ?? 3306}`;
  let db: string | undefined;
  if (manifest.source.allDatabases) {
    const n = Number(
      await query(
        "select count(*) from information_schema.schemata where schema_name not in ('mysql', 'information_schema', 'performance_schema', 'sys');",
      ),
    );
    if (n > 0 && !replace)
      throw new TargetNotEmpty(
        `${where} already has ${n} database(s); pass --overwrite to restore over them`,
      );
  } else {
    db = checkMysqlName('--database', t.database ?? manifest.source.database ?? '');
    if (!db) throw new Unsupported('--database', 'the target database is required (the manifest names none)');
    const n = Number(
      await query(
        `select (select count(*) from information_schema.tables where table_schema = ${sqlString(db)}) + (select count(*) from information_schema.routines where routine_schema = ${sqlString(db)});`,
      ),
    );
    if (n > 0 && !replace) {
      throw new TargetNotEmpty(
        `database ${db} on ${where} is not empty (${n} tables/routines); restore into an empty database, or pass --overwrite`,
      );
    }
    await query(`create database if not exists \`${db.replaceAll('`', '``')}\`;`);
  }
  await verifyArtifact(ctx);
  await applyArtifact(ctx, {
    cmd: 'mariadb',
    args: [...conn, '--batch', ...(db ? [`--database=${db}`] : [])],
    env: deps.env,
  });
}

// ---------------------------------------------------------------------------------------------
// tar

async function restoreTar(ctx: RestoreCtx, directory: string): Promise<void> {
  const { opts, deps } = ctx;
  const dir = path.resolve(directory);
  await mkdir(dir, { recursive: true });
  const listing = await readdir(dir);
  for (const stale of listing.filter((n) => n.startsWith(STAGING_PREFIX))) {
    await rm(path.join(dir, stale), { recursive: true, force: true });
  }
  const existing = listing.filter((n) => !n.startsWith(STAGING_PREFIX) && n !== 'lost+found');
  if (existing.length && !opts.overwrite && !opts.clean) {
    throw new TargetNotEmpty(
      `folder ${dir} is not empty (${existing.length} entries, e.g. ${existing.slice(0, 3).join(', ')}); restore into an empty volume, or pass --overwrite (replace same-named entries) or --clean (empty it first)`,
    );
  }
  const dirStat = await stat(dir);
  const staging = await mkdtemp(path.join(dir, STAGING_PREFIX));
  try {
    await applyArtifact(ctx, {
      cmd: 'tar',
      args: ['--extract', '--file=-', '--numeric-owner', '--preserve-permissions', '--sparse', '-C', staging],
      env: deps.env,
    });
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    // The staging folder came and went; leave even the target folder's times as they were.
    await utimes(dir, dirStat.atime, dirStat.mtime).catch(() => {});
    throw e;
  }
  // Verified and extracted: now, and only now, touch the target.
  // The archive's "." entry gave the staging folder the source folder's mode and times.
  const root = await stat(staging);
  if (opts.clean) {
    for (const n of existing) await rm(path.join(dir, n), { recursive: true, force: true });
  }
  for (const n of await readdir(staging)) {
    const to = path.join(dir, n);
    if (opts.overwrite) await rm(to, { recursive: true, force: true });
    await rename(path.join(staging, n), to);
  }
  await rm(staging, { recursive: true, force: true });
  if (ctx.manifest.source.layout === 'contents') {
    await chmod(dir, root.mode & 0o7777)
      .then(() => utimes(dir, root.atime, root.mtime))
      .catch((e: unknown) =>
        deps.log.warn('could not set the target folder mode and times', { error: messageOf(e) }),
      );
  }
}
