/**
 * `npm run build:cli`: bundles the `cairn` CLI with esbuild into `cli/dist/` (gitignored), so it
 * starts under plain node — no tsx compiling TypeScript at every call, no node_modules walk — and
 * runs on any Node ≥ 20. Each subcommand is its own chunk (cli/cairn.ts imports them on demand).
 * `cli/dist/inputs.json` lists the files the bundle was built from: cli/bin/cairn.mjs, which
 * starts it, rebuilds when one of them is newer than the bundle (a checkout after a pull or an
 * edit), so `npx cairn` in the repository never runs stale code.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { builtinsWithoutFacades, REQUIRE_BANNER } from '../scripts/esbuild-node.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
export const CLI_DIST = path.join(root, 'cli', 'dist');

/** Besides its inputs, what makes the bundle stale: the build itself and an npm install. */
const BUILD_INPUTS = ['cli/build.ts', 'scripts/esbuild-node.ts', 'node_modules/.package-lock.json'];

export async function buildCli(): Promise<{ bytes: number; inputs: number }> {
  // Built beside, then swapped in: a cairn already running keeps its files until it is done with
  // them (unless it loads a command after the swap), and old chunks (content-hashed) do not pile up.
  const next = `${CLI_DIST}.${process.pid}`;
  await rm(next, { recursive: true, force: true });
  await mkdir(next, { recursive: true });
  const result = await build({
    entryPoints: { cairn: path.join(root, 'cli', 'cairn.ts') },
    outdir: next,
    // .mjs: ES modules whatever package.json says where the files end up (a kubectl plugin folder).
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    sourcemap: 'linked',
    metafile: true,
    plugins: [builtinsWithoutFacades],
    banner: { js: REQUIRE_BANNER },
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs).filter(
    (f) => !f.includes('node_modules/') && !f.includes(':'),
  );
  await writeFile(
    path.join(next, 'inputs.json'),
    `${JSON.stringify([...BUILD_INPUTS, ...inputs.map((f) => path.relative(root, path.resolve(f)))], null, 1)}\n`,
  );
  const old = `${CLI_DIST}.old.${process.pid}`;
  await rename(CLI_DIST, old).catch(() => {});
  await rename(next, CLI_DIST);
  await rm(old, { recursive: true, force: true });
  const entry = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined);
  return { bytes: entry?.bytes ?? 0, inputs: inputs.length };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { bytes, inputs } = await buildCli();
  console.log(`cli/dist/cairn.mjs ${(bytes / 1024).toFixed(0)} KiB, from ${inputs} source files`);
}
