/**
 * `npm run bench [-- --quick]`: every benchmark prints Cairn's figure, the baseline measured in the
 * same run, their ratio and the target; results also go to bench/results.json. Benchmarks are not
 * tests: nothing here fails a build.
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { type BenchResult, benchAgent } from './agent.ts';
import { benchDecide } from './decide.ts';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
const suites: [string, () => Promise<BenchResult[]>][] = [
  ['decide', () => benchDecide({ quick })],
  ['agent', () => benchAgent({ quick })],
];
const results: BenchResult[] = [];
const fmt = (n: number) =>
  Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toPrecision(3)) : '—';
for (const [name, run] of suites) {
  if (only && only !== name) continue;
  for (const r of await run()) {
    results.push(r);
    const ok = r.ratio <= r.target ? 'met' : 'MISSED';
    console.log(
      `${r.name.padEnd(58)} cairn ${fmt(r.cairn).padStart(8)} ${r.unit}  baseline ${fmt(r.baseline).padStart(8)} ${r.unit}  ratio ${fmt(r.ratio).padStart(6)}  target ≤ ${fmt(r.target).padStart(6)}  ${ok}${r.note ? `  (${r.note})` : ''}`,
    );
  }
}
const machine = {
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
};
await writeFile(
  new URL('./results.json', import.meta.url),
  `${JSON.stringify({ date: new Date().toISOString(), quick, machine, results }, null, 2)}\n`,
);
