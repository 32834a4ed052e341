/**
 * `npm run gen:crds`: writes crds/*.yaml from the schemas. `--check` exits 1 when the committed
 * files differ (the test suite runs the same comparison).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderCrdFiles } from './render.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const check = process.argv.includes('--check');
let stale = 0;
for (const { file, text } of renderCrdFiles()) {
  const path = `${root}crds/${file}`;
  if (check) {
    const current = await readFile(path, 'utf8').catch(() => '');
    if (current !== text) {
      stale++;
      console.error(`crds/${file} is not what the schemas generate: run npm run gen:crds`);
    }
  } else {
    await writeFile(path, text);
    console.log(`wrote crds/${file}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
