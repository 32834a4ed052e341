import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Job,
} from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import {
  defaultImageRules,
  type ImageRule,
  type JobRunner,
  startJobRunner,
  TRACKING_FINALIZER,
} from '../../local/jobs/index.ts';
import { REPO_ROOT } from '../../local/runtime.ts';
import { parseAgentResult } from '../../shared/agent-contract.ts';
import { agentJob, destinationBinding, mergeBindings, sourceVolumesBinding } from '../../shared/jobs.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { silentLogger } from '../../shared/log.ts';
import { startEmulator, tempDir, until } from './_event-helpers.ts';

const NS = 'prod';
const SH = 'local/busybox:1';
/** A test image: `sh -c <args[0]> sh <args[1..]>`. */
const images: ImageRule[] = [{ match: 'local/busybox', entrypoint: ['sh', '-c'] }];

type Json = Record<string, unknown>;

async function setup(t: ExecutionContext, opts: { runner?: boolean; images?: ImageRule[] } = {}) {
  const emu = await startEmulator({ crds: false });
  const stateDir = await tempDir('cairn-jobs-');
  const core = emu.kc.makeApiClient(CoreV1Api);
  const batch = emu.kc.makeApiClient(BatchV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  const runners: JobRunner[] = [];
  const start = async () => {
    const r = await startJobRunner({
      kube: emu.kc,
      stateDir,
      images: opts.images ?? images,
      backoff: { baseMs: 50, maxMs: 200 },
      configRetryMs: 50,
      maxGraceMs: 500,
      log: silentLogger,
    });
    runners.push(r);
    return r;
  };
  t.teardown(async () => {
    for (const r of runners) await r.close();
    await emu.close();
  });
  const runner = opts.runner === false ? undefined : await start();
  return { kc: emu.kc, core, batch, stateDir, runner, start };
}

function job(name: string, script: string, spec: Json = {}, container: Json = {}, podSpec: Json = {}): V1Job {
  return {
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'cairn' } },
    spec: {
      backoffLimit: 0,
      ...spec,
      template: {
        metadata: { labels: { app: 'test' } },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: SH, args: [script], ...container }],
          ...podSpec,
        },
      },
    },
  } as V1Job;
}

async function jobJson(
  kc: KubeConfig,
  name: string,
): Promise<Json & { status?: Json & { conditions?: Json[] } }> {
  const j = await kc.makeApiClient(BatchV1Api).readNamespacedJob({ namespace: NS, name });
  return JSON.parse(JSON.stringify(j));
}

async function podsOf(
  kc: KubeConfig,
  name: string,
): Promise<(Json & { metadata: Json; status: Json & { containerStatuses?: Json[] } })[]> {
  const l = await kc
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace: NS, labelSelector: `job-name=${name}` });
  return JSON.parse(JSON.stringify(l.items));
}

function finished(kc: KubeConfig, name: string, ms = 90_000) {
  return until(
    async () => {
      const j = await jobJson(kc, name);
      const done = j.status?.conditions?.some(
        (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
      );
      return done ? j : undefined;
    },
    `Job ${name} to finish`,
    ms,
  );
}

function terminated(
  pod: { status: { containerStatuses?: Json[] } } | undefined,
): Json & { message?: string } {
  const state = pod?.status.containerStatuses?.[0]?.state as
    | { terminated?: Json & { message?: string } }
    | undefined;
  if (!state?.terminated) throw new Error(`no terminated state in ${JSON.stringify(pod?.status)}`);
  return state.terminated;
}

const condTypes = (j: { status?: { conditions?: Json[] } }) =>
  (j.status?.conditions ?? []).map((c) => `${String(c.type)}=${String(c.status)}/${String(c.reason)}`);

/** The first container's waiting state of the Job's first Pod, once `ok` says it is the one. */
function waitingOf(
  kc: KubeConfig,
  name: string,
  ok: (w: Json & { reason?: string; message?: string }) => boolean,
) {
  return until(
    async () => {
      const [p] = await podsOf(kc, name);
      const w = (p?.status.containerStatuses?.[0] as { state?: { waiting?: Json } } | undefined)?.state
        ?.waiting as (Json & { reason?: string; message?: string }) | undefined;
      return w && ok(w) ? { pod: p!, waiting: w } : undefined;
    },
    `a waiting state of ${name}'s pod`,
    60_000,
  );
}

/** `reason: message` of the Events about a Pod, oldest first. */
async function podEvents(kc: KubeConfig, pod: string): Promise<string[]> {
  const list = await kc
    .makeApiClient(CoreV1Api)
    .listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${pod}` });
  return list.items.map((e) => `${e.type} ${e.reason}: ${e.message}`);
}

test('a Job whose command succeeds ends Complete, its Pod Succeeded, as the Job controller leaves them', async (t) => {
  const { kc, batch, stateDir } = await setup(t);
  const created = await batch.createNamespacedJob({
    namespace: NS,
    body: job('ok', 'echo hello from $HOSTNAME'),
  });
  const j = await finished(kc, 'ok');
  t.deepEqual(condTypes(j), [
    'SuccessCriteriaMet=True/CompletionsReached',
    'Complete=True/CompletionsReached',
  ]);
  t.like(j.status, { succeeded: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} });
  t.is(j.status?.active, undefined);
  t.is(j.status?.failed, undefined);
  t.truthy(j.status?.startTime);
  t.truthy(j.status?.completionTime);
  const [pod, ...more] = await podsOf(kc, 'ok');
  t.is(more.length, 0);
  const uid = created.metadata!.uid!;
  t.regex(String(pod!.metadata.name), /^ok-[a-z0-9]{5}$/);
  t.like(pod!.metadata, {
    labels: {
      app: 'test',
      'job-name': 'ok',
      'controller-uid': uid,
      'batch.kubernetes.io/job-name': 'ok',
      'batch.kubernetes.io/controller-uid': uid,
    },
    ownerReferences: [
      { apiVersion: 'batch/v1', kind: 'Job', name: 'ok', uid, controller: true, blockOwnerDeletion: true },
    ],
  });
  t.falsy(
    (pod!.metadata.finalizers as string[] | undefined)?.includes(TRACKING_FINALIZER),
    'counted: finalizer removed',
  );
  t.is(pod!.status.phase, 'Succeeded');
  t.like(pod!.status.containerStatuses?.[0], {
    name: 'main',
    state: { terminated: { exitCode: 0, reason: 'Completed' } },
  });
  const log = await readFile(join(stateDir, 'logs', NS, `${String(pod!.metadata.name)}.log`), 'utf8');
  t.is(log, `hello from ${String(pod!.metadata.name)}\n`);
});

test('a secretKeyRef env arrives, and the termination message is captured from the rewritten path', async (t) => {
  const { kc, core, batch } = await setup(t);
  await core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'db' }, data: { password: Buffer.from('s3cret!').toString('base64') } },
  });
  await core.createNamespacedConfigMap({
    namespace: NS,
    body: { metadata: { name: 'cfg' }, data: { mode: 'fast' } },
  });
  await batch.createNamespacedJob({
    namespace: NS,
    body: job(
      'env',
      'printf \'{"password":"%s","mode":"%s","greeting":"%s"}\' "$PASSWORD" "$MODE" "$GREETING" > "$1"',
      {},
      {
        args: [
          'printf \'{"password":"%s","mode":"%s","greeting":"%s"}\' "$PASSWORD" "$MODE" "$GREETING" > "$1"',
          'sh',
          '/dev/termination-log',
        ],
        env: [
          { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
          { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
          { name: 'NAME', value: 'cairn' },
          { name: 'GREETING', value: 'hi $(NAME), $$(NAME)' },
        ],
      },
    ),
  });
  await finished(kc, 'env');
  const [pod] = await podsOf(kc, 'env');
  const term = terminated(pod);
  t.deepEqual(JSON.parse(String(term.message)), {
    password: 's3cret!',
    mode: 'fast',
    greeting: 'hi cairn, $(NAME)',
  });
});

test('a failing command is retried with new Pods up to backoffLimit, then the Job fails with BackoffLimitExceeded', async (t) => {
  const { kc, batch } = await setup(t);
  await batch.createNamespacedJob({
    namespace: NS,
    body: job('fails', 'echo boom >&2; exit 3', { backoffLimit: 2 }),
  });
  const j = await finished(kc, 'fails');
  t.deepEqual(condTypes(j), ['FailureTarget=True/BackoffLimitExceeded', 'Failed=True/BackoffLimitExceeded']);
  t.is(j.status?.conditions?.[1]?.message, 'Job has reached the specified backoff limit');
  t.like(j.status, { failed: 3, ready: 0 });
  t.is(j.status?.succeeded, undefined);
  t.is(j.status?.completionTime, undefined);
  const pods = await podsOf(kc, 'fails');
  t.is(pods.length, 3);
  for (const p of pods) {
    t.is(p.status.phase, 'Failed');
    t.like(p.status.containerStatuses?.[0], { state: { terminated: { exitCode: 3, reason: 'Error' } } });
  }
});

test('FallbackToLogsOnError puts the end of the log in the termination message of a failure', async (t) => {
  const { kc, batch } = await setup(t);
  const script = 'i=0; while [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done; exit 1';
  await batch.createNamespacedJob({
    namespace: NS,
    body: job('fallback', script, {}, { terminationMessagePolicy: 'FallbackToLogsOnError' }),
  });
  await finished(kc, 'fallback');
  const [pod] = await podsOf(kc, 'fallback');
  const message = String(terminated(pod).message);
  const lines = message.split('\n');
  t.is(lines.length, 80);
  t.is(lines[0], 'line 20');
  t.is(lines.at(-1), 'line 99');
});

test('activeDeadlineSeconds kills the running command and fails the Job with DeadlineExceeded', async (t) => {
  const { kc, batch, stateDir } = await setup(t);
  const marker = join(stateDir, 'after-sleep');
  await batch.createNamespacedJob({
    namespace: NS,
    // Far longer than finished() waits: the Job can only finish by being killed at its deadline.
    body: job('slow', `sleep 600; touch ${marker}`, { activeDeadlineSeconds: 1, backoffLimit: 3 }),
  });
  const j = await finished(kc, 'slow');
  t.deepEqual(condTypes(j), ['FailureTarget=True/DeadlineExceeded', 'Failed=True/DeadlineExceeded']);
  t.is(j.status?.conditions?.[1]?.message, 'Job was active longer than specified deadline');
  t.like(j.status, { failed: 1 });
  // The Job controller deletes the pods it killed.
  await until(
    async () => ((await podsOf(kc, 'slow')).length === 0 ? true : undefined),
    'the killed pod to be deleted',
  );
  t.false(existsSync(marker));
});

test('deleting a Job (with propagation) kills its running process', async (t) => {
  const { kc, batch, stateDir } = await setup(t);
  const marker = join(stateDir, 'after-sleep');
  await batch.createNamespacedJob({
    namespace: NS,
    body: job('doomed', `echo started; sleep 20; touch ${marker}`),
  });
  await until(async () => {
    const [p] = await podsOf(kc, 'doomed');
    return p?.status.phase === 'Running' ? p : undefined;
  }, 'the pod to run');
  await batch.deleteNamespacedJob({ namespace: NS, name: 'doomed', propagationPolicy: 'Background' });
  await until(async () => ((await podsOf(kc, 'doomed')).length === 0 ? true : undefined), 'the pod to go');
  await new Promise((r) => setTimeout(r, 300));
  t.false(existsSync(marker));
});

test('a missing Secret holds the Pod in CreateContainerConfigError until the Secret exists', async (t) => {
  const { kc, core, batch } = await setup(t);
  await batch.createNamespacedJob({
    namespace: NS,
    body: job(
      'waits',
      'exit 0',
      {},
      { env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'later', key: 'k' } } }] },
    ),
  });
  const waiting = await until(async () => {
    const [p] = await podsOf(kc, 'waits');
    const w = (p?.status.containerStatuses?.[0] as { state?: { waiting?: Json } } | undefined)?.state
      ?.waiting;
    return w?.reason === 'CreateContainerConfigError' ? { p, w } : undefined;
  }, 'CreateContainerConfigError');
  t.is(waiting.p!.status.phase, 'Pending');
  t.is(waiting.w.message, 'secret "later" not found');
  // kubelet's Event for it: reason Failed, "Error: " and the message (kuberuntime startContainer).
  const podName = String(waiting.p!.metadata.name);
  await until(
    async () =>
      (await podEvents(kc, podName)).includes('Warning Failed: Error: secret "later" not found')
        ? true
        : undefined,
    'the Failed event',
  );
  await core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'later' }, data: { other: 'eA==' } },
  });
  await until(async () => {
    const [p] = await podsOf(kc, 'waits');
    const w = (p?.status.containerStatuses?.[0] as { state?: { waiting?: Json } } | undefined)?.state
      ?.waiting;
    return w?.message === "couldn't find key k in Secret prod/later" ? true : undefined;
  }, 'the missing key to be reported');
  await core.replaceNamespacedSecret({
    namespace: NS,
    name: 'later',
    body: { metadata: { name: 'later' }, data: { k: 'eA==' } },
  });
  const j = await finished(kc, 'waits');
  t.deepEqual(condTypes(j).at(-1), 'Complete=True/CompletionsReached');
});

test('a PVC volume is a host folder, and paths under its mountPath are rewritten; a missing PVC leaves the Pod unschedulable', async (t) => {
  const { kc, core, batch, stateDir } = await setup(t);
  await batch.createNamespacedJob({
    namespace: NS,
    body: job(
      'writes',
      'echo data > "$1"; test "$OUT_DIR" != /backup && test -d "$OUT_DIR"',
      {},
      {
        args: ['echo data > "$1"; test "$OUT_DIR" != /backup && test -d "$OUT_DIR"', 'sh', '/backup/out.txt'],
        env: [{ name: 'OUT_DIR', value: '/backup' }],
        volumeMounts: [{ name: 'store', mountPath: '/backup' }],
      },
      { volumes: [{ name: 'store', persistentVolumeClaim: { claimName: 'backups' } }] },
    ),
  });
  const pending = await until(async () => {
    const [p] = await podsOf(kc, 'writes');
    const c = (p?.status.conditions as Json[] | undefined)?.find((x) => x.type === 'PodScheduled');
    return c?.status === 'False' ? c : undefined;
  }, 'the pod to be unschedulable');
  t.like(pending, {
    reason: 'Unschedulable',
    message: '0/1 nodes are available: persistentvolumeclaim "backups" not found.',
  });
  await core.createNamespacedPersistentVolumeClaim({
    namespace: NS,
    body: {
      metadata: { name: 'backups' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
  });
  const j = await finished(kc, 'writes');
  t.deepEqual(condTypes(j).at(-1), 'Complete=True/CompletionsReached');
  t.is(await readFile(join(stateDir, 'volumes', NS, 'backups', 'out.txt'), 'utf8'), 'data\n');
});

test('after a restart, a finished Job is not run again and a Pod left Running is marked NodeLost and retried', async (t) => {
  const { kc, core, batch, start } = await setup(t, { runner: false });
  // A Job that finished under an earlier runner.
  const first = await start();
  await batch.createNamespacedJob({ namespace: NS, body: job('done-before', 'exit 0') });
  await finished(kc, 'done-before');
  await first.close();
  // A Job whose pod was running when the earlier runner died.
  const created = await batch.createNamespacedJob({
    namespace: NS,
    body: job('interrupted', 'exit 0', { backoffLimit: 1 }),
  });
  const uid = created.metadata!.uid!;
  const labels = {
    'batch.kubernetes.io/controller-uid': uid,
    'batch.kubernetes.io/job-name': 'interrupted',
    'controller-uid': uid,
    'job-name': 'interrupted',
  };
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: {
        name: 'interrupted-zzzzz',
        labels,
        finalizers: [TRACKING_FINALIZER],
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: 'interrupted',
            uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        restartPolicy: 'Never',
        nodeName: 'cairn-local',
        containers: [{ name: 'main', image: SH, args: ['exit 0'] }],
      },
    },
  });
  await core.patchNamespacedPodStatus({
    namespace: NS,
    name: 'interrupted-zzzzz',
    body: [{ op: 'replace', path: '/status/phase', value: 'Running' }],
  });
  await start();
  const j = await finished(kc, 'interrupted');
  t.deepEqual(condTypes(j).at(-1), 'Complete=True/CompletionsReached');
  t.like(j.status, { failed: 1, succeeded: 1 });
  const pods = await podsOf(kc, 'interrupted');
  const lost = pods.find((p) => p.metadata.name === 'interrupted-zzzzz');
  t.like(lost?.status, { phase: 'Failed', reason: 'NodeLost' });
  t.is(pods.length, 2);
  t.is((await podsOf(kc, 'done-before')).length, 1, 'the finished Job got no new pod');
});

test('the real agent runs in a Job built by job-launcher: a tar backup from a PVC to a PVC, reported in the termination message', async (t) => {
  const emu = await startEmulator();
  const stateDir = await tempDir('cairn-agent-job-');
  const core = emu.kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  const runner = await startJobRunner({ kube: emu.kc, stateDir, backoff: { baseMs: 50 }, log: silentLogger });
  t.teardown(async () => {
    await runner.close();
    await emu.close();
  });
  for (const claim of ['data', 'store']) {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: NS,
      body: {
        metadata: { name: claim },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
  }
  await mkdir(join(stateDir, 'volumes', NS, 'data', 'sub'), { recursive: true });
  await writeFile(join(stateDir, 'volumes', NS, 'data', 'sub', 'file.txt'), 'hello cairn\n');
  const backup = (await emu.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: 'backup.cairn.dev',
    version: 'v1alpha1',
    namespace: NS,
    plural: 'backups',
    body: {
      apiVersion: 'backup.cairn.dev/v1alpha1',
      kind: 'Backup',
      metadata: { name: 'files-202503270100' },
      spec: { policyRef: { kind: 'BackupPolicy', name: 'files' } },
    },
  })) as KubeObject;
  const { paths, binding: src } = sourceVolumesBinding(['data']);
  const { agent, binding: dest } = destinationBinding({ type: 'pvc', claimName: 'store', path: 'files' });
  const body = agentJob({
    name: 'files-202503270100',
    namespace: NS,
    owner: backup,
    ownerKind: 'Backup',
    labels: { 'app.kubernetes.io/managed-by': 'cairn' },
    options: {
      command: 'backup',
      source: { kind: 'tar', paths },
      destination: agent,
      policy: 'files',
      scheduledTime: '2025-03-27T01:00:00Z',
      backupName: 'files-202503270100',
      compression: 'gzip',
    },
    binding: mergeBindings(src, dest),
    backoffLimit: 0,
    activeDeadlineSeconds: 60,
  });
  await emu.kc.makeApiClient(BatchV1Api).createNamespacedJob({ namespace: NS, body: body as V1Job });
  const j = await finished(emu.kc, 'files-202503270100');
  const [pod] = await podsOf(emu.kc, 'files-202503270100');
  const term = terminated(pod);
  t.deepEqual(condTypes(j).at(-1), 'Complete=True/CompletionsReached', String(term.message));
  const result = parseAgentResult(String(term.message));
  t.true(result.ok);
  if (!result.ok) return;
  t.is(result.compression, 'gzip');
  // The artifact is on the destination PVC's host folder, at the key the agent reported.
  const artifact = join(stateDir, 'volumes', NS, 'store', result.key);
  t.true(existsSync(artifact), `${artifact} from ${JSON.stringify(result)}`);
  t.is((await stat(artifact)).size, result.sizeBytes);
});

test('a write to a read-only mount is reported in the pod log (no mount namespace can refuse it locally)', async (t) => {
  const { kc, core, batch, stateDir } = await setup(t);
  await core.createNamespacedPersistentVolumeClaim({
    namespace: NS,
    body: {
      metadata: { name: 'src' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
  });
  const script = 'echo oops > "$1"';
  await batch.createNamespacedJob({
    namespace: NS,
    body: job(
      'ro',
      script,
      {},
      { args: [script, 'sh', '/src/x'], volumeMounts: [{ name: 'src', mountPath: '/src', readOnly: true }] },
      { volumes: [{ name: 'src', persistentVolumeClaim: { claimName: 'src' } }] },
    ),
  });
  await finished(kc, 'ro');
  const [pod] = await podsOf(kc, 'ro');
  const log = await readFile(join(stateDir, 'logs', NS, `${String(pod!.metadata.name)}.log`), 'utf8');
  t.regex(log, /\[cairn-local\] container main changed the read-only mount \/src/);
});

test('an image not in the image map waits as an image that cannot be pulled: ErrImagePull, then ImagePullBackOff', async (t) => {
  const { kc, batch } = await setup(t);
  await batch.createNamespacedJob({
    namespace: NS,
    body: job('alien', 'true', {}, { image: 'docker.io/library/nginx:1' }),
  });
  const pulled = await waitingOf(kc, 'alien', (w) => w.reason === 'ErrImagePull');
  t.is(pulled.pod.status.phase, 'Pending');
  t.regex(String(pulled.waiting.message), /failed to pull and unpack image "docker\.io\/library\/nginx:1"/);
  const backOff = await waitingOf(kc, 'alien', (w) => w.reason === 'ImagePullBackOff');
  t.is(backOff.waiting.message, 'Back-off pulling image "docker.io/library/nginx:1"');
  t.is(backOff.pod.status.phase, 'Pending', 'the pod waits, as on a node; the Job is still active');
  const events = await podEvents(kc, String(backOff.pod.metadata.name));
  for (const want of [
    /^Warning Failed: Failed to pull image "docker\.io\/library\/nginx:1": /,
    /^Warning Failed: Error: ErrImagePull$/,
    /^Normal BackOff: Back-off pulling image "docker\.io\/library\/nginx:1"$/,
    /^Warning Failed: Error: ImagePullBackOff$/,
  ])
    t.true(
      events.some((e) => want.test(e)),
      `${want} in ${events.join(' | ')}`,
    );
  t.is((await jobJson(kc, 'alien')).status?.active, 1);
});

test("an image whose name only ends like the agent's runs nothing", async (t) => {
  const { kc, batch, stateDir } = await setup(t, { images: defaultImageRules(REPO_ROOT) });
  const marker = join(stateDir, 'ran');
  for (const [name, image] of [
    ['lookalike', 'evil.example/notcairn-agent:1'],
    ['suffix', 'evil.example/cairn-agent-tools:1'],
  ] as const) {
    await batch.createNamespacedJob({
      namespace: NS,
      body: job(name, '', {}, { image, args: ['backup'], command: ['sh', '-c', `touch ${marker}`] }),
    });
    const w = await waitingOf(kc, name, (x) => x.reason === 'ErrImagePull');
    t.regex(String(w.waiting.message), /failed to pull and unpack image/, image);
  }
  t.false(existsSync(marker));
});

test('the agent image runs only the agent: a command of its own is not found, and nothing runs on the host', async (t) => {
  const { kc, batch, stateDir } = await setup(t, { images: defaultImageRules(REPO_ROOT) });
  const marker = join(stateDir, 'ran');
  await batch.createNamespacedJob({
    namespace: NS,
    body: job(
      'shell',
      '',
      {},
      { image: 'ghcr.io/cairn-dev/cairn-agent:0.1.0', command: ['sh', '-c', `touch ${marker}`], args: [] },
    ),
  });
  const j = await finished(kc, 'shell');
  t.deepEqual(condTypes(j).at(-1), 'Failed=True/BackoffLimitExceeded');
  const [pod] = await podsOf(kc, 'shell');
  t.like(terminated(pod), {
    exitCode: 128,
    reason: 'StartError',
    message: 'exec: "sh": executable file not found in $PATH',
  });
  t.false(existsSync(marker));
});

test('subPath cannot climb out of its volume: .., absolute and symlinked paths are refused as kubelet refuses them', async (t) => {
  const { kc, core, batch, stateDir } = await setup(t);
  await core.createNamespacedPersistentVolumeClaim({
    namespace: NS,
    body: {
      metadata: { name: 'store' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
  });
  const volume = join(stateDir, 'volumes', NS, 'store');
  const outside = join(stateDir, 'outside');
  await mkdir(volume, { recursive: true });
  await mkdir(outside, { recursive: true });
  await symlink(outside, join(volume, 'link'));
  const write = 'echo pwned > "$1"';
  const withSubPath = (name: string, subPath: string) =>
    batch.createNamespacedJob({
      namespace: NS,
      body: job(
        name,
        write,
        {},
        { args: [write, 'sh', '/data/x'], volumeMounts: [{ name: 'store', mountPath: '/data', subPath }] },
        { volumes: [{ name: 'store', persistentVolumeClaim: { claimName: 'store' } }] },
      ),
    });
  for (const [name, subPath, message] of [
    ['dotdot', '..', "unable to provision SubPath `..`: must not contain '..'"],
    ['deep-dotdot', 'a/../../..', "unable to provision SubPath `a/../../..`: must not contain '..'"],
    ['absolute', '/etc', 'error SubPath `/etc` must not be an absolute path'],
    ['via-link', 'link', 'failed to prepare subPath for volumeMount "store" of container "main"'],
    [
      'below-link',
      'link/new',
      'failed to create subPath directory for volumeMount "store" of container "main"',
    ],
  ] as const) {
    await withSubPath(name, subPath);
    const w = await waitingOf(kc, name, (x) => x.reason === 'CreateContainerConfigError');
    t.is(w.waiting.message, message, subPath);
    t.is(w.pod.status.phase, 'Pending');
  }
  t.deepEqual(await readdir(outside), [], 'nothing was written outside the volume');
  t.false(existsSync(join(stateDir, 'volumes', NS, 'x')));
  // A subPath inside the volume works, and is made if missing.
  await withSubPath('inside', 'sub/dir');
  const j = await finished(kc, 'inside');
  t.deepEqual(condTypes(j).at(-1), 'Complete=True/CompletionsReached');
  t.is(await readFile(join(volume, 'sub', 'dir', 'x'), 'utf8'), 'pwned\n');
});

test('a Secret volume item path cannot climb out of the volume folder', async (t) => {
  const { kc, core, batch, stateDir } = await setup(t);
  await core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'creds' }, data: { key: Buffer.from('s3cret').toString('base64') } },
  });
  await batch.createNamespacedJob({
    namespace: NS,
    body: job(
      'items',
      'exit 0',
      {},
      { volumeMounts: [{ name: 's', mountPath: '/creds' }] },
      {
        volumes: [
          { name: 's', secret: { secretName: 'creds', items: [{ key: 'key', path: '../../../escaped' }] } },
        ],
      },
    ),
  });
  const w = await waitingOf(kc, 'items', (x) => x.reason === 'ContainerCreating' && x.message !== undefined);
  t.is(
    w.waiting.message,
    `MountVolume.SetUp failed for volume "s" : invalid path: must not contain '..': ../../../escaped`,
  );
  t.false(existsSync(join(stateDir, 'escaped')));
  t.false(existsSync(join(stateDir, 'pods', 'escaped')));
});

test('what the runner writes is private to its user: Secret files, logs, pod and volume folders', async (t) => {
  const { kc, core, batch, stateDir } = await setup(t);
  await core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'creds' }, data: { key: Buffer.from('s3cret').toString('base64') } },
  });
  await core.createNamespacedPersistentVolumeClaim({
    namespace: NS,
    body: {
      metadata: { name: 'data' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
  });
  // The container reports the mode of its Secret file and of its folders (in the pod's own view).
  const script = 'echo $(stat -c %a "$1/key" "$1" "$2") > "$3"';
  await batch.createNamespacedJob({
    namespace: NS,
    body: job(
      'modes',
      script,
      {},
      {
        args: [script, 'sh', '/creds', '/data', '/dev/termination-log'],
        volumeMounts: [
          { name: 's', mountPath: '/creds' },
          { name: 'd', mountPath: '/data' },
        ],
      },
      {
        volumes: [
          { name: 's', secret: { secretName: 'creds', defaultMode: 0o644 } },
          { name: 'd', persistentVolumeClaim: { claimName: 'data' } },
        ],
      },
    ),
  });
  await finished(kc, 'modes');
  const [pod] = await podsOf(kc, 'modes');
  t.is(
    terminated(pod).message,
    '600 700 700\n',
    'Secret file 0600 (owner bits of defaultMode), folders 0700',
  );
  const logs = join(stateDir, 'logs');
  t.is((await stat(logs)).mode & 0o777, 0o700);
  t.is((await stat(join(logs, NS))).mode & 0o777, 0o700);
  t.is((await stat(join(logs, NS, `${String(pod!.metadata.name)}.log`))).mode & 0o777, 0o600);
  t.is((await stat(join(stateDir, 'volumes'))).mode & 0o777, 0o700);
});
