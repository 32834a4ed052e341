/**
 * `npm start` as a person runs it: the command comes up, real kubectl sees the example through the
 * kubeconfig it wrote, Ctrl-C stops it cleanly, and a second start resumes the same state.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';

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
