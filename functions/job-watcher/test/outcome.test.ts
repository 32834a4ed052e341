/**
 * Issue 14, item 2: what a Job and its Pods say about a run, as Kubernetes reports it — retries
 * (a failed Pod whose replacement is not made yet), the 1.31+ interim conditions
 * (SuccessCriteriaMet, FailureTarget: "the Job has reached a success state and will be marked as
 * Completed" / "is about to fail its execution", k8s.io/api batch/v1 types.go), kubelet's evictions
 * (status.reason Evicted, pkg/kubelet/eviction/helpers.go), sidecars beside the agent, and Pods
 * that never start (a missing Secret, an image that cannot be pulled).
 */
import test from 'ava';
import { formatAgentResult } from '../../../shared/agent-contract.ts';
import type { Backup } from '../../../shared/api/index.ts';
import { AGENT_CONTAINER, agentJob, destinationBinding } from '../../../shared/jobs.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup } from '../../../test/builders.ts';
import { decideEvent } from '../decide.ts';
import type { RunState } from '../gather.ts';
import { WAITING_GRACE_SECONDS } from '../outcome.ts';

const ref = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };
const START = '2025-03-20T01:00:01Z';
const at = (seconds: number) => new Date(Date.parse(START) + seconds * 1000);

function job(status: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'b1', namespace: 'default', creationTimestamp: START },
    spec: { backoffLimit: 2, activeDeadlineSeconds: 3600 },
    status: { startTime: START, ...status },
  };
}

interface PodOpts {
  phase: string;
  name?: string;
  created?: number;
  reason?: string;
  message?: string;
  containers?: Record<string, unknown>[];
}
function pod(o: PodOpts): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name ?? 'b1-x',
      namespace: 'default',
      // As client-node's CoreV1Api hands it back: a Date.
      creationTimestamp: at(o.created ?? 0) as unknown as string,
    },
    status: {
      phase: o.phase,
      ...(o.reason ? { reason: o.reason } : {}),
      ...(o.message ? { message: o.message } : {}),
      ...(o.containers ? { containerStatuses: o.containers } : {}),
    },
  };
}
const agent = (state: Record<string, unknown>) => ({ name: AGENT_CONTAINER, state });

const ok = formatAgentResult({
  ok: true,
  command: 'backup',
  location: 's3://bkt/pg/1.dump.zst',
  key: 'pg/1.dump.zst',
  manifestKey: 'pg/1.manifest.json',
  sizeBytes: 2048,
  rawBytes: 8192,
  sha256: 'a'.repeat(64),
  compression: 'zstd',
  startTime: '2025-03-20T01:00:02.250Z',
  completionTime: '2025-03-20T01:00:08.750Z',
  durationMs: 6500,
});
const refused = formatAgentResult({
  ok: false,
  command: 'backup',
  reason: 'SourceFailed',
  message: 'pg_dump: connection refused',
  exitCode: 3,
});

function run(phase: 'Pending' | 'Running', j: KubeObject | undefined, pods: KubeObject[]): RunState {
  return {
    kind: 'Backup',
    run: backup('b1', ref, { phase, jobName: 'b1' }, { creationTimestamp: START }),
    job: j,
    pods,
    jobDeleted: false,
  };
}
const statusOf = (plan: Action[]) =>
  plan.find((a): a is Extract<Action, { type: 'status' }> => a.type === 'status' && a.kind === 'Backup')?.set;
const events = (plan: Action[]) =>
  plan.flatMap((a) => (a.type === 'event' ? [`${a.eventType}:${a.reason}`] : []));
const deletes = (plan: Action[]) => plan.flatMap((a) => (a.type === 'delete' ? [`${a.kind}/${a.name}`] : []));

test('between retries (the failed Pod gone, its replacement not made) a Running Backup stays Running, and says BackupStarted once', (t) => {
  const failedOnce = pod({
    phase: 'Failed',
    containers: [agent({ terminated: { exitCode: 3, message: refused } })],
  });
  const between = decideEvent({ run: run('Running', job({ active: 0, failed: 1 }), [failedOnce]) }, at(20));
  t.deepEqual(between.plan, [], 'no write: not back to Pending');
  const again = decideEvent(
    {
      run: run('Running', job({ active: 1, failed: 1 }), [
        failedOnce,
        pod({ phase: 'Running', name: 'b1-y', created: 15 }),
      ]),
    },
    at(30),
  );
  t.deepEqual(events(again.plan), [], 'no second BackupStarted');
});

test('SuccessCriteriaMet (1.31+, before Complete) completes the Backup from the agent result', (t) => {
  const j = job({
    succeeded: 1,
    conditions: [{ type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached' }],
  });
  const d = decideEvent(
    {
      run: run('Running', j, [
        pod({ phase: 'Succeeded', containers: [agent({ terminated: { exitCode: 0, message: ok } })] }),
      ]),
    },
    at(10),
  );
  t.like(statusOf(d.plan), {
    phase: 'Completed',
    sha256: 'a'.repeat(64),
    completionTime: '2025-03-20T01:00:08Z',
  });
  t.is(d.reply?.type, 'dev.cairn.backup.completed');
});

test('FailureTarget (1.31+, before Failed) fails the Backup with the agent reason and the condition message', (t) => {
  const j = job({
    failed: 3,
    conditions: [
      {
        type: 'FailureTarget',
        status: 'True',
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
      },
    ],
  });
  const pods = [0, 10, 20].map((c, i) =>
    pod({
      phase: 'Failed',
      name: `b1-${i}`,
      created: c,
      containers: [agent({ terminated: { exitCode: 3, reason: 'Error', message: refused } })],
    }),
  );
  const d = decideEvent({ run: run('Running', j, pods) }, at(40));
  t.like(statusOf(d.plan), { phase: 'Failed', reason: 'SourceFailed' });
  t.regex(String(statusOf(d.plan)?.message), /backoff limit; SourceFailed: pg_dump: connection refused/);
  t.deepEqual(events(d.plan), ['Warning:BackupFailed']);
});

test("an evicted Pod's reason and kubelet's message are kept", (t) => {
  const evicted = pod({
    phase: 'Failed',
    reason: 'Evicted',
    message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 12Mi. ',
    containers: [agent({ terminated: { exitCode: 137, reason: 'ContainerStatusUnknown' } })],
  });
  const j = job({
    failed: 1,
    conditions: [
      {
        type: 'FailureTarget',
        status: 'True',
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
      },
      {
        type: 'Failed',
        status: 'True',
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
      },
    ],
  });
  const d = decideEvent({ run: run('Running', j, [evicted]) }, at(40));
  t.like(statusOf(d.plan), { phase: 'Failed', reason: 'Evicted' });
  t.regex(String(statusOf(d.plan)?.message), /Evicted: The node was low on resource: memory/);
});

test('the agent container is found by name, not as the first container status', (t) => {
  const j = job({ succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] });
  const withSidecar = pod({
    phase: 'Succeeded',
    containers: [
      { name: 'istio-proxy', state: { terminated: { exitCode: 0, reason: 'Completed', message: 'bye' } } },
      agent({ terminated: { exitCode: 0, reason: 'Completed', message: ok } }),
    ],
  });
  const d = decideEvent({ run: run('Running', j, [withSidecar]) }, at(10));
  t.like(statusOf(d.plan), { phase: 'Completed', key: 'pg/1.dump.zst' });
});

const waiting = (reason: string, message: string) =>
  pod({ phase: 'Pending', containers: [agent({ waiting: { reason, message } })] });

for (const [reason, message] of [
  ['CreateContainerConfigError', 'secret "pg" not found'],
  ['ErrImagePull', 'failed to pull and unpack image "registry.example/cairn-agent:0.1.0": not found'],
  ['ImagePullBackOff', 'Back-off pulling image "registry.example/cairn-agent:0.1.0"'],
] as const) {
  test(`a Pod stuck in ${reason} fails the run with kubelet's reason and message after ${WAITING_GRACE_SECONDS}s, not before, and stops its Job`, (t) => {
    const state = () => ({ run: run('Pending', job({ active: 1 }), [waiting(reason, message)]) });
    t.deepEqual(decideEvent(state(), at(WAITING_GRACE_SECONDS - 1)).plan, [], 'kube retries it: wait');
    const d = decideEvent(state(), at(WAITING_GRACE_SECONDS + 1));
    t.like(statusOf(d.plan), { phase: 'Failed', reason });
    t.true(String(statusOf(d.plan)?.message).includes(message));
    t.deepEqual(events(d.plan), ['Warning:BackupFailed']);
    t.deepEqual(
      deletes(d.plan),
      ['Job/b1'],
      'its Pod must not start later and write an artifact nobody records',
    );
    t.is(d.reply?.type, 'dev.cairn.backup.failed');
  });
}

test('a Pod whose image name is invalid fails the run at once: kubelet never retries it', (t) => {
  const d = decideEvent(
    {
      run: run('Pending', job({ active: 1 }), [
        waiting(
          'InvalidImageName',
          'Failed to apply default image tag "Bad Image": invalid reference format',
        ),
      ]),
    },
    at(5),
  );
  t.like(statusOf(d.plan), { phase: 'Failed', reason: 'InvalidImageName' });
  t.deepEqual(deletes(d.plan), ['Job/b1']);
});

test('a finished run stays as it is, whatever its Job says later', (t) => {
  const done: Backup = backup('b1', ref, { phase: 'Completed', jobName: 'b1' });
  const d = decideEvent(
    { run: { ...run('Running', job({ active: 1 }), [waiting('InvalidImageName', 'x')]), run: done } },
    at(5),
  );
  t.deepEqual(d.plan, []);
});

test('a run that failed without the agent reporting (evicted, killed) records where it may have written, so its deletion deletes that too', (t) => {
  const dest = { type: 's3' as const, bucket: 'bkt', path: 'db', secretName: 's3' };
  const b = backup(
    'b1',
    ref,
    { phase: 'Running', jobName: 'b1' },
    {},
    { scheduledTime: '2025-03-20T01:00:00Z' },
  );
  const base = agentJob({
    name: 'b1',
    namespace: 'default',
    owner: b,
    ownerKind: 'Backup',
    labels: {},
    options: {
      command: 'backup',
      source: { kind: 'postgres', host: 'pg', port: 5432, user: 'u', database: 'app', format: 'custom' },
      destination: destinationBinding(dest).agent,
      policy: 'pg-nightly',
      scheduledTime: '2025-03-20T01:00:00Z',
      compression: 'zstd',
    },
    binding: destinationBinding(dest).binding,
    backoffLimit: 0,
    activeDeadlineSeconds: 3600,
  });
  const failedJob = {
    ...base,
    status: {
      startTime: START,
      failed: 1,
      conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'limit' }],
    },
  };
  const killed = pod({
    phase: 'Failed',
    containers: [agent({ terminated: { exitCode: 137, reason: 'OOMKilled' } })],
  });
  const d = decideEvent(
    { run: { kind: 'Backup', run: b, job: failedJob, pods: [killed], jobDeleted: false } },
    at(60),
  );
  t.like(statusOf(d.plan), {
    phase: 'Failed',
    key: 'db/pg-nightly/20250320T010000Z.dump.zst',
    manifestKey: 'db/pg-nightly/20250320T010000Z.manifest.json',
  });
  // The agent reporting its failure has removed what it wrote: nothing to record.
  const reported = pod({
    phase: 'Failed',
    containers: [agent({ terminated: { exitCode: 3, message: refused } })],
  });
  const clean = decideEvent(
    { run: { kind: 'Backup', run: b, job: failedJob, pods: [reported], jobDeleted: false } },
    at(60),
  );
  t.is(statusOf(clean.plan)?.key, undefined);
});
