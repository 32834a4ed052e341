/**
 * Folder (PVC) backups: a tree with modes, symlinks, empty files and folders and a hard link,
 * through the GCS wire fake and a PVC, restored equal; a corrupt artifact leaves the target as it
 * was; a non-empty target is refused.
 */
import { chmod, link, mkdir, mkdtemp, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { AGENT_EXIT } from '../../shared/agent-contract.ts';
import { type GcsFake, startGcsFake } from '../fixtures/gcs-fake.ts';
import { destArgs, runAgent, treeListing } from './helpers.ts';

let gcs: GcsFake;
let tmp: string;

/** A small tree with everything tar must keep. */
async function makeTree(root: string): Promise<void> {
  await mkdir(path.join(root, 'app/config'), { recursive: true });
  await mkdir(path.join(root, 'empty-dir'));
  await mkdir(path.join(root, 'private'), { mode: 0o700 });
  await writeFile(path.join(root, 'app/config/settings.json'), '{"a":1}\n');
  await writeFile(path.join(root, 'app/run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await writeFile(path.join(root, 'private/secret.key'), 'k3y', { mode: 0o600 });
  await writeFile(path.join(root, 'empty-file'), '');
  await writeFile(path.join(root, 'name with spaces and ünïcode.txt'), 'x'.repeat(100_000));
  await writeFile(path.join(root, 'readonly.txt'), 'ro', { mode: 0o444 });
  await symlink('app/config/settings.json', path.join(root, 'relative-link'));
  await symlink('/nonexistent/target', path.join(root, 'dangling-link'));
  await symlink('app', path.join(root, 'dir-link'));
  await link(path.join(root, 'app/config/settings.json'), path.join(root, 'hardlink.json'));
  await chmod(path.join(root, 'app/run.sh'), 0o4755 & 0o0755); // plain 755 (setuid needs root to keep)
  await chmod(root, 0o750);
  const t = new Date('2024-06-01T12:00:00Z');
  for (const p of ['app/run.sh', 'empty-file', 'readonly.txt']) await utimes(path.join(root, p), t, t);
}

test.before(async () => {
  gcs = await startGcsFake({ buckets: ['volumes'] });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-tar-'));
});
test.after.always(async () => {
  await gcs?.stop();
});

const gcsDest = (p?: string) =>
  destArgs({ type: 'gcs', bucket: 'volumes', endpoint: gcs.endpoint, ...(p ? { path: p } : {}) });

test.serial(
  'a folder tree with modes, symlinks, hard links and empty entries round-trips through GCS',
  async (t) => {
    const src = path.join(tmp, 'src');
    await mkdir(src);
    await makeTree(src);
    const b = await runAgent([
      'backup',
      '--source',
      'tar',
      '--volume',
      src,
      ...gcsDest('pvc'),
      '--policy',
      'data-policy',
      '--scheduled-time',
      '2025-03-27T03:00:00Z',
    ]);
    t.is(b.code, 0, b.stderr);
    if (!b.result.ok) return;
    t.is(b.result.key, 'pvc/data-policy/20250327T030000Z.tar.zst');
    t.deepEqual(gcs.unhandled, []);
    const dst = path.join(tmp, 'restored');
    const r = await runAgent([
      'restore',
      '--target',
      'tar',
      '--target-dir',
      dst,
      '--manifest-key',
      b.result.manifestKey,
      '--expect-sha256',
      b.result.sha256,
      ...gcsDest(),
    ]);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(await treeListing(dst), await treeListing(src));
    t.deepEqual(
      (await readdir(dst)).filter((n) => n.startsWith('.cairn-restore-')),
      [],
    );

    // Restoring again into the now non-empty folder is refused.
    const again = await runAgent([
      'restore',
      '--target',
      'tar',
      '--target-dir',
      dst,
      '--manifest-key',
      b.result.manifestKey,
      '--expect-sha256',
      b.result.sha256,
      ...gcsDest(),
    ]);
    t.is(again.code, AGENT_EXIT.targetNotEmpty);
    t.like(again.result, { ok: false, reason: 'TargetNotEmpty' });
  },
);

test.serial('several volumes are archived one subfolder each and restored side by side', async (t) => {
  const a = path.join(tmp, 'multi/data');
  const c = path.join(tmp, 'multi/logs');
  await mkdir(a, { recursive: true });
  await mkdir(c, { recursive: true });
  await writeFile(path.join(a, 'db.bin'), Buffer.alloc(1024, 7));
  await writeFile(path.join(c, 'app.log'), 'line\n');
  const b = await runAgent([
    'backup',
    '--source',
    'tar',
    '--volume',
    a,
    '--volume',
    c,
    '--compression',
    'gzip',
    ...gcsDest(),
    '--policy',
    'multi',
    '--scheduled-time',
    '2025-03-27T03:00:00Z',
  ]);
  t.is(b.code, 0, b.stderr);
  if (!b.result.ok) return;
  const dst = path.join(tmp, 'multi-restored');
  const r = await runAgent([
    'restore',
    '--target',
    'tar',
    '--target-dir',
    dst,
    '--manifest-key',
    b.result.manifestKey,
    '--expect-sha256',
    b.result.sha256,
    ...gcsDest(),
  ]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual((await readdir(dst)).sort(), ['data', 'logs']);
  t.deepEqual(await treeListing(path.join(dst, 'data')), await treeListing(a));
  t.deepEqual(await treeListing(path.join(dst, 'logs')), await treeListing(c));
});

test.serial(
  'a corrupt tar artifact is refused and a --clean restore leaves the target untouched',
  async (t) => {
    const src = path.join(tmp, 'src2');
    await mkdir(src);
    await makeTree(src);
    const b = await runAgent([
      'backup',
      '--source',
      'tar',
      '--volume',
      src,
      '--compression',
      'none',
      ...gcsDest(),
      '--policy',
      'corrupt',
      '--scheduled-time',
      '2025-03-27T03:00:00Z',
    ]);
    t.is(b.code, 0, b.stderr);
    if (!b.result.ok) return;
    gcs.corrupt('volumes', b.result.key, 700); // inside the first file's header
    const dst = path.join(tmp, 'keep');
    await mkdir(dst);
    await writeFile(path.join(dst, 'precious.txt'), 'do not lose me');
    const before = await treeListing(dst);
    const r = await runAgent([
      'restore',
      '--target',
      'tar',
      '--target-dir',
      dst,
      '--clean',
      '--manifest-key',
      b.result.manifestKey,
      '--expect-sha256',
      b.result.sha256,
      ...gcsDest(),
    ]);
    t.is(r.code, AGENT_EXIT.verification, r.stderr);
    t.like(r.result, { ok: false, reason: 'VerificationFailed' });
    t.deepEqual(await treeListing(dst), before);
  },
);

test.serial('--clean replaces the whole folder once the artifact verified', async (t) => {
  const src = path.join(tmp, 'src3');
  await mkdir(src);
  await writeFile(path.join(src, 'new.txt'), 'new');
  const b = await runAgent([
    'backup',
    '--source',
    'tar',
    '--volume',
    src,
    ...destArgs({ type: 'pvc', root: path.join(tmp, 'store') }),
    '--policy',
    'clean',
    '--scheduled-time',
    '2025-03-27T03:00:00Z',
  ]);
  t.is(b.code, 0, b.stderr);
  if (!b.result.ok) return;
  const dst = path.join(tmp, 'clean-target');
  await mkdir(dst);
  await writeFile(path.join(dst, 'old.txt'), 'old');
  const r = await runAgent([
    'restore',
    '--target',
    'tar',
    '--target-dir',
    dst,
    '--clean',
    '--manifest-key',
    b.result.manifestKey,
    '--expect-sha256',
    b.result.sha256,
    ...destArgs({ type: 'pvc', root: path.join(tmp, 'store') }),
  ]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await readdir(dst), ['new.txt']);
});
