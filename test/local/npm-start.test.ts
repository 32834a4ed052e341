/**
 * `npm start` as a person runs it: the command comes up, real kubectl sees the example through the
 * kubeconfig it wrote, Ctrl-C stops it cleanly, and a second start resumes the same state.
 */
import { execFile, spawn } from 'node:child_process';
import { lstat, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { apiFetch, apiTargetOf, trustCa } from '../fixtures/api.ts';
import { isLoopbackAddress, listeningSockets } from '../fixtures/listeners.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

async function startCairn(stateDir: string) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'local/main.ts'), '--state-dir', stateDir, '--port', '0'],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!out.includes('Cairn is running')) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`npm start did not come up: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, exited, output: () => out };
}

test('npm start comes up, kubectl sees the example, Ctrl-C stops it, and a restart resumes', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'cairn-start-'));
  t.teardown(() => rm(stateDir, { recursive: true, force: true }));
  const kubectl = (...args: string[]) =>
    run('kubectl', ['--kubeconfig', join(stateDir, 'kubeconfig'), ...args]);

  const first = await startCairn(stateDir);
  t.regex(first.output(), /export KUBECONFIG=/);
  const uid = (await kubectl('get', 'backuppolicy', 'local-volumes', '-o', 'jsonpath={.metadata.uid}'))
    .stdout;
  t.truthy(uid);
  const { stdout: crds } = await kubectl('get', 'crd', '-o', 'name');
  t.regex(crds, /databasebackups\.backup\.cairn\.dev/);
  first.child.kill('SIGINT');
  t.is(await first.exited, 0);

  const second = await startCairn(stateDir);
  t.teardown(() => {
    second.child.kill('SIGKILL');
  });
  t.is(
    (await kubectl('get', 'backuppolicy', 'local-volumes', '-o', 'jsonpath={.metadata.uid}')).stdout,
    uid,
    'same object after restart',
  );
  second.child.kill('SIGINT');
  t.is(await second.exited, 0);
});

/** Every entry under `dir` whose mode lets another user read, write or enter it. */
async function notPrivate(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const mode = (await lstat(p)).mode & 0o777;
      if (mode & 0o077) out.push(`${p.slice(dir.length + 1)} ${mode.toString(8)}`);
      if (e.isDirectory()) await walk(p);
    }
  };
  const top = (await lstat(dir)).mode & 0o777;
  if (top & 0o077) out.push(`. ${top.toString(8)}`);
  await walk(dir);
  return out;
}

test('against npm start: no credentials, no entry; every listener on loopback; nothing under the state folder readable by others', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'cairn-start-sec-'));
  t.teardown(() => rm(parent, { recursive: true, force: true }));
  // A folder npm start makes itself, as .cairn is on a first start.
  const stateDir = join(parent, '.cairn');
  const kubeconfig = join(stateDir, 'kubeconfig');
  const kubectl = (...args: string[]) => run('kubectl', ['--kubeconfig', kubeconfig, ...args]);
  const cairn = await startCairn(stateDir);
  t.teardown(() => {
    cairn.child.kill('SIGKILL');
  });
  const api = apiTargetOf(kubeconfig);
  trustCa(api);

  // 1. The API answers nothing without the kubeconfig's token.
  for (const headers of [{}, { authorization: 'Bearer cairn-local' }]) {
    const res = await fetch(`${api.url}/apis/backup.cairn.dev/v1alpha1/backuppolicies`, { headers });
    t.is(res.status, 401);
    t.like(await res.json(), { kind: 'Status', reason: 'Unauthorized', code: 401 });
  }
  t.is((await apiFetch(api, '/apis/backup.cairn.dev/v1alpha1/backuppolicies')).status, 200);

  // 2. Every socket the process listens on is on loopback (API, Broker, five functions).
  const listeners = listeningSockets(cairn.child.pid!);
  t.true(listeners.length >= 7, `${listeners.length} listeners`);
  t.deepEqual(
    listeners.filter((l) => !isLoopbackAddress(l.address)).map((l) => `${l.address}:${l.port}`),
    [],
  );

  // 3. After a Secret is stored and a backup has run (journal, logs, events, artifacts, pod
  //    folders with Secret files all written), nothing under the state folder is open to others.
  await kubectl('create', 'secret', 'generic', 'demo-credentials', '--from-literal=password=s3cret');
  const manifest = join(parent, 'backup.json');
  await writeFile(
    manifest,
    JSON.stringify({
      apiVersion: 'backup.cairn.dev/v1alpha1',
      kind: 'Backup',
      metadata: { name: 'by-hand' },
      spec: { policyRef: { kind: 'BackupPolicy', name: 'local-volumes' } },
    }),
  );
  const { stdout: created } = await kubectl('create', '-f', manifest, '-o', 'name');
  t.is(created.trim(), 'backup.backup.cairn.dev/by-hand');
  const deadline = Date.now() + 90_000;
  let phase = '';
  while (phase !== 'Completed' && phase !== 'Failed' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    phase = (await kubectl('get', 'backups.backup.cairn.dev/by-hand', '-o', 'jsonpath={.status.phase}'))
      .stdout;
  }
  t.is(phase, 'Completed');
  t.deepEqual(await notPrivate(stateDir), []);
  cairn.child.kill('SIGINT');
  t.is(await cairn.exited, 0);
});
