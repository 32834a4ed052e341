/**
 * `npm run bench [-- --quick] [--only=SUITE] [--markdown]`: every benchmark prints Cairn's figure,
 * the baseline measured in the same run, their ratio and the target; results also go to
 * bench/results.json. `--markdown` also prints the README's table (between its bench markers);
 * `--markdown-from=bench/results.json` prints it from an earlier run without running anything.
 * Benchmarks are not tests: nothing here fails a build.
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { type BenchResult, benchAgent } from './agent.ts';
import { benchCli } from './cli.ts';
import { benchColdStart } from './cold-start.ts';
import { benchDecide } from './decide.ts';
import { benchDeletes } from './deletes.ts';
import { benchEventToAction } from './event-to-action.ts';
import { benchTick } from './tick.ts';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
const markdownFrom = process.argv.find((a) => a.startsWith('--markdown-from='))?.slice(16);
const suites: [string, () => Promise<BenchResult[]>][] = [
  ['decide', () => benchDecide({ quick })],
  ['tick', () => benchTick({ quick })],
  ['event-to-action', () => benchEventToAction({ quick })],
  ['cold-start', () => benchColdStart({ quick })],
  ['cli', () => benchCli({ quick })],
  ['deletes', () => benchDeletes({ quick })],
  ['agent', () => benchAgent({ quick })],
];
interface Machine {
  cpus: number;
  cpu: string | undefined;
  memGiB: number;
  node: string;
}

/** The README's table: one row per benchmark, and the run's date, mode and machine under it. */
function markdown(rs: BenchResult[], date: string, wasQuick: boolean, m: Machine): string {
  const cell = (n: number, unit: string) => `${fmt(n)} ${unit}`;
  const rows = rs.map(
    (r) =>
      `| ${r.name.replaceAll('|', '\\|')} | ${cell(r.cairn, r.unit)} | ${cell(r.baseline, r.unit)} | ${fmt(r.ratio)} | ${Number.isFinite(r.target) ? `≤ ${fmt(r.target)}` : '—'} | ${verdict(r, '**missed**')} |`,
  );
  return [
    '| benchmark | Cairn | baseline | ratio | target | |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `${wasQuick ? '`npm run bench -- --quick`' : '`npm run bench`'}, ${date.slice(0, 10)}: ${m.cpus} × ${m.cpu ?? '?'}, ${m.memGiB} GiB, Node ${m.node}. Notes per row: \`bench/results.json\` of a run.`,
  ].join('\n');
}

/** met / missed; rows without a target are informational. */
const verdict = (r: BenchResult, missed: string) =>
  !Number.isFinite(r.target) ? '' : r.ratio <= r.target ? 'met' : missed;
const fmt = (n: number) =>
  Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toPrecision(3)) : '—';
if (markdownFrom) {
  const saved = JSON.parse(await readFile(markdownFrom, 'utf8')) as {
    date: string;
    quick: boolean;
    machine: Machine;
    results: BenchResult[];
  };
  console.log(markdown(saved.results, saved.date, saved.quick, saved.machine));
  process.exit(0);
}
const results: BenchResult[] = [];
for (const [name, run] of suites) {
  if (only && only !== name) continue;
  for (const r of await run()) {
    results.push(r);
    const ok = verdict(r, 'MISSED');
    console.log(
      `${r.name.padEnd(58)} cairn ${fmt(r.cairn).padStart(8)} ${r.unit}  baseline ${fmt(r.baseline).padStart(8)} ${r.unit}  ratio ${fmt(r.ratio).padStart(6)}  target ≤ ${fmt(r.target).padStart(6)}  ${ok}${r.note ? `  (${r.note})` : ''}`,
    );
  }
}
const machine: Machine = {
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
};
const date = new Date().toISOString();
await writeFile(
  new URL('./results.json', import.meta.url),
  `${JSON.stringify({ date, quick, machine, results }, null, 2)}\n`,
);
if (process.argv.includes('--markdown')) console.log(`\n${markdown(results, date, quick, machine)}`);
