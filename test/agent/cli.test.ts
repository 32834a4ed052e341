/** The agent binary's edges: help, bad arguments, unsupported requests, custom commands, storage failures. */

import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { AGENT_EXIT } from '../../shared/agent-contract.ts';
import { destArgs, REPO, runAgent } from './helpers.ts';

const when = ['--policy', 'p', '--scheduled-time', '2025-03-27T01:00:00Z'];

test('--help prints the usage and exits 0', (t) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO, 'agent/main.ts'), '--help'], {
    cwd: REPO,
  });
  t.is(r.status, 0);
  t.regex(r.stdout.toString(), /cairn-agent backup/);
  t.regex(r.stdout.toString(), /Exit codes/);
});

test('a bad flag exits 2 with a termination message naming it', async (t) => {
  const r = await runAgent([
    'backup',
    '--source',
    'postgres',
    '--host',
    'h',
    '--database',
    'd',
    '--port',
    'abc',
    '--dest-type',
    'pvc',
    '--dest-root',
    '/tmp',
    ...when,
  ]);
  t.is(r.code, AGENT_EXIT.config);
  t.like(r.result, { ok: false, reason: 'InvalidArguments', exitCode: 2 });
  if (!r.result.ok) t.regex(r.result.message, /--port/);
});

test('--source snapshot is refused with a pointer to tar', async (t) => {
  const r = await runAgent([
    'backup',
    '--source',
    'snapshot',
    ...destArgs({ type: 'pvc', root: '/tmp' }),
    ...when,
  ]);
  t.is(r.code, AGENT_EXIT.config);
  t.like(r.result, { ok: false, reason: 'Unsupported' });
  if (!r.result.ok) t.regex(r.result.message, /use backupStrategy tar/);
});

test('a custom command backs up its stdout, and a custom restore receives the verified bytes', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-custom-'));
  const b = await runAgent([
    'backup',
    '--source',
    'custom',
    '--extension',
    'txt',
    ...destArgs({ type: 'pvc', root }),
    ...when,
    '--',
    'seq',
    '1',
    '100000',
  ]);
  t.is(b.code, 0, b.stderr);
  if (!b.result.ok) return;
  t.is(b.result.key, 'p/20250327T010000Z.txt.zst');
  const out = path.join(root, 'restored.txt');
  const r = await runAgent([
    'restore',
    '--target',
    'custom',
    '--manifest-key',
    b.result.manifestKey,
    '--expect-sha256',
    b.result.sha256,
    ...destArgs({ type: 'pvc', root }),
    '--',
    'sh',
    '-c',
    `cat > ${out}`,
  ]);
  t.is(r.code, 0, r.stderr);
  const lines = (await readFile(out, 'utf8')).trim().split('\n');
  t.is(lines.length, 100000);
  t.is(lines.at(-1), '100000');
});

test('a restore tool that stops reading early settles the restore by its exit status, never hangs', async (t) => {
  // tar stops at its end-of-archive blocks and leaves the padding unread; Node then closes the
  // tool's stdin without an error. The restore must still finish, verified, or fail by the exit code.
  const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-early-exit-'));
  const b = await runAgent([
    'backup',
    '--source',
    'custom',
    '--compression',
    'none',
    ...destArgs({ type: 'pvc', root }),
    ...when,
    '--',
    'seq',
    '1',
    '2000000',
  ]);
  t.is(b.code, 0, b.stderr);
  if (!b.result.ok) return;
  const restore = (script: string) =>
    runAgent([
      'restore',
      '--target',
      'custom',
      '--manifest-key',
      b.result.ok ? b.result.manifestKey : '',
      '--expect-sha256',
      b.result.ok ? b.result.sha256 : '',
      ...destArgs({ type: 'pvc', root }),
      '--',
      'sh',
      '-c',
      script,
    ]);
  const out = path.join(root, 'head.txt');
  const ok = await restore(`head -c 100 > ${out}`);
  t.is(ok.code, 0, ok.stderr);
  t.true(ok.result.ok);
  t.is((await readFile(out, 'utf8')).length, 100);
  const failed = await restore('head -c 100 > /dev/null; exit 3');
  t.is(failed.code, AGENT_EXIT.source, failed.stderr);
  if (!failed.result.ok) t.regex(failed.result.message, /exited with code 3/);
});

test('a custom command that exits non-zero fails the backup with its stderr and writes nothing', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-custom-fail-'));
  const r = await runAgent([
    'backup',
    '--source',
    'custom',
    ...destArgs({ type: 'pvc', root }),
    ...when,
    '--',
    'sh',
    '-c',
    'echo partial; echo "exporter: permission denied" >&2; exit 7',
  ]);
  t.is(r.code, AGENT_EXIT.source);
  if (!r.result.ok) t.regex(r.result.message, /exited with code 7: exporter: permission denied/);
  t.deepEqual(await readdir(root, { recursive: true }).then((l) => l.filter((n) => n.includes('.'))), []);
});

test('an unreachable store is a storage failure (exit 4)', async (t) => {
  const r = await runAgent(
    [
      'backup',
      '--source',
      'custom',
      ...destArgs({ type: 's3', bucket: 'b', endpoint: 'http://127.0.0.1:9' }),
      ...when,
      '--',
      'echo',
      'hi',
    ],
    { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_MAX_ATTEMPTS: '1' },
  );
  t.is(r.code, AGENT_EXIT.storage, r.stderr);
  t.like(r.result, { ok: false, reason: 'StorageFailed' });
  if (!r.result.ok)
    t.false(r.result.message.includes('y'.repeat(1)) && r.result.message.includes('AWS_SECRET'));
});

test('a restore whose manifest is missing says so (exit 4)', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-nomanifest-'));
  const r = await runAgent([
    'restore',
    '--target',
    'tar',
    '--target-dir',
    path.join(root, 't'),
    '--manifest-key',
    'x/none.manifest.json',
    ...destArgs({ type: 'pvc', root }),
  ]);
  t.is(r.code, AGENT_EXIT.storage);
  if (!r.result.ok) t.regex(r.result.message, /none\.manifest\.json/);
});
