/**
 * Event to action: from the ApiServerSource event for a new Backup (shared/events.ts
 * resourceEvent, `dev.knative.apiserver.resource.add`, binary mode) to its Job existing in the API
 * server, through the local runtime's own parts over HTTP. Two paths, one event at a time:
 *
 * - via the Broker: POST to the Broker ingress (202), the Trigger's filter, delivery to
 *   job-launcher over HTTP, its GET/LISTs and the Job's create in the API emulator. "The Job exists"
 *   is the moment a watch on Jobs (opened before the run, over HTTP like kubectl's) sees it ADDED.
 * - direct to job-launcher: POST to the function's URL; its 204 comes after the whole plan (the
 *   Job's create, then the Backup's status and an Event), so this path includes more writes.
 *
 * The parts are those startLocalRuntime composes (API emulator with the CRDs, the five functions
 * served by faas-js-runtime, the Broker with the eventing/ Triggers, recording events), without
 * the event sources and the job runner: the bench sends the event ApiServerSource would send, and
 * with the sources running the Backup's creation would already have made its Job.
 *
 * The floor: the same event POSTed to a hello function served by faas-js-runtime in this process
 * (one bare HTTP round trip, what the cheapest hop costs). Target: p99 ≤ 50 ms.
 * Also reported: file descriptors held by this process before and after (the Broker's socket use).
 */

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type CloudEvent, HTTP } from 'cloudevents';
import faas from 'faas-js-runtime';
import { type ApiServer, startApiServer } from '../local/apiserver/index.ts';
import { type LocalBroker, startBroker } from '../local/broker/index.ts';
import { type LocalFunctions, serveFunctions } from '../local/functions.ts';
import { freePort } from '../local/ports.ts';
import { installCrds, REPO_ROOT } from '../local/runtime.ts';
import type { Backup } from '../shared/api/index.ts';
import { ManualClock } from '../shared/clock.ts';
import { type KubeObjectLike, resourceEvent } from '../shared/events.ts';
import { KubeClient, type KubeObject } from '../shared/kube.ts';
import { createLogger } from '../shared/log.ts';
import { backup, databaseBackup } from '../test/builders.ts';
import { type ApiTarget, authorized } from '../test/fixtures/api.ts';
import type { BenchResult } from './agent.ts';

const NS = 'default';
const TARGET_P99_MS = 50;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

async function openFds(): Promise<number> {
  try {
    return (await readdir('/proc/self/fd')).length;
  } catch {
    return Number.NaN;
  }
}

/** POSTs an event in binary mode, as the Broker delivers and as ApiServerSource sends. */
async function post(url: string, ev: CloudEvent<unknown>): Promise<number> {
  const { headers, body } = HTTP.binary(ev);
  const res = await fetch(url, {
    method: 'POST',
    headers: headers as Record<string, string>,
    body: body as string,
  });
  await res.arrayBuffer();
  return res.status;
}

/** A watch on Jobs over HTTP; `added(name)` resolves when the API server reports it ADDED. */
function watchJobs(api: ApiTarget): Promise<{ added(name: string): Promise<void>; close(): void }> {
  const seen = new Set<string>();
  const waiting = new Map<string, () => void>();
  return new Promise((resolve, reject) => {
    const req = request(
      `${api.url}/apis/batch/v1/namespaces/${NS}/jobs?watch=true`,
      { headers: authorized(api), ca: api.ca },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`watch: HTTP ${res.statusCode}`));
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            nl = buf.indexOf('\n');
            if (!line.trim()) continue;
            const ev = JSON.parse(line) as { type: string; object: KubeObject };
            if (ev.type !== 'ADDED') continue;
            const name = ev.object.metadata.name as string;
            seen.add(name);
            waiting.get(name)?.();
          }
        });
        res.on('error', () => {});
        resolve({
          added: (name) =>
            seen.has(name) ? Promise.resolve() : new Promise((r) => waiting.set(name, () => r())),
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function createBackups(kube: KubeClient, names: string[]): Promise<Backup[]> {
  const out: Backup[] = [];
  for (let i = 0; i < names.length; i += 50) {
    const batch = await Promise.all(
      names.slice(i, i + 50).map(async (name) => {
        const b = backup(name, { kind: 'DatabaseBackup', name: 'pg-nightly' }, undefined);
        // What a real creation carries: the server assigns uid and creationTimestamp.
        const { object } = await kube.create<Backup>('Backup', {
          ...b,
          metadata: { name, namespace: NS, labels: b.metadata.labels ?? {} },
        });
        return object;
      }),
    );
    out.push(...batch);
  }
  return out;
}

export async function benchEventToAction(opts: { quick: boolean }): Promise<BenchResult[]> {
  const n = opts.quick ? 200 : 1000;
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-e2a-'));
  const clock = new ManualClock('2030-01-01T01:00:30Z');
  const log = createLogger({}, { level: 'error', write: () => {} });
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const api: ApiServer = await startApiServer({
      port: 0,
      stateDir: path.join(stateDir, 'apiserver'),
      clock,
    });
    closers.push(() => api.close());
    const kubeconfig = path.join(stateDir, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
    const kube = await KubeClient.connect({ kubeconfig, clock });
    await installCrds(kubeconfig);
    const fns: LocalFunctions = await serveFunctions({ kube, clock, log });
    closers.push(() => fns.close());
    const broker: LocalBroker = await startBroker({
      manifests: path.join(REPO_ROOT, 'eventing', 'base'),
      services: fns.urls,
      stateDir,
      clock,
      log,
      retryOverride: { retry: 1, backoffDelayMs: 10 },
    });
    closers.push(() => broker.close());
    const hello = await startHello();
    closers.push(() => hello.close());

    for (const name of ['pg', 's3']) {
      await kube.create('Secret', {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: NS },
        stringData: { password: 'x', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' },
      });
    }
    const p = databaseBackup('pg-nightly');
    await kube.create('DatabaseBackup', { ...p, metadata: { name: p.metadata.name, namespace: NS } });
    const viaBroker = await createBackups(
      kube,
      Array.from({ length: n }, (_, i) => `pg-nightly-b${i}`),
    );
    const direct = await createBackups(
      kube,
      Array.from({ length: n }, (_, i) => `pg-nightly-d${i}`),
    );
    const event = (b: Backup) =>
      resourceEvent('add', b as unknown as KubeObjectLike, { source: api.url, time: clock.now() });
    const watch = await watchJobs(api);
    closers.push(async () => watch.close());
    const ingress = broker.ingressUrl('cairn-system', 'default');
    const jobLauncher = fns.urls['job-launcher'];

    // Warm-up, not counted: the first event down each path costs ~300 ms (first use of the
    // client's request paths, validators compiled on first use, keep-alive sockets opened).
    const warm = await createBackups(kube, [
      'pg-nightly-w0',
      'pg-nightly-w1',
      'pg-nightly-w2',
      'pg-nightly-w3',
    ]);
    for (const b of warm.slice(0, 2)) {
      await post(ingress, event(b));
      await watch.added(b.metadata.name);
      await broker.idle();
    }
    for (const b of warm.slice(2)) await post(jobLauncher, event(b));
    for (let i = 0; i < 5; i++) await post(hello.url, event(warm[0] as Backup));

    const fds0 = await openFds();
    const brokerMs: number[] = [];
    let failures = 0;
    for (const b of viaBroker) {
      const t0 = performance.now();
      const status = await post(ingress, event(b));
      if (status !== 202) failures++;
      else await watch.added(b.metadata.name);
      brokerMs.push(performance.now() - t0);
      // Replies and records of this event finish before the next one starts.
      await broker.idle();
    }
    const fds1 = await openFds();
    const directMs: number[] = [];
    for (const b of direct) {
      const t0 = performance.now();
      const status = await post(jobLauncher, event(b));
      directMs.push(performance.now() - t0);
      if (status !== 204) failures++;
    }
    const fds2 = await openFds();
    const floorMs: number[] = [];
    for (const b of viaBroker) {
      const t0 = performance.now();
      await post(hello.url, event(b));
      floorMs.push(performance.now() - t0);
    }
    const jobs = (await kube.list('Job', NS)).length - warm.length;
    const load = os.loadavg()[0]?.toFixed(1);

    const floor50 = pct(floorMs, 50);
    const floor99 = pct(floorMs, 99);
    const fdNote = `fds of the process ${fds0} → ${fds1} after the Broker events → ${fds2} after the direct ones`;
    const row = (what: string, xs: number[], p: number, floor: number, note: string): BenchResult => {
      const v = pct(xs, p);
      return {
        name: `event → Job ${what}, p${p} of ${n} (ms)`,
        cairn: round(v),
        baseline: round(floor, 3),
        unit: 'ms',
        ratio: round(v / floor),
        target: p === 99 ? TARGET_P99_MS / floor : Number.POSITIVE_INFINITY,
        note,
      };
    };
    const common = `baseline: the same event POSTed to a faas-js-runtime hello function; ${jobs} of ${2 * n} Jobs exist${failures ? `, ${failures} events failed` : ''}; load average ${load} on ${os.cpus().length} CPUs`;
    return [
      row(
        'via Broker',
        brokerMs,
        50,
        floor50,
        `POST to the Broker ingress until a watch sees the Job ADDED; ${common}`,
      ),
      row('via Broker', brokerMs, 99, floor99, `target ≤ ${TARGET_P99_MS} ms absolute; ${fdNote}`),
      row(
        'direct to job-launcher',
        directMs,
        50,
        floor50,
        'POST to job-launcher until its 204 (Job, Backup status and Event written)',
      ),
      row('direct to job-launcher', directMs, 99, floor99, `target ≤ ${TARGET_P99_MS} ms absolute`),
    ];
  } finally {
    for (const c of closers.reverse()) await c().catch(() => {});
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** faas-js-runtime serving a handler that answers every CloudEvent with 204, no reply event. */
async function startHello(): Promise<{ url: string; close(): Promise<void> }> {
  const port = await freePort();
  const server: Server = await faas.start(
    { handle: () => undefined } as unknown as Parameters<typeof faas.start>[0],
    { port, logLevel: 'error' } as unknown as Parameters<typeof faas.start>[1],
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
