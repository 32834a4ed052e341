/**
 * `npm run build:agent`: bundles the agent with esbuild into `agent/dist/main.js` (gitignored), run
 * with plain `node`: no tsx loader, no TypeScript transform, no node_modules walk at start-up. That
 * is ~40 MiB of resident memory and ~200 ms of start-up the agent does not pay (bench/agent.ts).
 * Code splitting keeps the storage SDKs, which shared/storage imports lazily, in chunks of their
 * own: a PVC backup never loads the AWS or Google SDK.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { REQUIRE_BANNER } from '../scripts/esbuild-node.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
export const AGENT_BUNDLE = path.join(root, 'agent', 'dist', 'main.js');

export async function buildAgent(): Promise<number> {
  // Chunk names are content hashes: old ones would pile up.
  await rm(path.dirname(AGENT_BUNDLE), { recursive: true, force: true });
  await build({
    entryPoints: { main: path.join(root, 'agent', 'main.ts') },
    outdir: path.dirname(AGENT_BUNDLE),
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // The AWS SDK's ES module build: its CommonJS build, imported dynamically, loses its named exports.
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: 'linked',
    // Bundled CommonJS dependencies call require(); give the ESM bundle one.
    banner: { js: REQUIRE_BANNER },
    logLevel: 'warning',
  });
  return (await stat(AGENT_BUNDLE)).size;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const size = await buildAgent();
  const chunks = (await readdir(path.dirname(AGENT_BUNDLE))).filter((f) => f.endsWith('.js')).length;
  console.log(`agent/dist/main.js ${(size / 1024).toFixed(0)} KiB (+${chunks - 1} lazily loaded chunks)`);
}
