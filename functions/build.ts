/**
 * `npm run build:functions`: bundles each function (and the all-in-one router) with esbuild into a
 * self-contained `dist/index.js` beside its func.yaml, so `func deploy` ships one file and its
 * cold start does not walk node_modules. Only faas-js-runtime, which serves the bundle, stays
 * outside it.
 */
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { FUNCTION_NAMES } from './names.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

export const FUNCTIONS = FUNCTION_NAMES;

async function bundle(entry: string, outfile: string): Promise<number> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    sourcemap: 'linked',
    external: ['faas-js-runtime'],
    // Bundled CommonJS dependencies call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __cairnRequire } from 'node:module'; const require = __cairnRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return (await stat(outfile)).size;
}

export async function buildFunctions(only?: string[]): Promise<void> {
  for (const name of FUNCTION_NAMES) {
    if (only && !only.includes(name)) continue;
    const size = await bundle(`${root}functions/${name}/handle.ts`, `${root}functions/${name}/dist/index.js`);
    console.log(`functions/${name}/dist/index.js ${(size / 1024).toFixed(0)} KiB`);
  }
  if (!only || only.includes('cairn')) {
    const size = await bundle(`${root}functions/router.ts`, `${root}dist/index.js`);
    console.log(`dist/index.js (all-in-one) ${(size / 1024).toFixed(0)} KiB`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  await buildFunctions(args.length ? args : undefined);
}
