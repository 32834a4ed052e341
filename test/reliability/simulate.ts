/**
 * Runs Cairn's five functions — the real planners, decide and applyPlan — over an in-memory world
 * for a scenario of minutes: a PingSource tick every minute, the job runner, a person's spec
 * changes, and every resource and reply event routed as eventing/base/triggers.yaml routes it
 * (functions/router.ts). Delivery is either in order and exactly once (the reference), or chaotic:
 * duplicated, reordered, delayed, dropped, and optionally crashing a function part-way through its
 * plan (a write fails; the Broker may or may not redeliver).
 */
import { NAME as LAUNCHER, plan as launcherPlan } from '../../functions/job-launcher/handle.ts';
import { NAME as WATCHER, plan as watcherPlan } from '../../functions/job-watcher/handle.ts';
import { NAME as RESTORER, plan as restorePlan } from '../../functions/restore-runner/handle.ts';
import { NAME as PRUNER, plan as prunerPlan } from '../../functions/retention-pruner/handle.ts';
import { routesFor } from '../../functions/router.ts';
import { NAME as EVALUATOR, plan as evaluatorPlan } from '../../functions/schedule-evaluator/handle.ts';
import type { DatabaseBackup } from '../../shared/api/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import { type CloudEventLike, type KubeObjectLike, pingEvent, resourceEvent } from '../../shared/events.ts';
import { type FunctionDeps, makeHandle, type Planner, type Reply } from '../../shared/function.ts';
import type { KubeClient, KubeObject } from '../../shared/kube.ts';
import { silentLogger } from '../../shared/log.ts';
import { seededRandom } from './seeded-random.ts';
import { World } from './world.ts';

export interface PolicyScenario {
  name: string;
  schedule: string;
  concurrencyPolicy: 'Forbid' | 'Allow' | 'Replace';
  keepLast?: number;
  /** A person changes the schedule at this minute. */
  change?: { minute: number; schedule: string };
}

export interface Scenario {
  policies: PolicyScenario[];
  minutes: number;
  /** A backup fails when the hash of its name and this seed says so (about one in four). */
  failSeed: number;
  /** What a person does at the start of each minute (0: before the first), besides the policies. */
  setup?: (world: World, minute: number) => void;
}

export interface Chaos {
  seed: number;
  drop: number;
  duplicate: number;
  delay: number;
  /** Probability that a delivery crashes after 0–3 writes. */
  crash: number;
}

export interface RunResult {
  world: World;
  /** Normalized final state (no uids, resourceVersions or timestamps). */
  state: Record<string, unknown>;
  /** Handler errors that were not injected crashes. */
  errors: string[];
  deliveries: number;
  /** Requests each function's client made, as KubeClient counts them ("verb Kind"). */
  requests: Record<string, Map<string, number>>;
}

const PLANNERS: [string, Planner][] = [
  [EVALUATOR, evaluatorPlan],
  [LAUNCHER, launcherPlan],
  [WATCHER, watcherPlan],
  [PRUNER, prunerPlan],
  [RESTORER, restorePlan],
];
export const START = Date.parse('2030-01-01T00:00:30Z');

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function policyObject(p: PolicyScenario): DatabaseBackup {
  return {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'DatabaseBackup',
    metadata: { name: p.name, namespace: 'default' },
    spec: {
      databaseType: 'postgres',
      schedule: p.schedule,
      timeZone: 'UTC',
      concurrencyPolicy: p.concurrencyPolicy,
      database: { host: 'pg', name: 'app', user: 'backup' },
      storageDestination: { type: 's3', bucket: 'bkt' },
      ...(p.keepLast ? { retention: { keepLast: p.keepLast } } : {}),
    },
  };
}

interface Delivery {
  fn: string;
  event: CloudEventLike;
}

export async function simulate(scenario: Scenario, chaos?: Chaos): Promise<RunResult> {
  const clock = new ManualClock(new Date(START));
  const world = new World(clock);
  const kubes = Object.fromEntries(PLANNERS.map(([name]) => [name, world.client()]));
  const random = seededRandom(chaos?.seed ?? 1);
  const errors: string[] = [];
  let deliveries = 0;
  const handles = new Map(
    PLANNERS.map(([name, p]) => {
      const deps: FunctionDeps = { kube: kubes[name] as KubeClient, clock, log: silentLogger };
      return [name, makeHandle(name, p, { deps })] as const;
    }),
  );
  let queue: Delivery[] = [];
  const route = (event: CloudEventLike) => {
    for (const fn of routesFor(event)) queue.push({ fn, event });
  };
  world.onChange = (c) => {
    if (c.object.kind === 'Event') return;
    route(
      resourceEvent(c.action, c.object as unknown as KubeObjectLike, {
        source: 'apiserversource',
        time: clock.now(),
      }) as unknown as CloudEventLike,
    );
  };
  const fails = (backup: string) => hash(`${scenario.failSeed}:${backup}`) % 4 === 0;

  async function deliver(d: Delivery, chaotic: boolean): Promise<boolean> {
    deliveries++;
    const crash = chaotic && chaos && random() < chaos.crash;
    world.failAfterWrites = crash ? Math.floor(random() * 4) : undefined;
    let reply: Reply;
    try {
      reply = await (handles.get(d.fn) as ReturnType<typeof makeHandle>)(undefined, d.event);
    } catch (err) {
      world.failAfterWrites = undefined;
      if (!crash) errors.push(`${d.fn} on ${String(d.event.type)}: ${String(err)}`);
      return false;
    }
    world.failAfterWrites = undefined;
    if (reply) route(reply as unknown as CloudEventLike);
    return true;
  }

  /** Delivers what is queued: in order and once, or chaotically (what is held stays queued). */
  async function drain(chaotic: boolean): Promise<void> {
    for (let rounds = 0; queue.length > 0 && rounds < 200; rounds++) {
      const batch = queue;
      queue = [];
      if (!chaotic || !chaos) {
        for (const d of batch) await deliver(d, false);
        continue;
      }
      const held: Delivery[] = [];
      for (let i = batch.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [batch[i], batch[j]] = [batch[j] as Delivery, batch[i] as Delivery];
      }
      for (const d of batch) {
        const r = random();
        if (r < chaos.drop) continue;
        if (r < chaos.drop + chaos.delay) {
          held.push(d);
          continue;
        }
        const ok = await deliver(d, true);
        // The Broker retries a failed delivery — unless it gave up; either may happen.
        if (!ok && random() < 0.5) held.push(d);
        if (random() < chaos.duplicate) held.push(d);
      }
      if (held.length > 0) {
        queue.push(...held);
        return;
      }
    }
  }

  async function tick(chaotic: boolean): Promise<void> {
    const ping = pingEvent({
      namespace: 'cairn-system',
      name: 'cairn-tick',
      time: clock.now(),
    }) as unknown as CloudEventLike;
    const fns = PLANNERS.map(([n]) => n);
    if (chaotic && chaos) {
      fns.sort(() => random() - 0.5);
      if (random() < chaos.duplicate) fns.push(fns[Math.floor(random() * fns.length)] as string);
    }
    for (const fn of fns) {
      // The tick keeps running: a crashed tick is retried by the Broker until it gets through.
      for (let i = 0; i < 20 && !(await deliver({ fn, event: ping }, chaotic)); i++);
      await drain(chaotic);
    }
  }

  const chaotic = chaos !== undefined;
  for (const p of scenario.policies) world.put('DatabaseBackup', policyObject(p));
  scenario.setup?.(world, 0);
  await drain(chaotic);
  for (let m = 1; m <= scenario.minutes; m++) {
    clock.set(new Date(START + m * 60_000));
    for (const p of scenario.policies) {
      if (p.change?.minute === m)
        world.updateSpec('DatabaseBackup', 'default', p.name, { schedule: p.change.schedule });
    }
    scenario.setup?.(world, m);
    await drain(chaotic);
    await tick(chaotic);
    world.runJobs(fails);
    await drain(chaotic);
  }
  // Settle at the last minute: what is still queued arrives (or is lost), then the tick runs with
  // reliable delivery, as it keeps doing in a cluster, until a round changes nothing.
  await drain(chaotic);
  queue = [];
  for (let i = 0, before = -1; i < 12 && before !== world.changes; i++) {
    before = world.changes;
    await tick(false);
    world.runJobs(fails);
    await drain(false);
  }
  const requests = Object.fromEntries(Object.entries(kubes).map(([n, k]) => [n, k.requests]));
  return { world, state: normalize(world), errors, deliveries, requests };
}

/** The final state, without what legitimately differs between runs (ids, versions, times). */
export function normalize(world: World): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const byName = (a: KubeObject, b: KubeObject) => a.metadata.name.localeCompare(b.metadata.name);
  for (const b of world.all('Backup').sort(byName)) {
    const s = b.status ?? {};
    out[`Backup/${b.metadata.name}`] = {
      phase: s.phase,
      reason: s.reason,
      jobName: s.jobName,
      sha256: s.sha256,
      location: s.location,
      deleting: Boolean(b.metadata.deletionTimestamp),
      finalizers: b.metadata.finalizers,
      labels: b.metadata.labels,
    };
  }
  for (const p of world.all('DatabaseBackup').sort(byName)) {
    const s = p.status ?? {};
    out[`DatabaseBackup/${p.metadata.name}`] = {
      lastBackup: s.lastBackup,
      lastBackupStatus: s.lastBackupStatus,
      activeBackupJob: s.activeBackupJob,
      lastSuccessfulBackup: s.lastSuccessfulBackup,
      failureReason: s.failureReason,
      nextScheduledBackup: s.nextScheduledBackup,
      lastScheduleTime: s.lastScheduleTime,
      observedGeneration: s.observedGeneration,
      history: (s.backupHistory ?? []).map(
        (h: { backup: string; status: string }) => `${h.backup}:${h.status}`,
      ),
      conditions: (s.conditions ?? []).map(
        (c: { type: string; status: string; reason: string }) => `${c.type}=${c.status}:${c.reason}`,
      ),
    };
  }
  for (const j of world.all('Job').sort(byName))
    out[`Job/${j.metadata.name}`] = (j.status?.conditions ?? []).map((c: { type: string }) => c.type);
  out.pods = world
    .all('Pod')
    .map((p) => `${p.metadata.name}:${p.status?.phase}`)
    .sort();
  return out;
}
