#!/usr/bin/env node
// `cairn`, and `kubectl cairn` when linked as kubectl-cairn on PATH (docs/cli.md): starts the
// bundled CLI, cli/dist/cairn.mjs (cli/build.ts). Plain JavaScript on purpose: it runs under any
// Node >= 20 before anything is built.
//
// In a checkout the bundle may be missing (a fresh clone) or older than its sources (a pull, an
// edit): then it is built first (`npm run build:cli`, about a second), one process at a time, so
// `npx cairn` never runs stale code. Checking costs one stat per source file the bundle lists in
// cli/dist/inputs.json. V8's compile cache (Node >= 22.1, in the OS temp folder unless
// NODE_COMPILE_CACHE says otherwise) keeps the next start from compiling the bundle again.
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bundle = `${root}cli/dist/cairn.mjs`;
const lock = `${root}cli/.build.lock`;

function stale() {
  let built;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    return true;
  }
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(`${root}cli/dist/inputs.json`, 'utf8'));
  } catch {
    return true;
  }
  // A file that is gone was renamed or deleted: the sources changed.
  return inputs.some((f) => {
    try {
      return statSync(`${root}${f}`).mtimeMs > built;
    } catch {
      return true;
    }
  });
}

async function build() {
  const { spawnSync } = await import('node:child_process');
  if (!existsSync(`${root}node_modules/tsx`)) {
    process.stderr.write(`cairn: the CLI is not built and cannot be: run npm install in ${root}\n`);
    process.exit(1);
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/build.ts'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) {
    process.stderr.write(`cairn: building the CLI (cli/build.ts) failed, exit ${r.status ?? r.signal}\n`);
    process.exit(1);
  }
}

/** One builder at a time: the others wait for it, then find the bundle fresh. */
async function buildOnce() {
  while (stale()) {
    let fd;
    try {
      fd = openSync(lock, 'wx');
    } catch {
      // Another process is building; a lock older than two minutes was left by a crash.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { force: true });
      } catch {}
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    try {
      if (stale()) await build();
    } finally {
      closeSync(fd);
      rmSync(lock, { force: true });
    }
  }
}

if (existsSync(`${root}cli/build.ts`)) await buildOnce();
module.enableCompileCache?.();
await import(bundle);
