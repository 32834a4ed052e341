/**
 * API faults end to end (issue 9): schedule-evaluator, job-launcher and job-watcher served over
 * HTTP by faas-js-runtime, their KubeClient talking to the API emulator through fault-proxy.ts
 * (409 Conflict, 500, 429 with Retry-After, reset or lost connections, hangs, stale
 * resourceVersions), and every event delivered with the Broker's own delivery code (a non-2xx
 * answer is redelivered). The flow: a PingSource tick creates two due Backups, job-launcher
 * creates their Jobs, the Jobs finish (written straight to the emulator, as the Job controller
 * would), job-watcher completes the Backups; then a second tick, its Jobs launched by the tick,
 * one succeeding and one failing. Each answer must be 2xx or one the Broker retries; after the
 * redeliveries the Backups, Jobs and statuses must equal those of the same flow without faults,
 * with nothing created twice and nothing left for the next tick to repair.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { CloudEvent } from 'cloudevents';
import * as launcher from '../../functions/job-launcher/handle.ts';
import * as watcher from '../../functions/job-watcher/handle.ts';
import * as evaluator from '../../functions/schedule-evaluator/handle.ts';
import { type ApiServer, startApiServer } from '../../local/apiserver/index.ts';
import { deliver, isRetryable, type RetryPolicy } from '../../local/broker/delivery.ts';
import { serveHandle } from '../../local/functions.ts';
import { freePort } from '../../local/ports.ts';
import { installCrds, REPO_ROOT } from '../../local/runtime.ts';
import { formatAgentResult } from '../../shared/agent-contract.ts';
import type { Backup, DatabaseBackup } from '../../shared/api/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import { type KubeObjectLike, pingEvent, resourceEvent } from '../../shared/events.ts';
import { makeHandle, type Planner } from '../../shared/function.ts';
import { KubeClient, type KubeObject } from '../../shared/kube.ts';
import { silentLogger } from '../../shared/log.ts';
import { databaseBackup } from '../builders.ts';
import { apiFetch, apiPutStatus } from '../fixtures/api.ts';
import {
  type FaultProxy,
  type FaultRule,
  isWrite,
  randomPlan,
  scriptedPlan,
  startFaultProxy,
} from './fault-proxy.ts';

const FUNCTIONS = {
  'schedule-evaluator': evaluator.plan,
  'job-launcher': launcher.plan,
  'job-watcher': watcher.plan,
} satisfies Record<string, Planner>;
type Fn = keyof typeof FUNCTIONS;

/**
 * The functions' API requests give up after this long (KubeClient's requestTimeoutMs): short where
 * a test hangs requests on purpose, otherwise long enough that a loaded machine does not time out.
 */
const HANG_TIMEOUT_MS = 1000;
const TIMEOUT_MS = 10_000;

/** As the Broker redelivers (local/broker/delivery.ts), but fast: many retries, milliseconds apart. */
const REDELIVERY: RetryPolicy = { retry: 60, backoffPolicy: 'linear', backoffDelayMs: 1, timeoutMs: 15_000 };

interface World {
  clock: ManualClock;
  api: ApiServer;
  proxy: FaultProxy;
  /** Straight to the emulator: the test's own setup and reads, never faulted. */
  direct: KubeClient;
  urls: Record<Fn, string>;
  stop(): Promise<void>;
}

async function startWorld(requestTimeoutMs = TIMEOUT_MS): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-faults-'));
  const clock = new ManualClock('2030-01-01T00:00:30Z');
  const api = await startApiServer({ clock });
  const directConfig = join(dir, 'direct.kubeconfig');
  api.writeKubeconfig(directConfig);
  await installCrds(directConfig);
  const direct = await KubeClient.connect({ kubeconfig: directConfig, clock });
  const proxy = await startFaultProxy({ target: api });
  const proxied = join(dir, 'proxied.kubeconfig');
  proxy.writeKubeconfig(proxied);
  // One client for the three functions, as one process's functions share one (processKubeClient).
  const kube = await KubeClient.connect({ kubeconfig: proxied, clock, requestTimeoutMs });
  const servers: Server[] = [];
  const urls = {} as Record<Fn, string>;
  for (const [name, plan] of Object.entries(FUNCTIONS) as [Fn, Planner][]) {
    const handle = makeHandle(name, plan, { deps: { kube, clock, log: silentLogger } });
    const server = await serveHandle(handle, {
      port: await freePort(),
      logLevel: 'fatal',
      config: join(REPO_ROOT, 'functions', name),
    });
    servers.push(server);
    urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }
  return {
    clock,
    api,
    proxy,
    direct,
    urls,
    async stop() {
      await proxy.close();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

interface Delivery {
  fn: Fn;
  what: string;
  /** The function's answer to each attempt (0: no answer). */
  statuses: number[];
  /** How long each attempt took. */
  ms: number[];
  reply?: string;
}

/** Delivers as the Broker does; fails the test when the Broker would give up. */
async function send(w: World, log: Delivery[], fn: Fn, what: string, event: CloudEvent<unknown>) {
  const d: Delivery = { fn, what, statuses: [], ms: [] };
  log.push(d);
  let started = Date.now();
  const r = await deliver(event, w.urls[fn], REDELIVERY, new AbortController().signal, (_n, a) => {
    d.statuses.push(a.status);
    d.ms.push(Date.now() - started);
    started = Date.now();
  });
  if (!r.ok) throw new Error(`${fn} ${what}: not delivered after ${r.attempts} attempts: ${r.error}`);
  if (r.reply) d.reply = `${r.reply.type} ${r.reply.subject}`;
  return d;
}

const tick = () => pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: { tick: 'cairn' } });
const changed = (action: 'add' | 'update', o: KubeObject, w: World) =>
  resourceEvent(action, o as unknown as KubeObjectLike, { source: w.api.url });

/** Plays the Job controller and the kubelet: a Pod with the agent's result, then the Job's condition. */
async function finishJob(w: World, name: string, ok: boolean): Promise<KubeObject> {
  const job = await w.direct.get<KubeObject>('Job', 'default', name);
  if (!job) throw new Error(`no Job ${name}`);
  const labels = { ...job.metadata.labels, 'job-name': name };
  const podPath = '/api/v1/namespaces/default/pods';
  const created = await apiFetch(w.api, podPath, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${name}-pod`, namespace: 'default', labels },
      spec: { containers: [{ name: 'agent', image: 'cairn-agent' }] },
    }),
  });
  const pod = (await created.json()) as KubeObject;
  const now = w.clock.now().toISOString();
  const message = ok
    ? formatAgentResult({
        ok: true,
        command: 'backup',
        location: `s3://bkt/${name}.dump.zst`,
        key: `${name}.dump.zst`,
        manifestKey: `${name}.manifest.json`,
        sizeBytes: 10,
        rawBytes: 40,
        sha256: 'c'.repeat(64),
        compression: 'zstd',
        startTime: now,
        completionTime: now,
        durationMs: 4000,
      })
    : formatAgentResult({
        ok: false,
        command: 'backup',
        reason: 'SourceFailed',
        message: 'pg_dump: connection refused',
        exitCode: 1,
      });
  await apiPutStatus(w.api, `${podPath}/${name}-pod`, pod, {
    phase: ok ? 'Succeeded' : 'Failed',
    containerStatuses: [
      {
        name: 'agent',
        state: { terminated: { exitCode: ok ? 0 : 1, reason: ok ? 'Completed' : 'Error', message } },
      },
    ],
  });
  return apiPutStatus(w.api, `/apis/batch/v1/namespaces/default/jobs/${name}`, job, {
    startTime: now,
    ...(ok ? { completionTime: now, succeeded: 1 } : { failed: 1 }),
    conditions: [
      ok
        ? { type: 'Complete', status: 'True' }
        : { type: 'Failed', status: 'True', reason: 'BackupLimitExceeded', message: 'failed' },
    ],
  });
}

interface Snapshot {
  backups: Record<string, unknown>;
  jobs: Record<string, unknown>;
  policies: Record<string, unknown>;
}

/**
 * What the API server holds, without what differs between runs: resourceVersions, annotations,
 * and uids (each replaced by the name of the object that has it, so a reference to an object
 * that no longer exists shows).
 */
async function snapshot(w: World): Promise<Snapshot> {
  const backups = await w.direct.list<Backup>('Backup', 'default');
  const jobs = await w.direct.list<KubeObject>('Job', 'default');
  const policies = await w.direct.list<DatabaseBackup>('DatabaseBackup', 'default');
  const uids = new Map<string, string>();
  for (const o of [...backups, ...jobs, ...policies])
    if (o.metadata.uid) uids.set(o.metadata.uid, `uid of ${o.kind}/${o.metadata.name}`);
  const byName = <T extends KubeObject>(xs: T[], f: (x: T) => unknown) => {
    const entries = xs.map((x): [string, unknown] => [x.metadata.name, f(x)]);
    entries.sort(([a], [b]) => a.localeCompare(b));
    const text = JSON.stringify(Object.fromEntries(entries)).replace(
      /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g,
      (u) => uids.get(u) ?? 'uid of an object that is gone',
    );
    return JSON.parse(text) as Record<string, unknown>;
  };
  return {
    backups: byName(backups, (b) => ({
      labels: b.metadata.labels,
      finalizers: b.metadata.finalizers,
      spec: b.spec,
      status: b.status,
    })),
    jobs: byName(jobs, (j) => ({
      labels: j.metadata.labels,
      owners: j.metadata.ownerReferences,
      spec: j.spec,
    })),
    policies: byName(policies, (p) => ({ generation: p.metadata.generation, status: p.status })),
  };
}

interface Run {
  round1: Snapshot;
  /** Absent when the flow stopped after round 1. */
  round2?: Snapshot;
  deliveries: Delivery[];
}

/** The flow described at the top; the proxy's plan decides the faults. */
async function flow(w: World, rounds: 1 | 2 = 2): Promise<Run> {
  const log: Delivery[] = [];
  for (const name of ['pg', 's3']) {
    await w.direct.create('Secret', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: 'default' },
      stringData: { x: 'y' },
    });
  }
  for (const name of ['alpha', 'beta']) {
    const p = databaseBackup(name, { schedule: '*/5 * * * *' });
    await w.direct.create('DatabaseBackup', { ...p, metadata: { name, namespace: 'default' } });
  }
  // Round 1: the tick creates the due Backups, their add events launch Jobs, the Jobs complete.
  w.clock.set('2030-01-01T00:05:10Z');
  await send(w, log, 'schedule-evaluator', 'tick 00:05', tick());
  for (const b of await w.direct.list<Backup>('Backup', 'default')) {
    await send(w, log, 'job-launcher', `add ${b.metadata.name}`, changed('add', b, w));
  }
  w.clock.set('2030-01-01T00:06:00Z');
  for (const j of await w.direct.list<KubeObject>('Job', 'default')) {
    const done = await finishJob(w, j.metadata.name, true);
    await send(w, log, 'job-watcher', `update ${j.metadata.name}`, changed('update', done, w));
  }
  const round1 = await snapshot(w);
  if (rounds === 1) return { round1, deliveries: log };
  // Round 2: the next tick; the launcher's tick starts the Jobs; alpha's succeeds, beta's fails.
  w.clock.set('2030-01-01T00:10:10Z');
  await send(w, log, 'schedule-evaluator', 'tick 00:10', tick());
  await send(w, log, 'job-launcher', 'tick 00:10', tick());
  w.clock.set('2030-01-01T00:11:00Z');
  for (const name of ['alpha-203001010010', 'beta-203001010010']) {
    const done = await finishJob(w, name, name.startsWith('alpha'));
    await send(w, log, 'job-watcher', `update ${name}`, changed('update', done, w));
  }
  const round2 = await snapshot(w);
  return { round1, round2, deliveries: log };
}

/** After the flow, without faults: every function still answers, and a tick finds nothing to repair. */
async function tickChangesNothing(
  t: ExecutionContext,
  w: World,
  before: Snapshot | undefined,
): Promise<void> {
  w.proxy.setPlan(undefined);
  const log: Delivery[] = [];
  for (const fn of Object.keys(FUNCTIONS) as Fn[]) {
    const d = await send(w, log, fn, 'tick', tick());
    t.deepEqual(d.statuses, [204], `${fn} answers a tick at once after the faults`);
  }
  t.deepEqual(await snapshot(w), before, 'the tick after the flow found something left to repair');
}

let baseline: Promise<Run> | undefined;
/** The flow without any fault, once per test process. */
function noFaults(): Promise<Run> {
  baseline ??= (async () => {
    const w = await startWorld();
    try {
      return await flow(w);
    } finally {
      await w.stop();
    }
  })();
  return baseline;
}

/** Answers the Broker redelivers (5xx, 409, 429) — never 0 (no answer: a crash) nor a 4xx it drops. */
function retriedAnswer(status: number): boolean {
  return status !== 0 && status !== 404 && isRetryable(status);
}

/** The events the functions replied with (the Broker publishes each), in order. */
function replies(deliveries: Delivery[]): string[] {
  return deliveries.flatMap((d) => (d.reply ? [d.reply] : []));
}

/**
 * The Backups whose finishing status write was applied but whose answer never came (lost, hung).
 * The redelivery then finds the Backup finished and has nothing to reply: the one window in which
 * dev.cairn.backup.completed/failed is lost (closing it would need to know the Broker took the
 * reply).
 */
function finishedUnheard(p: FaultProxy): Set<string> {
  return new Set(
    p.log
      .filter(
        (e) =>
          (e.fault === 'lost' || e.fault === 'hang') &&
          e.req.resource === 'backups' &&
          e.req.subresource === 'status' &&
          /"phase":"(Completed|Failed)"/.test(e.body ?? ''),
      )
      .map((e) => e.req.name ?? ''),
  );
}

function checkRun(t: ExecutionContext, w: World, run: Run, expected: Run, label: string): void {
  for (const d of run.deliveries) {
    const bad = d.statuses.filter((s) => !(s >= 200 && s < 300) && !retriedAnswer(s));
    t.deepEqual(bad, [], `${label}: ${d.fn} ${d.what} answered ${d.statuses.join(',')}`);
  }
  t.deepEqual(run.round1, expected.round1, `${label}: round 1 differs from the run without faults`);
  if (run.round2)
    t.deepEqual(run.round2, expected.round2, `${label}: round 2 differs from the run without faults`);
  const unheard = finishedUnheard(w.proxy);
  // Both flows make the same deliveries in the same order (a round-1 run, the first of them).
  const expectedReplies = replies(expected.deliveries.slice(0, run.deliveries.length));
  t.deepEqual(
    replies(run.deliveries),
    expectedReplies.filter((r) => !unheard.has(r.slice(r.lastIndexOf('/') + 1))),
    `${label}: the CloudEvents replied differ`,
  );
  t.deepEqual(w.proxy.errors, [], `${label}: the proxy itself failed`);
  const twice = [...w.proxy.created].filter(([k, n]) => n > 1 && !k.startsWith('events/'));
  t.deepEqual(twice, [], `${label}: created more than once`);
}

// Serial: the tests time answers, and each starts an API server and three functions.
test.serial('without faults the flow completes alpha twice and fails beta the second time', async (t) => {
  const { round1, round2, deliveries } = await noFaults();
  if (!round2) throw new Error('the baseline runs both rounds');
  t.true(deliveries.every((d) => d.statuses.length === 1));
  t.deepEqual(Object.keys(round1.backups), ['alpha-203001010005', 'beta-203001010005']);
  t.deepEqual(Object.keys(round2.jobs), [
    'alpha-203001010005',
    'alpha-203001010010',
    'beta-203001010005',
    'beta-203001010010',
  ]);
  const phase = (name: string) => (round2.backups[name] as Backup).status?.phase;
  t.is(phase('alpha-203001010005'), 'Completed');
  t.is(phase('alpha-203001010010'), 'Completed');
  t.is(phase('beta-203001010010'), 'Failed');
  t.like((round2.policies.beta as DatabaseBackup).status, {
    lastBackupStatus: 'Failed',
    lastSuccessfulBackup: 'beta-203001010005',
  });
  t.is(replies(deliveries).length, 4, 'one completed or failed event per Backup');
});

function summary(p: FaultProxy): string {
  return [...p.injected]
    .map(([verb, m]) => `${verb} ${[...m].map(([f, n]) => `${f}×${n}`).join(' ')}`)
    .join('; ');
}

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test.serial(
    `random API faults (seed ${seed}): every answer is 2xx or retried, redeliveries end in the state without faults, nothing created twice`,
    async (t) => {
      const expected = await noFaults();
      const w = await startWorld();
      t.teardown(() => w.stop());
      // Hangs cost a timeout each: the hang test below has them. The rate keeps more than ten
      // faults in each seed's flow now that the flow sends fewer requests (issue 17; at 0.15 seed 3
      // drew 8 in 89).
      w.proxy.setPlan(
        randomPlan({
          seed,
          rate: 0.2,
          weights: { conflict: 2, internal: 3, throttle: 2, reset: 2, lost: 3, stale: 3 },
        }),
      );
      const run = await flow(w);
      t.log(`seed ${seed}: ${w.proxy.total()} faults in ${w.proxy.log.length} requests: ${summary(w.proxy)}`);
      t.true(w.proxy.total() > 10, 'faults were injected');
      t.true(
        run.deliveries.some((d) => d.statuses.length > 1),
        'some delivery needed a redelivery',
      );
      checkRun(t, w, run, expected, `seed ${seed}`);
      await tickChangesNothing(t, w, run.round2);
    },
  );
}

test.serial(
  'each request of round 1 in turn failing (a write applied and its answer lost, a read answered 500): the redelivery finishes it',
  async (t) => {
    const expected = await noFaults();
    const w0 = await startWorld();
    let requests: number;
    try {
      await flow(w0, 1);
      requests = w0.proxy.log.length;
    } finally {
      await w0.stop();
    }
    let injected = 0;
    const runOne = async (k: number) => {
      const w = await startWorld();
      try {
        w.proxy.setPlan((req) => (req.seq === k ? (isWrite(req) ? 'lost' : 'internal') : undefined));
        const run = await flow(w, 1);
        injected += w.proxy.total();
        const e = w.proxy.log[k - 1];
        checkRun(t, w, run, expected, `request ${k} (${e?.req.method} ${e?.req.path}: ${e?.fault})`);
      } finally {
        await w.stop();
      }
    };
    const parallel = 4;
    for (let k = 1; k <= requests; k += parallel) {
      await Promise.all(
        Array.from({ length: Math.min(parallel, requests - k + 1) }, (_, i) => runOne(k + i)),
      );
    }
    t.log(`${requests} runs, one fault each`);
    t.is(injected, requests);
  },
);

test.serial(
  'a hanging API call is bounded by the client timeout: the function answers 5xx in time, the redelivery finishes',
  async (t) => {
    const w = await startWorld(HANG_TIMEOUT_MS);
    t.teardown(() => w.stop());
    const rules: FaultRule[] = [
      // Answers that never come: the first read of a Backup, and the Job's create (forwarded, so
      // the Job exists: the redelivery meets AlreadyExists).
      { match: (r) => r.verb === 'get' && r.resource === 'backups', fault: 'hang' },
      { match: (r) => r.verb === 'create' && r.resource === 'jobs', fault: 'hang' },
    ];
    w.proxy.setPlan(scriptedPlan(rules));
    const expected = await noFaults();
    const run = await flow(w);
    t.is(w.proxy.injected.get('get')?.get('hang'), 1);
    t.is(w.proxy.injected.get('create')?.get('hang'), 1);
    const hung = run.deliveries.filter((d) => d.statuses.length > 1);
    t.true(hung.length >= 1, 'a hung request failed a delivery');
    for (const d of hung) {
      const [status = 0, ms = Number.POSITIVE_INFINITY] = [d.statuses[0], d.ms[0]];
      t.true(status >= 500, `${d.fn} ${d.what}: answered ${status}`);
      // The hang itself lasts until the proxy closes: an answer at all is the timeout's doing.
      t.true(
        ms >= HANG_TIMEOUT_MS && ms < HANG_TIMEOUT_MS + 5000,
        `${d.fn} ${d.what}: answered after ${ms} ms`,
      );
    }
    checkRun(t, w, run, expected, 'hang');
    await tickChangesNothing(t, w, run.round2);
  },
);

test.serial(
  'a stale resourceVersion on a status write gets a real 409, is decided again inside the delivery and ends correct',
  async (t) => {
    const w = await startWorld();
    t.teardown(() => w.stop());
    // Each status write's object is changed by someone else just before the write arrives, once per object.
    const seen = new Set<string>();
    w.proxy.setPlan((r) => {
      if (r.verb !== 'update' || r.subresource !== 'status' || seen.has(r.path)) return undefined;
      seen.add(r.path);
      return 'stale';
    });
    const expected = await noFaults();
    const run = await flow(w);
    const stale = w.proxy.injected.get('update:status')?.get('stale') ?? 0;
    t.true(stale >= 6, `${stale} stale writes`);
    t.is(w.proxy.answers.get('update:status 409'), stale, 'the emulator itself refused each stale write');
    const redelivered = run.deliveries.filter((d) => d.statuses.length > 1);
    t.deepEqual(
      redelivered,
      [],
      'each conflict was decided again inside the delivery, not left to the Broker',
    );
    checkRun(t, w, run, expected, 'stale');
    await tickChangesNothing(t, w, run.round2);
  },
);
