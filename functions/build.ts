/**
 * `npm run build:functions`: bundles each function (and the all-in-one router) with esbuild into a
 * self-contained `dist/` beside its func.yaml, so `func deploy` ships it and its cold start does not
 * walk node_modules. Only faas-js-runtime, which serves the bundle, stays outside it.
 *
 * What a cold start pays for is kept small (issue 17, bench/cold-start.ts):
 *
 * - Code splitting: what the first event does not need — @kubernetes/client-node, loaded only
 *   for kubeconfigs with exec plugins or auth-providers, and the YAML parser, which a function in a
 *   cluster (service account, no kubeconfig) never loads — sits in `dist/chunks/`, read only when
 *   imported.
 * - V8's compile cache: `dist/index.js` is a small loader that turns on `module.enableCompileCache`
 *   for `dist/compile-cache/`, then imports the function (`dist/function.js`). The cache is filled
 *   by `node dist/index.js --fill-compile-cache`, which loads the function and flushes what V8
 *   compiled. A cache is only valid for the Node binary that wrote it, so it is filled where
 *   the function will run: here for the local runtime and the bench, and in the image build —
 *   the `build` script of each function's package.json, which func's pack builder runs
 *   (`BP_NODE_RUN_SCRIPTS=build` in its func.yaml) with the image's own Node. A cache that does not
 *   match (another Node, a changed bundle) is ignored, never wrong: the function just compiles.
 */
import { execFile } from 'node:child_process';
import { realpath, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { builtinsWithoutFacades, REQUIRE_BANNER } from '../scripts/esbuild-node.ts';
import { FUNCTION_NAMES } from './names.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

export const FUNCTIONS = FUNCTION_NAMES;

/** The loader each bundle starts from; `exports` are the function module's export names. */
function loader(exports: string[]): string {
  return `// Written by functions/build.ts. Turns on V8's compile cache for this function's code, then
// loads it. \`node dist/index.js --fill-compile-cache\` (npm run build) fills the cache.
import module from 'node:module';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const directory = fileURLToPath(new URL('./compile-cache', import.meta.url));
const cache = module.enableCompileCache?.({ directory, portable: true });
export const { ${exports.join(', ')} } = await import('./function.js');
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--fill-compile-cache') && cache?.directory) {
  // Write what V8 compiled, readable by all: the image runs as another user than the one that built it.
  module.flushCompileCache();
  const chmod = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      chmodSync(\`\${d}/\${e.name}\`, e.isDirectory() ? 0o755 : 0o644);
      if (e.isDirectory()) chmod(\`\${d}/\${e.name}\`);
    }
  };
  if (existsSync(cache.directory)) chmod(cache.directory);
}
`;
}

const run = promisify(execFile);

/**
 * The Nodes a bundle may be started with: this one (the local runtime and the bench start functions
 * with it), and the `node` a plain shell finds, outside npm's node_modules/.bin — the one
 * faas-js-runtime's `#!/usr/bin/env node` gets in an image whose build ran this script through npm
 * (the all-in-one func.yaml's BP_NODE_RUN_SCRIPTS=build:functions). Each keeps its own cache folder.
 */
async function nodes(): Promise<string[]> {
  const found = [await realpath(process.execPath)];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '' || dir.includes(`node_modules${path.sep}.bin`)) continue;
    const candidate = await realpath(path.join(dir, 'node')).catch(() => undefined);
    if (!candidate) continue;
    // Only a Node that has a compile cache (22.1 or later) can fill one.
    const { stdout } = await run(candidate, ['-p', 'process.versions.node']).catch(() => ({ stdout: '0' }));
    const [major = 0, minor = 0] = String(stdout).trim().split('.').map(Number);
    if (!found.includes(candidate) && (major > 22 || (major === 22 && minor >= 1))) found.push(candidate);
    break;
  }
  return found;
}

/** Loads the bundle once with the compile cache on, so the next start finds its code compiled. */
export async function fillCompileCache(dist: string): Promise<void> {
  await rm(path.join(dist, 'compile-cache'), { recursive: true, force: true });
  for (const node of await nodes()) {
    await run(node, [path.join(dist, 'index.js'), '--fill-compile-cache'], { cwd: dist });
  }
}

/** Bundles one entry into `outdir`; returns the bytes a start loads, and the chunks loaded on demand. */
export async function bundleFunction(
  entry: string,
  outdir: string,
): Promise<{ bytes: number; lazy: number[] }> {
  // Chunk names are content hashes: old ones would pile up.
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: { function: entry },
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    sourcemap: 'linked',
    metafile: true,
    external: ['faas-js-runtime'],
    plugins: [builtinsWithoutFacades],
    banner: { js: REQUIRE_BANNER },
    logLevel: 'warning',
  });
  const outputs = result.metafile.outputs;
  const main = Object.entries(outputs).find(([, o]) => o.entryPoint !== undefined);
  if (!main) throw new Error(`esbuild wrote no entry point for ${entry}`);
  await writeFile(path.join(outdir, 'index.js'), loader(main[1].exports));
  await fillCompileCache(outdir);
  // What a start loads: the loader, the function and the chunks it imports statically.
  const loaded = new Set<string>();
  const visit = (file: string) => {
    if (loaded.has(file)) return;
    loaded.add(file);
    for (const i of outputs[file]?.imports ?? [])
      if (i.kind === 'import-statement' && !i.external) visit(i.path);
  };
  visit(main[0]);
  const js = Object.keys(outputs).filter((f) => f.endsWith('.js'));
  const bytes = [...loaded].reduce((n, f) => n + (outputs[f]?.bytes ?? 0), 0);
  return {
    bytes: bytes + (await stat(path.join(outdir, 'index.js'))).size,
    lazy: js.filter((f) => !loaded.has(f)).map((f) => outputs[f]?.bytes ?? 0),
  };
}

export async function buildFunctions(only?: string[]): Promise<void> {
  const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  const report = (name: string, { bytes, lazy }: { bytes: number; lazy: number[] }) =>
    console.log(`${name} ${kib(bytes)} loaded at start; lazily loaded chunks: ${lazy.map(kib).join(', ')}`);
  for (const name of FUNCTION_NAMES) {
    if (only && !only.includes(name)) continue;
    report(
      `functions/${name}/dist/`,
      await bundleFunction(`${root}functions/${name}/handle.ts`, `${root}functions/${name}/dist`),
    );
  }
  if (!only || only.includes('cairn')) {
    report('dist/ (all-in-one)', await bundleFunction(`${root}functions/router.ts`, `${root}dist`));
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  await buildFunctions(args.length ? args : undefined);
}
