/**
 * The zstd tool as the agent's compressor (agent/zstd.ts), with the real `zstd` as the oracle for
 * its summary line and for the artifacts, and Node's zlib as the fallback when the tool is not on
 * PATH: both compress to zstd frames the zstd CLI reads, with the uncompressed size the CLI gives
 * back, and each restores what the other wrote. A zstd that fails, or whose summary does not name
 * the bytes it wrote, fails the backup and leaves nothing.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { runTool } from '../../agent/tools.ts';
import { findZstd, parseZstdSummary, parseZstdVersion, zstdCompress } from '../../agent/zstd.ts';
import { AGENT_EXIT } from '../../shared/agent-contract.ts';
import { type PostgresServer, startPostgres } from '../fixtures/postgres.ts';
import { destArgs, pgBackupArgs, pgRestoreArgs, runAgent } from './helpers.ts';

const exec = promisify(execFile);
let pg: PostgresServer;
let work: string;
/** A PATH with no zstd on it: the agent finds its PostgreSQL tools through CAIRN_PG_BINDIR. */
let noZstd: string;
/** The real zstd, for the stand-ins to call. */
let realZstd: string;

test.before(async () => {
  pg = await startPostgres();
  work = await mkdtemp(path.join(os.tmpdir(), 'cairn-zstd-'));
  noZstd = await mkdtemp(path.join(os.tmpdir(), 'cairn-nozstd-'));
  const found = await findZstd(process.env);
  if (!found) throw new Error('zstd ≥ 1.5.4 is needed on PATH (apt-get install zstd)');
  realZstd = found;
  await pg.createDatabase('app');
  await pg.psql(
    `create table notes (id int primary key, body text, tag text);
     insert into notes select g, md5(g::text) || repeat(' lorem ipsum', g % 20), 'tag' || (g % 7)
       from generate_series(1, 40000) g;`,
    'app',
  );
});

test.after.always(async () => {
  await pg?.stop();
});

const env = (extra: Record<string, string> = {}) => ({ CAIRN_PG_BINDIR: pg.binDir, ...extra });
const fingerprint = (db: string) =>
  pg.psql("select count(*) || ':' || md5(string_agg(id || body || tag, ',' order by id)) from notes", db);

function backup(root: string, policy: string, extra: Record<string, string> = {}) {
  return runAgent(pgBackupArgs(pg, 'app', policy, destArgs({ type: 'pvc', root })), env(extra));
}

function restore(root: string, b: { manifestKey: string; sha256: string }, db: string, extra = {}) {
  return runAgent(pgRestoreArgs(pg, b, db, destArgs({ type: 'pvc', root })), env(extra));
}

/** What the zstd CLI gives back from an artifact: its byte count and sha256. */
async function unzstd(file: string): Promise<{ bytes: number; sha256: string }> {
  const { stdout } = await exec('zstd', ['-dc', file], { encoding: 'buffer', maxBuffer: 1 << 28 });
  return { bytes: stdout.length, sha256: createHash('sha256').update(stdout).digest('hex') };
}

/** The files (not folders: the store may leave its empty key folders) under a PVC root. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

/** A stand-in zstd: `-V` answers as 1.5.4 does, anything else runs `script`. */
async function fakeZstd(name: string, script: string): Promise<string> {
  const dir = await mkdtemp(path.join(work, `${name}-`));
  const file = path.join(dir, 'zstd');
  await writeFile(
    file,
    `#!/bin/sh\nif [ "$1" = "-V" ]; then echo '*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***'; exit 0; fi\n${script}\n`,
  );
  await chmod(file, 0o755);
  return dir;
}

test('the summary zstd prints names the sizes the CLI reads and writes, for 0 bytes to megabytes', async (t) => {
  const zstd = realZstd;
  t.truthy(parseZstdVersion((await exec(zstd, ['-V'])).stdout));
  for (const size of [0, 1, 65_536, 5_000_000]) {
    // Half random, half repeated: compressible, but not to nothing.
    const input = Buffer.concat([randomBytes(size / 2), Buffer.alloc(size - Math.floor(size / 2), 'a')]);
    const spec = zstdCompress(zstd, 3, process.env);
    const out: Buffer[] = [];
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const child = execFile(spec.cmd, spec.args, { encoding: 'buffer', maxBuffer: 1 << 26 }, (e, o, err) => {
        if (e) reject(e);
        out.push(o);
        stderr = err.toString();
        resolve();
      });
      child.stdin?.end(input);
    });
    const written = Buffer.concat(out);
    t.deepEqual(parseZstdSummary(stderr), { rawBytes: size, compressedBytes: written.length }, stderr);
  }
  t.is(parseZstdSummary('*** Zstandard CLI (64-bit) v1.5.4\nUsing stdin for input\n'), undefined);
});

test('with the zstd tool, the artifact is a zstd frame whose uncompressed size is rawBytes', async (t) => {
  const root = path.join(work, 'tool');
  const b = await backup(root, 'tool');
  t.is(b.code, 0, b.stderr);
  if (!b.result.ok) return;
  t.like(
    b.logs.find((l) => l.msg === 'backup started'),
    { compressor: 'zstd' },
  );
  const back = await unzstd(path.join(root, b.result.key));
  t.is(back.bytes, b.result.rawBytes);
  t.true(b.result.sizeBytes < b.result.rawBytes / 2);
  // What comes back is a custom-format archive pg_restore lists.
  const file = path.join(work, 'tool.dump');
  await exec('zstd', ['-q', '-d', '-f', path.join(root, b.result.key), '-o', file]);
  t.regex((await exec(path.join(pg.binDir, 'pg_restore'), ['-l', file])).stdout, /TABLE DATA public notes/);

  const r = await restore(root, b.result, 'from_tool');
  t.is(r.code, 0, r.stderr);
  t.is(await fingerprint('from_tool'), await fingerprint('app'));
});

test('without the zstd tool Node compresses with zlib, to an artifact the CLI reads; each restores the other', async (t) => {
  const root = path.join(work, 'zlib');
  const b = await backup(root, 'zlib', { PATH: noZstd });
  t.is(b.code, 0, b.stderr);
  if (!b.result.ok) return;
  t.like(
    b.logs.find((l) => l.msg === 'backup started'),
    { compressor: 'zlib zstd' },
  );
  t.is((await unzstd(path.join(root, b.result.key))).bytes, b.result.rawBytes);

  // zlib's artifact restored by the tool, and the tool's by zlib.
  const r1 = await restore(root, b.result, 'zlib_by_tool');
  t.is(r1.code, 0, r1.stderr);
  const toolRoot = path.join(work, 'tool2');
  const b2 = await backup(toolRoot, 'tool2');
  if (!b2.result.ok) return t.fail(b2.stderr);
  const r2 = await restore(toolRoot, b2.result, 'tool_by_zlib', { PATH: noZstd });
  t.is(r2.code, 0, r2.stderr);
  t.is(await fingerprint('zlib_by_tool'), await fingerprint('app'));
  t.is(await fingerprint('tool_by_zlib'), await fingerprint('app'));
  // The same dump, so the same uncompressed bytes whoever compressed them.
  t.is(b.result.rawBytes, b2.result.rawBytes);
});

test('a zstd that fails halfway fails the backup with its own error and leaves no artifact and no manifest', async (t) => {
  // It stops reading, then takes a moment to exit: pg_dump, writing into the closed pipe, fails
  // first ("could not write to output file"), and that is not the cause.
  const bin = await fakeZstd(
    'dies',
    `head -c 100000 | ${realZstd} -q -c; exec 0<&-; sleep 0.5; echo "zstd: out of memory" >&2; exit 1`,
  );
  const root = path.join(work, 'dies');
  const b = await backup(root, 'dies', { PATH: `${bin}${path.delimiter}${process.env.PATH}` });
  t.not(b.code, 0);
  t.false(b.result.ok);
  if (!b.result.ok) t.regex(b.result.message, /out of memory/);
  t.deepEqual(await filesUnder(root), []);
});

test('a zstd whose summary does not name the bytes it wrote fails the backup and leaves nothing', async (t) => {
  // The real zstd, then a summary line that is not this backup's: a zstd the agent misreads.
  const bin = await fakeZstd(
    'lies',
    `${realZstd} "$@"; echo '/*stdin*\\ : 50.00%   (10 B => 5 B, /*stdout*\\)' >&2`,
  );
  const root = path.join(work, 'lies');
  const b = await backup(root, 'lies', { PATH: `${bin}${path.delimiter}${process.env.PATH}` });
  t.is(b.code, AGENT_EXIT.internal, b.stderr);
  if (b.result.ok) return t.fail('the backup succeeded');
  t.regex(b.result.message, /zstd's summary does not give the sizes of this backup/);
  t.deepEqual(await filesUnder(root), []);
});

test('findZstd refuses a zstd older than 1.5.4, whose summary it cannot read', async (t) => {
  const old = await fakeZstd('old', 'exit 0');
  await writeFile(
    path.join(old, 'zstd'),
    "#!/bin/sh\necho '*** zstd command line interface 64-bits v1.4.8, by Yann Collet ***'\n",
  );
  t.is(await findZstd({ PATH: old }), undefined);
  t.is(await findZstd({ PATH: noZstd }), undefined);
  const current = await fakeZstd('current', 'exit 0');
  t.is(await findZstd({ PATH: current }), path.join(current, 'zstd'));
  // And the version parser reads what both print.
  t.deepEqual(
    parseZstdVersion(await runTool({ cmd: path.join(old, 'zstd'), args: ['-V'] }, (m) => new Error(m))),
    [1, 4, 8],
  );
  t.deepEqual(parseZstdVersion(await readFile(path.join(current, 'zstd'), 'utf8')), [1, 5, 4]);
});
