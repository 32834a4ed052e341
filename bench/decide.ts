/**
 * Pure decisions at scale: schedule-evaluator's decide over N policies per tick, and
 * retention-pruner's plan over N Backups. The baseline, measured in the same run, is what any tick
 * must pay anyway: parsing the LIST response that holds those objects.
 */
import { performance } from 'node:perf_hooks';
import { applyRetention } from '../functions/retention-pruner/retention.ts';
import { decide } from '../functions/schedule-evaluator/decide.ts';
import type { Backup, DatabaseBackup } from '../shared/api/index.ts';
import type { BenchResult } from './agent.ts';

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney'];
const SCHEDULES = [
  '* * * * *',
  '*/5 * * * *',
  '0 * * * *',
  '0 1 * * *',
  '30 2 * * 1-5',
  '@daily',
  '15 */6 * * *',
];

function policies(n: number, now: Date): DatabaseBackup[] {
  return Array.from({ length: n }, (_, i) => {
    const next = new Date(now.getTime() + ((i % 50) + 1) * 60_000).toISOString();
    return {
      apiVersion: 'backup.cairn.dev/v1alpha1',
      kind: 'DatabaseBackup',
      metadata: {
        name: `p-${i}`,
        namespace: `ns-${i % 100}`,
        uid: `u-${i}`,
        generation: 1,
        creationTimestamp: '2030-01-01T00:00:00Z',
      },
      spec: {
        schedule: SCHEDULES[i % SCHEDULES.length] as string,
        timeZone: ZONES[i % ZONES.length] as string,
        database: { host: 'pg', name: 'app' },
        storageDestination: { type: 's3', bucket: 'b' },
      },
      // A steady tick: most policies are idle (their next run is recorded and ahead); 1 in 10
      // has a run due since the previous minute.
      status:
        i % 10 === 0
          ? { observedGeneration: 1, lastScheduleTime: new Date(now.getTime() - 90_000).toISOString() }
          : {
              observedGeneration: 1,
              nextScheduledBackup: next,
              lastScheduleTime: '2030-01-01T00:00:00Z',
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'Scheduled',
                  message: '',
                  lastTransitionTime: '2030-01-01T00:00:00Z',
                },
              ],
            },
    };
  });
}

function time(fn: () => void, reps: number): number {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t0) / reps;
}

export async function benchDecide(opts: { quick: boolean }): Promise<BenchResult[]> {
  const now = new Date('2030-01-02T00:00:30Z');
  const out: BenchResult[] = [];
  for (const n of opts.quick ? [100, 1000, 10000] : [100, 1000, 10000]) {
    const ps = policies(n, now);
    const json = JSON.stringify({ items: ps });
    const reps = n >= 10000 ? 5 : 20;
    const cairn = time(() => {
      for (const p of ps) decide({ kind: 'DatabaseBackup', policy: p, backups: [] }, now);
    }, reps);
    const baseline = time(() => JSON.parse(json), reps);
    out.push({
      name: `schedule decide, ${n} policies (ms/tick)`,
      cairn,
      baseline,
      unit: 'ms',
      ratio: cairn / baseline,
      target: n === 10000 ? 50 / baseline : Number.POSITIVE_INFINITY,
      note:
        n === 10000
          ? `target ≤ 50 ms absolute: ${cairn.toFixed(1)} ms`
          : 'baseline: parsing the LIST of the same policies',
    });
  }
  const backups: Backup[] = Array.from({ length: 10000 }, (_, i) => ({
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Backup',
    metadata: { name: `b-${i}`, namespace: 'default' },
    spec: {
      policyRef: { kind: 'DatabaseBackup', name: 'p' },
      scheduledTime: new Date(Date.UTC(2030, 0, 1) + i * 3600e3).toISOString(),
    },
    status: {
      phase: i % 17 === 0 ? 'Failed' : 'Completed',
      completionTime: new Date(Date.UTC(2030, 0, 1) + i * 3600e3 + 60e3).toISOString(),
    },
  }));
  const json = JSON.stringify({ items: backups });
  const cairn = time(
    () =>
      applyRetention(
        backups,
        { keepLast: 7, keepDaily: 7, keepWeekly: 4, keepMonthly: 6, keepFailed: 1 },
        'Europe/Berlin',
        new Date('2031-03-01T00:00:00Z'),
      ),
    10,
  );
  const baseline = time(() => JSON.parse(json), 10);
  out.push({
    name: 'retention plan, 10000 Backups (ms)',
    cairn,
    baseline,
    unit: 'ms',
    ratio: cairn / baseline,
    target: 20 / baseline,
    note: `target ≤ 20 ms absolute: ${cairn.toFixed(1)} ms`,
  });
  return out;
}
