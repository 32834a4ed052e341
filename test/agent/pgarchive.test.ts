/**
 * RechunkArchive against real pg_dump archives: whatever way the input is split, pg_restore reads
 * exactly the same thing from the re-framed archive (tables, large objects, all entries), the
 * data chunks really are merged, and archives it does not re-frame pass through byte for byte.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import test from 'ava';
import { RechunkArchive } from '../../agent/pgarchive.ts';
import { type PostgresServer, startPostgres } from '../fixtures/postgres.ts';
import { run } from '../fixtures/run.ts';

let pg: PostgresServer;
let dir: string;
let plain: Buffer; // pg_dump --format=custom --compress=0, to a pipe (as the agent runs it)
let gzipped: Buffer; // pg_dump --format=custom (gzip)

async function dump(args: string[]): Promise<Buffer> {
  const file = path.join(dir, `dump-${args.join('')}`);
  await run('sh', ['-c', `"$0" "$@" | cat > '${file}'`, path.join(pg.binDir, 'pg_dump'), ...args, 'src'], {
    env: pg.env,
  });
  return readFile(file);
}

/** What pg_restore makes of an archive read from a pipe: the SQL script, minus its random \restrict key. */
async function script(archive: Buffer): Promise<string> {
  const res = await run(path.join(pg.binDir, 'pg_restore'), ['--file=-'], { input: archive });
  return res.stdout.replace(/^\\(un)?restrict .*$/gm, '');
}

async function rechunk(archive: Buffer, split: (i: number) => number, size?: number) {
  const parts: Buffer[] = [];
  for (let i = 0, n = 0; i < archive.length; n++) {
    const len = Math.max(1, split(n));
    parts.push(archive.subarray(i, i + len));
    i += len;
  }
  const r = new RechunkArchive(size);
  const out = await buffer(Readable.from(parts).pipe(r));
  return { out, rechunking: r.rechunking };
}

test.before(async () => {
  pg = await startPostgres();
  dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-pgarchive-'));
  await pg.createDatabase('src');
  await pg.psql(
    `create table t (id int primary key, note text, b bytea);
     insert into t select g, repeat('x', g % 300), decode(md5(g::text), 'hex') from generate_series(1, 5000) g;
     create table empty (id int);
     create schema s2;
     create table s2.u as select g as id, 'row ' || g as v from generate_series(1, 3000) g;
     select lo_from_bytea(0, decode(repeat('ab', 100000), 'hex'));
     select lo_from_bytea(0, '');
     select lo_from_bytea(0, 'small');`,
    'src',
  );
  plain = await dump(['--format=custom', '--compress=0']);
  gzipped = await dump(['--format=custom']);
});

test.after.always(async () => {
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('pg_restore reads the same script from the re-framed archive, however the input is split', async (t) => {
  const expected = await script(plain);
  t.true(expected.includes('COPY public.t'));
  t.true(expected.includes('lo_open'));
  const splits: [string, (i: number) => number, number?][] = [
    ['1 MiB reads', () => 1 << 20],
    ['single bytes', () => 1],
    ['7-byte reads, 100-byte merged chunks', () => 7, 100],
    ['pseudo-random reads', (i) => ((i * 7919) % 5003) + 1],
  ];
  for (const [name, split, size] of splits) {
    const { out, rechunking } = await rechunk(plain, split, size);
    t.true(rechunking, name);
    t.is(await script(out), expected, name);
  }
});

test('the data chunks are merged: fewer length words, same bytes', async (t) => {
  const { out } = await rechunk(plain, () => 1 << 20);
  // One 5-byte length per row before; one per 256 KiB (or end of a table's data) after.
  t.true(out.length < plain.length - 5000 * 4, `${out.length} vs ${plain.length}`);
});

test('archives it does not re-frame pass through byte for byte', async (t) => {
  for (const [name, input] of [
    ['gzip-compressed archive', gzipped],
    ['not an archive', Buffer.from('select 1;\n'.repeat(1000))],
    ['a truncated header', plain.subarray(0, 9)],
  ] as const) {
    const { out, rechunking } = await rechunk(input, (i) => (i % 3) + 1);
    t.false(rechunking, name);
    t.deepEqual(out, input, name);
  }
});

test('a truncated archive stays truncated: pg_restore refuses it as it would the original', async (t) => {
  const cut = plain.subarray(0, Math.floor(plain.length * 0.6));
  const { out } = await rechunk(cut, () => 65536);
  const res = await run(path.join(pg.binDir, 'pg_restore'), ['--file=-'], { input: out, allowFailure: true });
  t.not(res.code, 0);
});
