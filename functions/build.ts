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
 *   by running `node dist/index.js --fill-compile-cache`, which loads everything once and flushes
 *   what V8 compiled. A cache is only valid for the Node binary that wrote it, so it is filled where
 *   the function will run: here for the local runtime and the bench, and in the image build —
 *   the `build` script of each function's package.json, which func's pack builder runs
 *   (`BP_NODE_RUN_SCRIPTS=build` in its func.yaml) with the image's own Node. A cache that does not
 *   match (another Node, a changed bundle) is ignored, never wrong: the function just compiles.
 */
import { execFile } from 'node:child_process';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build, type Plugin } from 'esbuild';
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
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--fill-compile-cache')) {
  // The chunks too (their top level only defines; nothing runs), then write what V8 compiled.
  for (const f of readdirSync(new URL('./chunks/', import.meta.url))) {
    if (f.endsWith('.js')) await import(\`./chunks/\${f}\`);
  }
  module.flushCompileCache?.();
  // Node writes the cache owner-only; the image runs as another user than the one that built it.
  const chmod = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = \`\${d}/\${e.name}\`;
      chmodSync(p, e.isDirectory() ? 0o755 : 0o644);
      if (e.isDirectory()) chmod(p);
    }
  };
  if (cache?.directory && existsSync(cache.directory)) chmod(cache.directory);
}
`;
}

const run = promisify(execFile);

/**
 * Node's built-in modules, taken with `process.getBuiltinModule` instead of `import`. An ESM import
 * of a built-in builds a module facade that reads every export, getters included: `node:http`'s
 * lazy WebSocket getter then loads Node's internal undici, ~10–50 ms of a cold start for nothing
 * (measured with --cpu-prof; faas-js-runtime itself requires its built-ins and never pays it).
 * As CommonJS modules, esbuild reads the one property a call site uses, when it runs.
 */
const builtinsByRequire: Plugin = {
  name: 'builtins-by-require',
  setup(b) {
    const names = builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|');
    b.onResolve({ filter: new RegExp(`^(node:)?(${names})$`) }, (args) => ({
      path: args.path.startsWith('node:') ? args.path : `node:${args.path}`,
      namespace: 'builtin',
    }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/** Loads the bundle once with the compile cache on, so the next start finds its code compiled. */
export async function fillCompileCache(dist: string): Promise<void> {
  await rm(path.join(dist, 'compile-cache'), { recursive: true, force: true });
  await run(process.execPath, [path.join(dist, 'index.js'), '--fill-compile-cache'], { cwd: dist });
}

/** Bundles one entry into `outdir`; returns the bytes a cold start reads (loader and function). */
export async function bundleFunction(
  entry: string,
  outdir: string,
): Promise<{ bytes: number; chunks: number }> {
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
    plugins: [builtinsByRequire],
    // Bundled CommonJS dependencies call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __cairnRequire } from 'node:module'; const require = __cairnRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  const main = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint !== undefined);
  if (!main) throw new Error(`esbuild wrote no entry point for ${entry}`);
  await writeFile(path.join(outdir, 'index.js'), loader(main[1].exports));
  await fillCompileCache(outdir);
  const chunks = (await readdir(path.join(outdir, 'chunks')).catch(() => [])).filter((f) =>
    f.endsWith('.js'),
  );
  const bytes = (await stat(path.join(outdir, 'index.js'))).size + main[1].bytes;
  return { bytes, chunks: chunks.length };
}

export async function buildFunctions(only?: string[]): Promise<void> {
  const report = (name: string, { bytes, chunks }: { bytes: number; chunks: number }) =>
    console.log(`${name} ${(bytes / 1024).toFixed(0)} KiB (+${chunks} lazily loaded chunks)`);
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
