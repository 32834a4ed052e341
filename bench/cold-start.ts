/**
 * Cold start: from spawning the process to the first answered CloudEvent, for each bundled
 * function (`npm run build:functions`: functions/<fn>/dist/, its V8 compile cache filled by the
 * build as the image build fills it), served the way its image serves it — faas-js-runtime's CLI
 * on the bundle under plain node (Node 24, no tsx) — against a bare faas-js-runtime hello function
 * started the same way (target ≤ 1.3 of its time). The hello has no compile cache: it is what
 * `func create` gives; faas-js-runtime's own code is compiled in both.
 *
 * The event is the one every function has a Trigger for: the PingSource tick (eventing/base/
 * pingsource.yaml). A function answers it after real work against the API emulator (running in
 * this process, Cairn's CRDs installed, no objects; the kubeconfig as JSON, see below): its API
 * client connects on first use and LISTs what the tick looks at. The hello function answers 204 at
 * once. The bench polls with the
 * event from the moment of the spawn (a refused connection is retried every 2 ms), so the figure
 * is spawn → listening → first event handled. Runs alternate between the functions and the hello,
 * so load on the machine hits them alike; the median of the runs is reported.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { HTTP } from 'cloudevents';
import { parse } from 'yaml';
import { buildFunctions, FUNCTIONS } from '../functions/build.ts';
import { startApiServer } from '../local/apiserver/index.ts';
import { freePort } from '../local/ports.ts';
import { installCrds, REPO_ROOT } from '../local/runtime.ts';
import { pingEvent } from '../shared/events.ts';
import { createLogger } from '../shared/log.ts';
import type { BenchResult } from './agent.ts';

const FAAS_CLI = path.join(REPO_ROOT, 'node_modules', 'faas-js-runtime', 'bin', 'cli.js');
const TARGET = 1.3;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One POST of the event; rejects on a refused connection. */
function postOnce(port: number, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * CPU time (ms) a process has used so far, all its threads: /proc/<pid>/task/<tid>/schedstat
 * (Linux). Unlike wall time it hardly moves with the machine's load; NaN where there is no /proc.
 */
function cpuMs(pid: number | undefined): number {
  try {
    return (
      readdirSync(`/proc/${pid}/task`).reduce(
        (sum, tid) => sum + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]),
        0,
      ) / 1e6
    );
  } catch {
    return Number.NaN;
  }
}

/** Spawns `node faas-js-runtime ./dist/index.js` in `dir`; resolves with ms (wall, CPU) to the first answer. */
async function coldStart(
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<{ ms: number; cpu: number; status: number }> {
  const port = await freePort();
  // As the PingSource sends it (eventing/base/pingsource.yaml): a JSON body. Without one,
  // faas-js-runtime answers 400 before the function runs.
  const { headers, body } = HTTP.binary(
    pingEvent({
      namespace: 'cairn-system',
      name: 'cairn-tick',
      time: new Date(),
      data: '{"tick":"cairn"}',
      contentType: 'application/json',
    }),
  );
  const h = headers as Record<string, string>;
  const b = body as string;
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [FAAS_CLI, './dist/index.js', '--port', String(port)], {
    cwd: dir,
    env: { ...env, FUNC_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    for (;;) {
      try {
        const status = await postOnce(port, h, b);
        return { ms: performance.now() - t0, cpu: cpuMs(child.pid), status };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw e;
        if (child.exitCode !== null) throw new Error(`${dir} exited ${child.exitCode}: ${stderr}`);
        if (performance.now() - t0 > 30_000) throw new Error(`${dir} did not answer in 30 s: ${stderr}`);
        await sleep(2);
      }
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

export async function benchColdStart(opts: { quick: boolean }): Promise<BenchResult[]> {
  const runs = opts.quick ? 3 : 11;
  // buildFunctions prints a line per bundle; the bench prints only its own lines.
  const log = console.log;
  console.log = () => {};
  try {
    await buildFunctions([...FUNCTIONS]);
  } finally {
    console.log = log;
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-cold-'));
  // The emulator's debug line per request, counted: proof that each start did its API work.
  let apiRequests = 0;
  const api = await startApiServer({
    port: 0,
    logger: createLogger(
      {},
      {
        level: 'debug',
        write: (line) => {
          if (line.includes('"msg":"request"')) apiRequests++;
        },
      },
    ),
  });
  try {
    const kubeconfig = path.join(tmp, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
    await installCrds(kubeconfig);
    const hello = path.join(tmp, 'hello');
    await mkdir(path.join(hello, 'dist'), { recursive: true });
    await writeFile(path.join(hello, 'package.json'), '{ "type": "module" }\n');
    await writeFile(path.join(hello, 'dist', 'index.js'), 'export const handle = () => undefined;\n');
    // In a cluster a function reads its service account and parses no kubeconfig at all; here it
    // gets the emulator's kubeconfig as JSON (kubectl's other format), so the YAML parser, which a
    // deployed function never loads, is not timed either.
    const jsonKubeconfig = path.join(tmp, 'kubeconfig.json');
    await writeFile(jsonKubeconfig, JSON.stringify(parse(await readFile(kubeconfig, 'utf8'))));
    const env = { ...process.env, CAIRN_KUBECONFIG: jsonKubeconfig };
    const targets: [string, string][] = [
      ['hello', hello],
      ...FUNCTIONS.map((f): [string, string] => [f, path.join(REPO_ROOT, 'functions', f)]),
    ];
    const times = new Map<string, number[]>(targets.map(([n]) => [n, []]));
    const cpus = new Map<string, number[]>(targets.map(([n]) => [n, []]));
    const requests = new Map<string, Set<number>>(targets.map(([n]) => [n, new Set()]));
    // One unmeasured start of each first: the page cache holds the bundles afterwards.
    // A function that answers non-2xx did not do its work (a 400 comes before the handler runs):
    // that would time faas-js-runtime refusing an event, so it stops the bench.
    const start = async (name: string, dir: string) => {
      const before = apiRequests;
      const { ms, cpu, status } = await coldStart(dir, env);
      if (status < 200 || status >= 300) throw new Error(`${name} answered the ping with HTTP ${status}`);
      requests.get(name)?.add(apiRequests - before);
      cpus.get(name)?.push(cpu);
      return ms;
    };
    for (const [name, dir] of targets) await start(name, dir);
    for (let r = 0; r < runs; r++) {
      for (const [name, dir] of targets) times.get(name)?.push(await start(name, dir));
    }
    const base = median(times.get('hello') ?? []);
    const baseCpu = median(cpus.get('hello') ?? []);
    return FUNCTIONS.map((f) => {
      const ms = median(times.get(f) ?? []);
      const cpu = median(cpus.get(f) ?? []) / baseCpu;
      const reqs = [...(requests.get(f) ?? [])].sort((a, b) => a - b).join('/');
      return {
        name: `cold start to first answered ping, ${f} (ms)`,
        cairn: Math.round(ms),
        baseline: Math.round(base),
        unit: 'ms',
        ratio: Math.round((ms / base) * 100) / 100,
        target: TARGET,
        note: `median of ${runs}; CPU time ratio ${cpu.toFixed(2)} (load does not skew it); node faas-js-runtime dist/index.js (compile cache filled by the build), answered 2xx after ${reqs} API requests, kubeconfig as JSON; baseline: a hello function started the same way`,
      };
    });
  } finally {
    await api.close();
    await rm(tmp, { recursive: true, force: true });
  }
}
