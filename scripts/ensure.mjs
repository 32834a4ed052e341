#!/usr/bin/env node
// Installs what `npm start`, `npm test` and `npm run bench` need on a fresh machine, and nothing
// when it is there: the npm packages (which bring Node 24 as the node@24 devDependency), and with
// --test the Debian packages the tests and benchmarks run for real (PostgreSQL, MariaDB, zstd,
// age, the Python Kubernetes client). Plain JavaScript on purpose: it runs before the TypeScript
// tool chain is installed, under whatever Node the machine has.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const forTests = process.argv.includes('--test');

function run(cmd, args, opts = {}) {
  console.error(`[cairn setup] ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    console.error(`[cairn setup] ${cmd} failed (exit ${r.status ?? r.signal}); see the output above`);
    process.exit(1);
  }
}

// npm packages: install when node_modules is missing or older than the lock file.
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || statSync(lock).mtimeMs > statSync(installed).mtimeMs) {
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

if (forTests) {
  const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
  const pgBin = () =>
    existsSync('/usr/lib/postgresql') &&
    readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`));
  const missing = [];
  if (!pgBin() || !has('pg_dump') || !has('pgbench'))
    missing.push('postgresql', 'postgresql-client', 'postgresql-contrib');
  if (!has('mariadbd') || !has('mariadb-dump')) missing.push('mariadb-server', 'mariadb-client');
  if (!has('zstd')) missing.push('zstd');
  // The age CLI is the oracle of the encryption tests (test/agent/encryption.test.ts).
  if (!has('age') || !has('age-keygen')) missing.push('age');
  if (!has('tar')) missing.push('tar');
  // The second client of the API emulator suite (test/python): Debian's official Kubernetes client
  // for Debian's own interpreter.
  const pyKube = spawnSync('/usr/bin/python3', ['-c', 'import kubernetes'], { stdio: 'ignore' }).status === 0;
  if (!pyKube) missing.push('python3', 'python3-kubernetes');
  if (!has('openssl')) missing.push('openssl'); // the kubeconfig tests make a CA and certificates
  if (missing.length > 0) {
    const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
    const apt = (args) =>
      sudo.length
        ? run('sudo', ['apt-get', ...args])
        : run('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    apt(['update', '-qq']);
    apt(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
  }
  if (!has('kubectl')) {
    // kubectl cannot be installed from the registries this machine reaches (Debian's is 1.20, too
    // old); the kubectl suite fails rather than skips without it.
    console.error(
      '[cairn setup] kubectl is not on PATH: the kubectl tests will fail (they need kubectl >= 1.28)',
    );
  }
  // Say which Node the scripts run under; everything after this runs under node_modules/.bin/node.
  const v = execFileSync(join(root, 'node_modules', '.bin', 'node'), ['--version'])
    .toString()
    .trim();
  console.error(`[cairn setup] ready: node ${v}`);
}
