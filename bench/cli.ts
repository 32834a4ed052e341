/**
 * The CLI answers like kubectl (issue 17): the wall time of `cairn status` against `kubectl get
 * backuppolicies`, both against the same local runtime (`npm start`'s, in this process: the API
 * emulator, functions, Broker and the working example, with one tick's run so the history has a
 * Backup). Target: ≤ 2× kubectl. Runs alternate between the two so load hits both alike; medians.
 *
 * `cairn` is started as a person starts it: the `cairn` bin (cli/bin/cairn.mjs, its shebang's
 * `node` from PATH) with the bundle already built and V8's compile cache warm from the first,
 * unmeasured call, as after any first use; kubectl keeps its discovery cache warm the same way.
 * `npx cairn status` is measured too, without a target: npm's own start-up is most of it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildCli } from '../cli/build.ts';
import { applyFiles, REPO_ROOT, startLocalRuntime } from '../local/runtime.ts';
import { silentLogger } from '../shared/log.ts';
import type { BenchResult } from './agent.ts';

const TARGET = 2;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Runs a command to completion; resolves with its wall time in ms (it must exit 0). */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    execFile(cmd, args, { cwd: REPO_ROOT, env, encoding: 'utf8' }, (err, stdout, stderr) => {
      const ms = performance.now() - t0;
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`));
      else if (!/local-volumes/.test(stdout))
        reject(new Error(`${cmd} ${args.join(' ')} printed: ${stdout}`));
      else resolve(ms);
    });
  });
}

export async function benchCli(opts: { quick: boolean }): Promise<BenchResult[]> {
  const runs = opts.quick ? 5 : 21;
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-cli-'));
  const rt = await startLocalRuntime({ stateDir, ping: { mode: 'manual' }, log: silentLogger });
  try {
    await applyFiles(rt.kubeconfig, [path.join(REPO_ROOT, 'examples', 'local-demo.yaml')]);
    await rt.tick();
    await buildCli();
    const env = { ...process.env, KUBECONFIG: rt.kubeconfig, CAIRN_STATE_DIR: stateDir };
    // The machine's own node: PATH without the node@24 that npm run puts first.
    const machinePath = (process.env.PATH ?? '')
      .split(path.delimiter)
      .filter((d) => !d.includes(`node_modules${path.sep}.bin`))
      .join(path.delimiter);
    const machineEnv = { ...env, PATH: machinePath };
    const bin = path.join(REPO_ROOT, 'cli', 'bin', 'cairn.mjs');
    const cmds: Record<string, [string, string[], NodeJS.ProcessEnv]> = {
      kubectl: [
        'kubectl',
        ['get', 'backuppolicies', '--cache-dir', path.join(stateDir, 'kubectl-cache')],
        env,
      ],
      cairn: [bin, ['status'], env],
      machine: [bin, ['status'], machineEnv],
      npx: ['npx', ['--no-install', 'cairn', 'status'], env],
    };
    const times: Record<string, number[]> = { kubectl: [], cairn: [], machine: [], npx: [] };
    for (const [cmd, args, e] of Object.values(cmds)) await timed(cmd, args, e);
    for (let i = 0; i < runs; i++) {
      for (const [name, [cmd, args, e]] of Object.entries(cmds)) {
        if (name === 'npx' && i >= Math.ceil(runs / 3)) continue;
        times[name]?.push(await timed(cmd, args, e));
      }
    }
    const base = median(times.kubectl ?? []);
    const version = (e: NodeJS.ProcessEnv) =>
      new Promise<string>((resolve) =>
        execFile('sh', ['-c', 'node --version'], { env: e }, (_e, out) => resolve(out.trim())),
      );
    const row = (name: string, key: string, target: number, note: string): BenchResult => {
      const ms = median(times[key] ?? []);
      return {
        name,
        cairn: Math.round(ms),
        baseline: Math.round(base),
        unit: 'ms',
        ratio: Math.round((ms / base) * 100) / 100,
        target,
        note: `median of ${times[key]?.length}; ${note}; against the local runtime`,
      };
    };
    return [
      row(
        '`cairn status` vs `kubectl get backuppolicies` (ms)',
        'cairn',
        TARGET,
        `cli/bin/cairn.mjs under node ${await version(env)} (npm run's PATH), bundle built, compile cache warm`,
      ),
      row(
        "`cairn status` under the machine's node vs `kubectl get backuppolicies` (ms)",
        'machine',
        TARGET,
        `cli/bin/cairn.mjs under node ${await version(machineEnv)} (PATH without node_modules/.bin); Node < 22.1 has no compile cache`,
      ),
      row(
        '`npx cairn status` vs `kubectl get backuppolicies` (ms)',
        'npx',
        Number.NaN,
        "npm's own start-up is most of it",
      ),
    ];
  } finally {
    await rt.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}
