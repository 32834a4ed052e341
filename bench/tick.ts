/**
 * A whole schedule tick through the local runtime at 100 policies (CAIRN_BENCH_TICK_SIZES=a,b,… for
 * others; 1,000 currently ends the process: the local runtime leaks a socket per delivery and runs
 * out of file descriptors, which faas-js-runtime's uncaught-exception handler turns into a silent
 * exit 0): the PingSource event goes through the Broker to schedule-evaluator over HTTP, which LISTs,
 * decides and creates the due Backups in the API emulator; `tick()` returns when every delivery it
 * caused is done (job-launcher's handling of the new Backups included). Also counted: the API
 * requests the functions sent during the tick (KubeClient's `requests` counter; the functions share
 * the runtime's client). Target: one LIST per kind (DatabaseBackup, BackupPolicy, Backup) plus one
 * create per due run. The baseline is the same LISTs sent bare, i.e. what any tick must pay.
 *
 * Policies: 4 in 5 DatabaseBackups, 1 in 5 BackupPolicies, daily schedules spread over the hours
 * and minutes plus 1 in 20 every 15 minutes, five time zones. Their destination is a claim that
 * does not exist, so a due run becomes a Backup that job-launcher fails at once: no agent runs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime.ts';
import { API_VERSION } from '../shared/api/index.ts';
import { ManualClock } from '../shared/clock.ts';
import type { KubeObject } from '../shared/kube.ts';
import { createLogger } from '../shared/log.ts';
import type { BenchResult } from './agent.ts';

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney'];

function policy(i: number): [string, KubeObject] {
  const schedule = i % 20 === 0 ? '*/15 * * * *' : `${(i * 7) % 60} ${i % 24} * * *`;
  const common = {
    schedule,
    timeZone: ZONES[i % ZONES.length] as string,
    storageDestination: { type: 'pvc', claimName: 'bench-missing' },
  };
  const metadata = { name: `p-${i}`, namespace: 'default' };
  if (i % 5 === 4) {
    return [
      'BackupPolicy',
      {
        apiVersion: API_VERSION,
        kind: 'BackupPolicy',
        metadata,
        spec: { ...common, pvcSelector: { matchLabels: { app: `a${i}` } }, backupStrategy: 'tar' },
      } as KubeObject,
    ];
  }
  return [
    'DatabaseBackup',
    {
      apiVersion: API_VERSION,
      kind: 'DatabaseBackup',
      metadata,
      spec: { ...common, databaseType: 'postgres', database: { host: 'pg', name: 'app' } },
    } as KubeObject,
  ];
}

/**
 * Creates policies `from`..`to` in parallel batches, letting the event sources and the Broker catch
 * up every few hundred: unbounded, the cascade of events (each creation, then each status write)
 * ran the local Broker out of file descriptors (EMFILE) at 1,000 policies.
 */
async function createAll(rt: LocalRuntime, from: number, to: number): Promise<void> {
  const BATCH = 32;
  for (let i = from; i < to; i += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, to - i) }, (_, j) => {
        const [kind, obj] = policy(i + j);
        return rt.kube.create(kind, obj);
      }),
    );
    if ((i / BATCH) % 8 === 7) await rt.flushed();
  }
}

function diff(after: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) if (v !== (before.get(k) ?? 0)) out[k] = v - (before.get(k) ?? 0);
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function benchTick(_opts: { quick: boolean }): Promise<BenchResult[]> {
  const sizes = process.env.CAIRN_BENCH_TICK_SIZES?.split(',').map(Number) ?? [100];
  const out: BenchResult[] = [];
  for (const n of sizes) out.push(...(await tickAt(n)));
  return out;
}

/** A fresh runtime per size: the local runtime holds sockets per delivered event (see above). */
async function tickAt(n: number): Promise<BenchResult[]> {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-tick-'));
  // 00:06:30 UTC: the measured ticks are 00:07–00:09, minutes no */15 schedule hits.
  const clock = new ManualClock('2030-01-01T00:06:30Z');
  const rt = await startLocalRuntime({
    stateDir,
    clock,
    ping: { mode: 'manual' },
    retry: { retry: 1, backoffDelayMs: 10 },
    log: createLogger({}, { level: 'error', write: () => {} }),
  });
  try {
    const t0 = performance.now();
    await createAll(rt, 0, n);
    // Let every creation event reach schedule-evaluator, then one tick to settle.
    await rt.flushed();
    await rt.tick();
    const setupS = (performance.now() - t0) / 1000;
    const times: number[] = [];
    const requests: Record<string, number>[] = [];
    for (let k = 0; k < 3; k++) {
      clock.advance(60_000);
      const before = new Map(rt.kube.requests);
      const t = performance.now();
      await rt.tick();
      times.push(performance.now() - t);
      requests.push(diff(rt.kube.requests, before));
    }
    const bare = [];
    for (let k = 0; k < 3; k++) {
      const t = performance.now();
      await Promise.all(
        ['DatabaseBackup', 'BackupPolicy', 'Backup'].map((kind) => rt.kube.list(kind, undefined)),
      );
      bare.push(performance.now() - t);
    }
    const ms = median(times);
    const baseline = median(bare);
    // The tick with the most due runs of the three.
    const worst = requests.reduce((a, b) => ((b['create Backup'] ?? 0) > (a['create Backup'] ?? 0) ? b : a));
    const total = Object.values(worst).reduce((a, b) => a + b, 0);
    const due = worst['create Backup'] ?? 0;
    return [
      {
        name: `schedule tick via local runtime, ${n} policies (ms)`,
        cairn: Math.round(ms),
        baseline: Math.round(baseline * 10) / 10,
        unit: 'ms',
        ratio: Math.round((ms / baseline) * 100) / 100,
        target: Number.POSITIVE_INFINITY,
        note: `baseline: the 3 LISTs alone; creating the policies took ${setupS.toFixed(0)} s`,
      },
      {
        name: `API requests per tick (all functions), ${n} policies`,
        cairn: total,
        baseline: 3 + due,
        unit: 'req',
        ratio: Math.round((total / (3 + due)) * 100) / 100,
        target: 1,
        note: Object.entries(worst)
          .map(([k, v]) => `${v} ${k}`)
          .join(', '),
      },
    ];
  } finally {
    await rt.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}
