/**
 * A restore: read the manifest, decide whose word vouches for it (agent/authenticity.ts: the
 * Backup's sha256 from the API, a signature, or an explicit allowUnauthenticated), check the
 * artifact's size, and let nothing from the store reach the target before its sha256 matched:
 *
 * - Databases and custom commands: the artifact is downloaded into a private spool file under
 *   /tmp (the pod's emptyDir) while it is hashed, and only a file whose digest matched is fed to
 *   pg_restore, psql or mariadb. A restore tool runs what it reads as it reads it — psql's `\!`,
 *   a forged archive's `COPY … TO PROGRAM` — and none of that is undone by a rollback, so no byte
 *   of an unverified artifact may reach one; the spool also closes the gap between a verifying
 *   read and an applying read that a bucket writer could swap the object in. Before the spool
 *   matched, the target is not even looked at. A custom-format archive goes to pg_restore
 *   re-framed in large chunks (RechunkArchive: pg_dump -Z0 writes one per row); psql only gets
 *   text that is not a custom archive, and mariadb runs with --sandbox (no `system`, no files).
 * - tar: extracted while streaming into a hidden staging folder *inside* the target (the same
 *   filesystem even when the target is a volume mount, so the final moves are renames), its tail
 *   held back (HoldTail) until the hash is known, then moved in. A mismatch removes the staging
 *   folder; GNU tar keeps what it extracts inside it.
 * - Encrypted artifacts (age) are decrypted after the digest check, while streaming; the key is
 *   checked against the manifest's recipient (and on the spool's header) before the target is
 *   touched.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex, Writable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import type {
  AgentRestoreOptions,
  AgentSuccess,
  DatabaseTarget,
  RestoreTarget,
} from '../shared/agent-contract.ts';
import { messageOf, StorageError } from '../shared/errors.ts';
import { ByteCounter } from '../shared/storage/count.ts';
import { authenticate } from './authenticity.ts';
import type { AgentDeps } from './backup.ts';
import { createDecompressor } from './compression.ts';
import { restoreJobs } from './cpus.ts';
import { RestoreFailed, TargetNotEmpty, Unsupported, VerificationFailed } from './errors.ts';
import { type Manifest, parseManifest } from './manifest.ts';
import { paceGc } from './memory.ts';
import { RechunkArchive } from './pgarchive.ts';
import { peakRssMiB } from './progress.ts';
import { checkMysqlName, mysqlArgs, pgEnv } from './sources.ts';
import { CHUNK, ChildSink, HashTap, HoldTail, RefuseHead, sink } from './streams.ts';
import { pgTool, type RunningTool, runTool, startTool, stopJoined, type ToolSpec } from './tools.ts';
import { findZstd, zstdDecompress, zstdDecompressTo } from './zstd.ts';

/** Bytes kept from the restore tool until the checksum matched (see HoldTail). */
export const HOLD_BACK_BYTES = 1 << 20;
const STAGING_PREFIX = '.cairn-restore-';

type Artifact = Manifest['artifact'];

export async function runRestore(opts: AgentRestoreOptions, deps: AgentDeps): Promise<AgentSuccess> {
  const { store, log, clock } = deps;
  const start = clock.now();
  const manifest = parseManifest(await text(await store.get(opts.manifestKey)), opts.manifestKey);
  const trust = authenticate(manifest, opts, deps.env);
  const a = manifest.artifact;
  checkTargetKind(opts.target, manifest);
  // zstd decompresses beside pg_restore (agent/zstd.ts), the only tool that reads through it;
  // else Node's zlib. Looked up (zstd -V) while the rest gets ready; findZstd never rejects.
  const zstdLookup =
    a.compression === 'zstd' && readsCustomArchive(opts.target, manifest)
      ? findZstd(deps.env)
      : Promise.resolve(undefined);
  // Loaded only for an encrypted artifact: other restores do not pay for the age code.
  const decrypter = a.encryption ? await openDecrypter(a.encryption, deps.env) : undefined;
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
  log.info('restore started', {
    key: a.key,
    target: opts.target.kind,
    sizeBytes: a.sizeBytes,
    trust,
    ...(a.encryption ? { encrypted: true } : {}),
  });
  if (trust === 'unauthenticated')
    log.warn('restoring an artifact nothing vouches for (allowUnauthenticated)', { key: a.key });
  const zstd = await zstdLookup;
  const ctx: RestoreCtx = { opts, manifest, deps, decrypter, zstd };
  const t = opts.target;
  try {
    switch (t.kind) {
      case 'postgres':
        await spool(ctx);
        await restorePostgres(ctx, t);
        break;
      case 'mysql':
      case 'mariadb':
        await spool(ctx);
        await restoreMysql(ctx, t);
        break;
      case 'tar':
        await restoreTar(ctx, t.directory);
        break;
      case 'custom':
        await spool(ctx);
        await applyArtifact(ctx, { cmd: t.command[0] as string, args: t.command.slice(1), env: deps.env });
        break;
    }
  } finally {
    if (ctx.spooled) await rm(path.dirname(ctx.spooled), { recursive: true, force: true });
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
    ...(a.encryption ? { encryption: 'age' as const } : {}),
    startTime: start.toISOString(),
    completionTime: end.toISOString(),
    durationMs: end.getTime() - start.getTime(),
  };
}

/** The key for an encrypted artifact, checked against its manifest, and what decrypts with it. */
async function openDecrypter(m: NonNullable<Artifact['encryption']>, env: NodeJS.ProcessEnv) {
  const age = await import('./encryption.ts');
  const d = await age.decrypterFor(m, env);
  return {
    checkKey: (head: Buffer) => age.checkKey(d, head),
    decryptor: () => age.createDecryptor(d),
  };
}

interface RestoreCtx {
  opts: AgentRestoreOptions;
  manifest: Manifest;
  deps: AgentDeps;
  /** Set when the artifact is encrypted: the key, checked against the manifest's recipient. */
  decrypter: Awaited<ReturnType<typeof openDecrypter>> | undefined;
  /** The verified copy of the artifact (spool): tools read this, never the store. */
  spooled?: string;
  /** The zstd tool, when the artifact is a zstd-compressed custom archive and the tool is there. */
  zstd: string | undefined;
}

/**
 * Whether the restore feeds a pg_dump custom-format archive to pg_restore (restorePostgres): the
 * only restore that decompresses with the zstd tool (applyBesideZstd, unpackSpool).
 */
function readsCustomArchive(t: RestoreTarget, m: Manifest): boolean {
  return t.kind === 'postgres' && !m.source.allDatabases && m.source.format !== 'plain';
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

/**
 * Downloads the artifact into a private spool file (a 0700 folder under /tmp) while hashing it,
 * and keeps it only when the digest matched; for an encrypted artifact, also opens its header
 * with the key. After this, tools read the spool, and the store is not read again.
 */
async function spool(ctx: RestoreCtx): Promise<void> {
  const a = ctx.manifest.artifact;
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-restore-'));
  const file = path.join(dir, 'artifact');
  const hash = new HashTap();
  const stopGc = paceGc();
  try {
    await pipeline(
      await ctx.deps.store.get(a.key),
      new ByteCounter(stopGc.passed, CHUNK),
      hash,
      createWriteStream(file, { mode: 0o600 }),
    );
    const bad = mismatch(a, hash);
    if (bad) throw bad;
    if (ctx.decrypter) {
      // The header opens with this key, or the restore stops here (a wrong passphrase shows only now).
      const fd = await open(file, 'r');
      try {
        const head = Buffer.alloc(64 * 1024);
        const { bytesRead } = await fd.read(head, 0, head.length, 0);
        await ctx.decrypter.checkKey(head.subarray(0, bytesRead));
      } finally {
        await fd.close();
      }
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw classify(e, a);
  } finally {
    stopGc();
  }
  ctx.spooled = file;
  ctx.deps.log.info('artifact verified', { key: a.key, sha256: a.sha256 });
}

/** Reads the whole artifact from the store once, decrypting and decompressing it too, and checks its hash. */
async function verifyArtifact(ctx: RestoreCtx): Promise<void> {
  const a = ctx.manifest.artifact;
  const hash = new HashTap();
  const stopGc = paceGc();
  try {
    await pipeline([await ctx.deps.store.get(a.key), hash, ...unwrap(ctx), sink()]);
  } catch (e) {
    throw classify(e, a);
  } finally {
    stopGc();
  }
  const bad = mismatch(a, hash);
  if (bad) throw bad;
}

/** Decryption (when encrypted) and decompression: stored bytes → the tool's bytes. */
function unwrap(ctx: RestoreCtx): Duplex[] {
  const decompress = createDecompressor(ctx.manifest.artifact.compression);
  return ctx.decrypter ? [ctx.decrypter.decryptor(), decompress] : [decompress];
}

/**
 * Streams the artifact into a restore tool's stdin, keeping its tail back until the hash matched.
 * On any failure the tool is killed before its input closes (ChildSink). `customArchive`: the
 * tool is pg_restore, fed through RechunkArchive.
 */
async function applyArtifact(
  ctx: RestoreCtx,
  spec: ToolSpec,
  opts: { customArchive?: boolean; script?: boolean } = {},
): Promise<RunningTool> {
  const a = ctx.manifest.artifact;
  if (opts.customArchive && ctx.spooled && ctx.zstd) return applyBesideZstd(ctx, ctx.spooled, ctx.zstd, spec);
  const hash = new HashTap();
  // A spooled artifact was verified as a whole; a streamed one (tar) is hashed on the way, its
  // tail held back (HoldTail sits right after the hash, whose digest exists once the hold sees the
  // end, before decryption and decompression: the held tail holds back the end of what follows).
  const verified = ctx.spooled !== undefined;
  const front: Duplex[] = verified
    ? []
    : [
        hash,
        new HoldTail(HOLD_BACK_BYTES, () => {
          const bad = mismatch(a, hash);
          if (bad) throw bad;
        }),
      ];
  const body = ctx.spooled
    ? createReadStream(ctx.spooled, { highWaterMark: 1 << 20 })
    : await ctx.deps.store.get(a.key);
  const tool = startTool(spec, (m) => new RestoreFailed(m));
  const stopGc = paceGc();
  try {
    if (opts.customArchive) {
      const rechunk = new RechunkArchive();
      const child = new ChildSink(tool.child, { onWritten: (b) => rechunk.release(b) });
      await pipeline([body, ...front, ...unwrap(ctx), rechunk, child]);
    } else if (opts.script) {
      // psql runs meta-commands as it reads: it gets SQL text, never a custom archive's bytes (a
      // manifest saying "plain" over a genuine archive would hand psql rows as commands).
      const text = new RefuseHead(
        Buffer.from('PGDMP'),
        () =>
          new VerificationFailed(
            `artifact ${a.key} is a pg_dump custom-format archive, not the SQL script its manifest says; nothing was restored`,
          ),
      );
      await pipeline([body, ...front, ...unwrap(ctx), text, new ChildSink(tool.child)]);
    } else {
      await pipeline([body, ...front, ...unwrap(ctx), new ChildSink(tool.child)]);
    }
  } catch (e) {
    tool.kill();
    await tool.done.catch(() => {});
    const cause = classify(e, a);
    const exit = tool.exit();
    if (!(cause instanceof VerificationFailed) && exit?.code) {
      // The tool failed by itself (the pipeline then sees EPIPE). A tool choking on a corrupt
      // artifact must be reported as the corrupt artifact: read the rest to tell which it is.
      if (!verified && hash.sha256 === undefined) await verifyArtifact(ctx);
      await tool.done;
    }
    throw cause;
  } finally {
    stopGc();
  }
  await tool.done;
  return tool;
}

/**
 * pg_restore reading what zstd decompresses from the verified spool, the two joined by the kernel:
 * no uncompressed byte passes through Node (decrypting, Node feeds zstd the compressed bytes).
 * Only for pg_restore: a custom-format archive says where it ends (its table of contents lists
 * every data block), so a zstd that died halfway is a truncated archive pg_restore refuses and
 * rolls back; psql would commit a truncated script at its EOF.
 */
async function applyBesideZstd(
  ctx: RestoreCtx,
  spooled: string,
  zstdCmd: string,
  spec: ToolSpec,
): Promise<RunningTool> {
  const { zstd, feeding } = startZstdOnSpool(
    ctx,
    spooled,
    zstdCmd,
    (m) => new RestoreFailed(`zstd could not decompress the verified artifact: ${m}`),
  );
  const tool = startTool({ ...spec, stdin: zstd.child.stdout }, (m) => new RestoreFailed(m));
  const stopGc = paceGc();
  try {
    await Promise.all([tool.done, zstd.done, feeding]);
  } catch (e) {
    // The restore tool killed first: it must not see the end of a stream that broke off.
    // pg_restore failing by itself leaves zstd a closed pipe (a write error: never the cause),
    // zstd failing leaves pg_restore a truncated archive: whichever failed by itself first is.
    const first = await stopJoined([tool, zstd]);
    const fed = await feeding?.then(
      () => undefined,
      (x: unknown) => x,
    );
    if (fed instanceof VerificationFailed) throw fed;
    throw first ?? classify(fed ?? e, ctx.manifest.artifact);
  } finally {
    stopGc();
  }
  return tool;
}

/**
 * zstd decompressing the verified spool, to its stdout or into the file `to`. zstd reads the spool
 * itself (its stdin closed); for an encrypted one Node decrypts the spool into zstd's stdin:
 * `feeding`, whose failure (a chunk that does not authenticate) the caller awaits.
 */
function startZstdOnSpool(
  ctx: RestoreCtx,
  spooled: string,
  zstdCmd: string,
  makeError: (message: string) => Error,
  to?: string,
): { zstd: RunningTool; feeding: Promise<void> | undefined } {
  const env = ctx.deps.env;
  const file = ctx.decrypter ? undefined : spooled;
  const zstd = startTool(
    to === undefined ? zstdDecompress(zstdCmd, file, env) : zstdDecompressTo(zstdCmd, file, to, env),
    makeError,
  );
  if (!ctx.decrypter) {
    zstd.child.stdin?.end();
    return { zstd, feeding: undefined };
  }
  const feeding = pipeline(
    createReadStream(spooled, { highWaterMark: 1 << 20 }),
    ctx.decrypter.decryptor(),
    zstd.child.stdin as Writable,
  );
  feeding.catch(() => {}); // observed by the caller; never an unhandled rejection
  return { zstd, feeding };
}

/**
 * The environment of a client that reads a script (psql, mariadb): `\e` runs the editor even from a
 * script, and mariadb's --sandbox leaves it (and a pager without argument) alone (MDEV-21778
 * suggests this), so the editor and the pager are programs that do nothing.
 */
function inert(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const off = '/bin/false';
  return { ...env, PSQL_EDITOR: off, EDITOR: off, VISUAL: off, PSQL_PAGER: 'cat', PAGER: 'cat' };
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
    // pg_dumpall scripts cannot run in one transaction (CREATE DATABASE) and always hit
    // "role … already exists" for the connecting role: run on, then judge the errors.
    const tool = await applyArtifact(
      ctx,
      { cmd: pgTool('psql', deps.env), args: ['-X', '-q', '-w', '-f', '-'], env: inert(env) },
      { script: true },
    );
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
    await applyArtifact(
      ctx,
      {
        cmd: pgTool('psql', deps.env),
        args: ['-X', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', '-'],
        env: inert(env),
      },
      { script: true },
    );
    return;
  }
  const jobs = restoreJobs(deps.env);
  if (jobs > 1 && created === 't' && objects === 0) {
    await restoreParallel(ctx, { ...t, database: db }, env, jobs);
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

/**
 * `pg_restore --jobs N`: tables load and indexes build on N connections at once. pg_restore reads
 * the archive from a file then (each job seeks to its own tables), so the verified spool is
 * decompressed (and decrypted) into the same private folder first, and the spool folder needs
 * room for the uncompressed archive too. Jobs cannot share one transaction, so this runs only
 * into a database this restore created: when it fails, the database is dropped again and the
 * target is as it was, absent. Into an existing database a restore stays one transaction.
 */
async function restoreParallel(
  ctx: RestoreCtx,
  t: DatabaseTarget & { database: string },
  env: NodeJS.ProcessEnv,
  jobs: number,
): Promise<void> {
  const { deps, opts } = ctx;
  const archive = await unpackSpool(ctx);
  deps.log.info('parallel restore', { database: t.database, jobs });
  try {
    await runTool(
      {
        cmd: pgTool('pg_restore', deps.env),
        args: [
          '--no-password',
          `--jobs=${jobs}`,
          '--exit-on-error',
          ...(opts.noOwner ? ['--no-owner'] : []),
          `--dbname=${conninfoDb(t.database)}`,
          archive,
        ],
        env,
      },
      (m) => new RestoreFailed(m),
    );
  } catch (e) {
    const { dropDatabase } = await import('./checks.ts');
    await dropDatabase(t, deps.env).then(
      () => deps.log.info('dropped the database the failed restore created', { database: t.database }),
      (d: unknown) =>
        deps.log.error('could not drop the database the failed restore created', {
          database: t.database,
          error: messageOf(d),
        }),
    );
    throw e;
  }
}

/** The verified spool as a plain archive file beside it: decrypted and decompressed. */
async function unpackSpool(ctx: RestoreCtx): Promise<string> {
  const spooled = ctx.spooled as string;
  const a = ctx.manifest.artifact;
  if (a.compression === 'none' && !ctx.decrypter) return spooled;
  const out = path.join(path.dirname(spooled), 'archive');
  const stopGc = paceGc();
  try {
    if (ctx.zstd) {
      const { zstd, feeding } = startZstdOnSpool(ctx, spooled, ctx.zstd, (m) => new RestoreFailed(m), out);
      await Promise.all([zstd.done, feeding]);
    } else {
      await pipeline([
        createReadStream(spooled, { highWaterMark: 1 << 20 }),
        new ByteCounter(stopGc.passed, CHUNK),
        ...unwrap(ctx),
        createWriteStream(out, { mode: 0o600 }),
      ]);
    }
  } catch (e) {
    throw classify(e, a);
  } finally {
    stopGc();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB

function sqlString(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

async function restoreMysql(ctx: RestoreCtx, t: DatabaseTarget): Promise<void> {
  const { opts, manifest, deps } = ctx;
  const conn = mysqlArgs(t);
  const env = inert(deps.env);
  const query = (sql: string) =>
    runTool(
      { cmd: 'mariadb', args: [...conn, '--sandbox', '--batch', '--skip-column-names'], env },
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
  // --sandbox (MariaDB 10.5.25/10.6.18/10.11.8/11.0.6+ clients): `system`, `\!`, `source` and
  // other client commands that reach the pod's shell or files are refused in the dump.
  await applyArtifact(ctx, {
    cmd: 'mariadb',
    args: [...conn, '--sandbox', '--batch', ...(db ? [`--database=${db}`] : [])],
    env,
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
