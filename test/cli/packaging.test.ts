/**
 * How `cairn` is shipped (issue 17, docs/cli.md): a bundle that any Node ≥ 20 runs without a
 * warning, a kubectl plugin (`kubectl cairn`, the bin linked as kubectl-cairn on PATH, as
 * CloudNativePG's kubectl-cnpg), and in a checkout a bundle rebuilt before it runs whenever a
 * source it was built from changed. Speed is bench/cli.ts's to judge.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { startApiServer } from '../../local/apiserver/index.ts';
import { installCrds } from '../../local/runtime.ts';
import { KubeClient } from '../../shared/kube.ts';
import { CAIRN_BIN, MACHINE_NODE, MACHINE_PATH, type Run } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { cwd, env, encoding: 'utf8', timeout: 90_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

test('kubectl cairn status: the bin as a kubectl plugin, under the machine’s node, prints no warning', async (t) => {
  const version = execFileSync(MACHINE_NODE, ['--version'], { encoding: 'utf8' }).trim();
  t.log(`node ${version} (${MACHINE_NODE})`);
  t.true(Number(/^v(\d+)/.exec(version)?.[1]) >= 20);
  const dir = mkdtempSync(join(tmpdir(), 'cairn-plugin-'));
  const api = await startApiServer({ port: 0 });
  t.teardown(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  await installCrds(kubeconfig);
  const kube = await KubeClient.connect({ kubeconfig });
  await kube.create('BackupPolicy', {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name: 'plugin-check', namespace: 'default' },
    spec: {
      schedule: '0 3 * * *',
      pvcSelector: { matchLabels: { app: 'web' } },
      storageDestination: { type: 'pvc', claimName: 'backup-store' },
    },
  });
  // As docs/cli.md installs it: the bin linked as kubectl-cairn into a folder on PATH.
  const bin = join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  symlinkSync(CAIRN_BIN, join(bin, 'kubectl-cairn'));
  const env = { ...process.env, PATH: `${bin}${delimiter}${MACHINE_PATH}`, KUBECONFIG: kubeconfig };
  const plugins = await run('kubectl', ['plugin', 'list'], env, dir);
  t.regex(plugins.stdout, /kubectl-cairn/);
  const r = await run('kubectl', ['cairn', 'status'], env, dir);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^bpol\/plugin-check\s+0 3 \* \* \*/m);
  t.is(r.stderr, '');
  const help = await run('kubectl', ['cairn', '--help'], env, dir);
  t.is(help.code, 0);
  t.regex(help.stdout, /^ {2}status\s+Every DatabaseBackup/m);
  t.is(help.stderr, '');
});

test('the bundled CLI talks to an HTTPS API server (node:https, imported only then)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-https-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  const seen: string[] = [];
  const server = createHttpsServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ items: [] }));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      'current-context': 'c',
      clusters: [
        {
          name: 'k',
          cluster: {
            server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
            'certificate-authority-data': readFileSync(join(dir, 'cert.pem')).toString('base64'),
          },
        },
      ],
      users: [{ name: 'u', user: { token: 'over-tls' } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u', namespace: 'ns' } }],
    }),
  );
  const r = await run(MACHINE_NODE, [CAIRN_BIN, 'status', '--kubeconfig', kubeconfig], {
    ...process.env,
    PATH: MACHINE_PATH,
  });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'No DatabaseBackups or BackupPolicies found.\n');
  t.true(
    seen.includes('GET /apis/backup.cairn.dev/v1alpha1/namespaces/ns/backuppolicies Bearer over-tls'),
    seen.join('\n'),
  );
});

test('in a checkout the bundle is built on first use, one process building, and rebuilt when a source changes', async (t) => {
  // A copy of what the CLI is built from, with this checkout's node_modules: the test may edit it.
  const repo = mkdtempSync(join(tmpdir(), 'cairn-checkout-'));
  t.teardown(() => rmSync(repo, { recursive: true, force: true }));
  const skip = (src: string) => !/[/\\](dist|test)([/\\.]|$)/.test(src.slice(ROOT.length));
  for (const d of ['cli', 'shared', 'functions', 'local', 'scripts']) {
    cpSync(join(ROOT, d), join(repo, d), { recursive: true, filter: skip });
  }
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json'])
    cpSync(join(ROOT, f), join(repo, f));
  symlinkSync(join(ROOT, 'node_modules'), join(repo, 'node_modules'));
  const bin = join(repo, 'cli', 'bin', 'cairn.mjs');
  const env = { ...process.env, PATH: MACHINE_PATH };

  // Three at once on a fresh checkout: one builds, the others wait for it.
  const first = await Promise.all(
    [1, 2, 3].map(() => run(MACHINE_NODE, [bin, 'status', '--help'], env, repo)),
  );
  for (const r of first) {
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^Every DatabaseBackup and BackupPolicy/);
  }

  const status = join(repo, 'cli', 'status.ts');
  writeFileSync(
    status,
    readFileSync(status, 'utf8').replace(
      "summary: 'Every DatabaseBackup and BackupPolicy:",
      "summary: 'EDITED. Every DatabaseBackup and BackupPolicy:",
    ),
  );
  const edited = await run(MACHINE_NODE, [bin, 'status', '--help'], env, repo);
  t.is(edited.code, 0, edited.stderr);
  t.regex(edited.stdout, /^EDITED\. Every DatabaseBackup/);
  t.is(edited.stderr, '');
});
