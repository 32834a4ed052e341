/**
 * The local job runner: the Job controller and kubelet for batch/v1 Jobs in the API server (the
 * emulator, through client-node: it only watches, reads and writes through the HTTP API).
 *
 * Job controller (Kubernetes 1.32 semantics, NonIndexed):
 * - creates Pods `<job>-<5 chars>` with the template, labels `job-name`, `controller-uid` and their
 *   `batch.kubernetes.io/` forms, a controller ownerReference to the Job and the
 *   `batch.kubernetes.io/job-tracking` finalizer; up to `parallelism` at a time until `completions`
 *   succeeded;
 * - counts terminated pods through `status.uncountedTerminatedPods` and the finalizer, as 1.26+
 *   does, so a restart of the runner never counts a pod twice;
 * - retries a failed pod with a new Pod after an exponential backoff (short locally) until
 *   `failed > backoffLimit`: FailureTarget + Failed, reason BackoffLimitExceeded;
 * - `activeDeadlineSeconds` past `status.startTime`: kills the active pods, FailureTarget + Failed,
 *   reason DeadlineExceeded; success: SuccessCriteriaMet + Complete (CompletionsReached) and
 *   `completionTime`; `suspend` stops the pods; `ttlSecondsAfterFinished` deletes the Job;
 * - keeps `startTime`, `active`, `ready`, `succeeded`, `failed`, `terminating`;
 * - a Job already Complete or Failed is never run again; a pod that was Pending or Running when the
 *   runner stopped (no process of this runner behind it) is marked Failed with reason NodeLost and
 *   counts as a failure, so the Job is retried per backoffLimit.
 *
 * Kubelet: see pod-run.ts. A pod's deletion (the Job's deletion with propagation, kubectl delete
 * pod) kills its processes.
 *
 * Not emulated: Indexed completion mode, podFailurePolicy, successPolicy, backoffLimitPerIndex,
 * restartPolicy OnFailure restarting in place (it behaves like Never: a new Pod per attempt),
 * resource limits, securityContext (processes run as the runner's user).
 */
import { randomInt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Clock, kubeTime, systemClock } from '../../shared/clock.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { KeyedQueue } from '../broker/queue.ts';
import { type KubeObject, type KubeTarget, toKubeConfig, type WatchLoop, watchLoop } from '../events/kube.ts';
import { type JobJson, type JobStatus, type PodJson, RunnerApi } from './api.ts';
import { defaultImageRules, type ImageRule } from './images.ts';
import { PodRun, type StopReason } from './pod-run.ts';
import { completeConditions, failedConditions, isFinished } from './status.ts';

export const TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
const UID_LABEL = 'batch.kubernetes.io/controller-uid';

export interface JobRunnerOptions {
  /** The API server: a KubeConfig, a kubeconfig path, or a URL (the emulator's). */
  kube: KubeTarget;
  /** Logs go to `<stateDir>/logs/<ns>/<pod>.log`, PVCs to `<stateDir>/volumes/<ns>/<claim>/`. */
  stateDir: string;
  /** Which images run as what; default `defaultImageRules(repoRoot)` (the agent). */
  images?: ImageRule[];
  /** This checkout (where agent/main.ts is); default: found from this file. */
  repoRoot?: string;
  /** Only Jobs in this namespace (default: all). */
  namespace?: string;
  /** Only Jobs matching this label selector (default: all). */
  labelSelector?: string;
  /** Pod retry backoff: base × 2^(failures−1), capped (Kubernetes: 10 s, 6 min); default 500 ms, 10 s. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Longest wait between SIGTERM and SIGKILL (a pod asks for 30 s); default 5 s. */
  maxGraceMs?: number;
  /** First retry delay of kubelet-style waits (missing Secret, key or PVC); default 1 s. */
  configRetryMs?: number;
  /** Fail a pod at once on a missing Secret/ConfigMap/key/PVC instead of waiting like kubelet. */
  failOnConfigError?: boolean;
  /** Env every container starts with (the image's own ENV, locally); default PATH, HOME, LANG, TZ of the host. */
  hostEnv?: Record<string, string>;
  nodeName?: string;
  clock?: Clock;
  log?: Logger;
}

export interface JobRunner {
  /** Resolves once the first lists are done and the watches are open. */
  readonly ready: Promise<void>;
  /** Resolves once no reconcile is queued or running (pods may still run). */
  idle(): Promise<void>;
  /**
   * Evicts a running Pod as kubelet's node-pressure eviction does: its containers are killed at
   * once and it ends Failed, reason Evicted, with kubelet's message (default: memory pressure).
   * Resolves false when this runner runs no such Pod.
   */
  evict(namespace: string, pod: string, message?: string): Promise<boolean>;
  /** Stops the watches, kills running pods (status: Failed, node shutdown) and waits for them. */
  close(): Promise<void>;
}

export async function startJobRunner(opts: JobRunnerOptions): Promise<JobRunner> {
  const r = new Runner(opts);
  await r.ready;
  return r;
}

function defaultRepoRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function hostEnvDefault(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TZ']) {
    const v = process.env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
function podName(job: string): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += NAME_CHARS[randomInt(NAME_CHARS.length)];
  return `${`${job}-`.slice(0, 58)}${s}`;
}

function phaseOf(p: PodJson): string {
  return String(p.status?.phase ?? 'Pending');
}
function isTerminal(p: PodJson): boolean {
  const ph = phaseOf(p);
  return ph === 'Succeeded' || ph === 'Failed';
}
function isReady(p: PodJson): boolean {
  const conds = (p.status?.conditions ?? []) as { type: string; status: string }[];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True');
}

class Runner implements JobRunner {
  readonly ready: Promise<void>;
  readonly #o: JobRunnerOptions;
  readonly #api: RunnerApi;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #images: ImageRule[];
  readonly #queue = new KeyedQueue(16);
  readonly #runs = new Map<string, { run: PodRun; jobKey: string; jobUid: string }>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Last failure per Job uid (for the backoff), and pods deleted before they were counted. */
  readonly #lastFailure = new Map<string, Date>();
  readonly #lost = new Map<string, Set<string>>();
  readonly #watches: WatchLoop[] = [];
  #closed = false;

  constructor(opts: JobRunnerOptions) {
    this.#o = opts;
    const kc = toKubeConfig(opts.kube);
    this.#api = new RunnerApi(kc);
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.log ?? createLogger({ component: 'job-runner' });
    this.#images = opts.images ?? defaultImageRules(opts.repoRoot ?? defaultRepoRoot());
    const jobs = watchLoop({
      kc,
      resource: { apiVersion: 'batch/v1', kind: 'Job', plural: 'jobs', namespaced: true },
      namespace: opts.namespace,
      labelSelector: opts.labelSelector,
      onList: (items) => {
        for (const j of items) this.#enqueue(j.metadata?.namespace ?? '', j.metadata?.name ?? '');
      },
      onEvent: (_type, j) => this.#enqueue(j.metadata?.namespace ?? '', j.metadata?.name ?? ''),
      log: this.#log,
    });
    const pods = watchLoop({
      kc,
      resource: { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
      namespace: opts.namespace,
      labelSelector: UID_LABEL,
      onEvent: (type, p) => this.#onPod(type, p),
      log: this.#log,
    });
    this.#watches.push(jobs, pods);
    this.ready = Promise.all([jobs.ready, pods.ready]).then(() => {});
  }

  /** Reconciles a Job now, or after `delayMs` (one timer per Job and purpose). */
  #enqueue(namespace: string, name: string, delayMs = 0, purpose = 'retry'): void {
    if (this.#closed || !name) return;
    const key = `${namespace}/${name}`;
    if (delayMs > 0) {
      const timerKey = `${purpose}:${key}`;
      const existing = this.#timers.get(timerKey);
      if (existing) clearTimeout(existing);
      this.#timers.set(
        timerKey,
        setTimeout(() => {
          this.#timers.delete(timerKey);
          this.#enqueue(namespace, name);
        }, delayMs),
      );
      return;
    }
    void this.#queue.run(key, () =>
      this.#reconcile(namespace, name).catch((e: unknown) => {
        this.#log.error('reconcile failed; retrying', { job: key, error: e });
        this.#enqueue(namespace, name, 1000);
      }),
    );
  }

  #onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject): void {
    const p = obj as unknown as PodJson;
    const m = p.metadata;
    const mine = this.#runs.get(m.uid);
    if (mine && (type === 'DELETED' || m.deletionTimestamp)) mine.run.stop('deleted');
    const jobUid = m.labels?.[UID_LABEL];
    const jobName = m.labels?.['batch.kubernetes.io/job-name'] ?? m.labels?.['job-name'];
    if (type === 'DELETED' && jobUid && m.finalizers?.includes(TRACKING_FINALIZER)) {
      // Gone before it was counted (a server without finalizers): it counts as failed.
      const lost = this.#lost.get(jobUid) ?? new Set<string>();
      lost.add(m.uid);
      this.#lost.set(jobUid, lost);
    }
    const controller = m.ownerReferences?.find((r) => r.controller);
    if (!controller && m.finalizers?.includes(TRACKING_FINALIZER) && (isTerminal(p) || m.deletionTimestamp)) {
      // Orphaned (its Job was deleted with propagationPolicy Orphan): nothing will count it.
      void this.#api.patchPod(m.namespace, m.name, { metadata: { finalizers: without(m.finalizers) } });
    }
    if (jobName) this.#enqueue(m.namespace, jobName);
  }

  async #reconcile(namespace: string, name: string): Promise<void> {
    if (this.#closed) return;
    const job = await this.#api.job(namespace, name);
    if (!job) {
      await this.#jobGone(namespace, name);
      return;
    }
    const uid = job.metadata.uid;
    const now = this.#clock.now();
    const status: JobStatus = structuredClone(job.status ?? {});
    const finishedBefore = isFinished(job);
    const deadlineAt = this.#deadline(job, status);
    // Pods the Job controller kills are deleted once counted, as it deletes them.
    const killed: string[] = [];
    if (!finishedBefore && deadlineAt !== undefined && now.getTime() >= deadlineAt) {
      killed.push(...(await this.#stopRuns(uid, 'deadline')));
    }
    if (job.metadata.deletionTimestamp) await this.#stopRuns(uid, 'deleted');

    let pods = await this.#api.podsOf(namespace, uid);
    // Pods that were running under an earlier runner: kubelet is gone, the node is lost.
    for (const p of pods) {
      if (isTerminal(p) || this.#runs.has(p.metadata.uid)) continue;
      await this.#markLost(p);
    }
    pods = await this.#api.podsOf(namespace, uid);

    // Count terminated pods: uncounted first, then drop the finalizer, then into the counters.
    const unc = {
      succeeded: new Set(status.uncountedTerminatedPods?.succeeded ?? []),
      failed: new Set(status.uncountedTerminatedPods?.failed ?? []),
    };
    let newlyUncounted = false;
    for (const p of pods) {
      if (!isTerminal(p) || !p.metadata.finalizers?.includes(TRACKING_FINALIZER)) continue;
      const set = phaseOf(p) === 'Succeeded' ? unc.succeeded : unc.failed;
      if (!set.has(p.metadata.uid)) {
        set.add(p.metadata.uid);
        newlyUncounted = true;
      }
    }
    for (const lostUid of this.#lost.get(uid) ?? []) {
      if (!unc.failed.has(lostUid)) {
        unc.failed.add(lostUid);
        newlyUncounted = true;
      }
    }
    this.#lost.delete(uid);
    if (newlyUncounted) {
      await this.#api.patchJobStatus(namespace, name, {
        uncountedTerminatedPods: { succeeded: [...unc.succeeded], failed: [...unc.failed] },
      });
    }
    for (const p of pods) {
      if (isTerminal(p) && p.metadata.finalizers?.includes(TRACKING_FINALIZER)) {
        await this.#api.patchPod(namespace, p.metadata.name, {
          metadata: { finalizers: without(p.metadata.finalizers) },
        });
      }
    }
    status.succeeded = (status.succeeded ?? 0) + unc.succeeded.size;
    status.failed = (status.failed ?? 0) + unc.failed.size;
    status.uncountedTerminatedPods = {};
    if (unc.failed.size > 0 && !this.#lastFailure.has(uid)) this.#lastFailure.set(uid, now);

    const active = pods.filter((p) => !isTerminal(p) && !p.metadata.deletionTimestamp);
    const completions = job.spec.completions ?? 1;
    const backoffLimit = job.spec.backoffLimit ?? 6;
    const conditions = [...(status.conditions ?? [])];
    let finishing = false;

    if (!finishedBefore) {
      let outcome: 'deadlineExceeded' | 'backoffLimitExceeded' | 'complete' | undefined;
      if (deadlineAt !== undefined && now.getTime() >= deadlineAt) outcome = 'deadlineExceeded';
      else if (status.failed > backoffLimit) outcome = 'backoffLimitExceeded';
      else if (status.succeeded >= completions) outcome = 'complete';
      if (outcome) {
        finishing = true;
        if (outcome === 'complete') {
          conditions.push(...completeConditions(now));
          status.completionTime = kubeTime(now);
        } else {
          conditions.push(...failedConditions(now, outcome));
        }
        const [reason, message] =
          outcome === 'complete'
            ? ['Completed', 'Job completed']
            : outcome === 'deadlineExceeded'
              ? ['DeadlineExceeded', 'Job was active longer than specified deadline']
              : ['BackoffLimitExceeded', 'Job has reached the specified backoff limit'];
        void this.#jobEvent(job, outcome === 'complete' ? 'Normal' : 'Warning', reason, message);
      }
    }

    if (finishedBefore || finishing) {
      // A finished Job keeps no active pods.
      killed.push(...(await this.#stopRuns(uid, 'jobFinished')));
      const names = new Set([...killed, ...active.map((p) => p.metadata.name)]);
      for (const n of names) await this.#api.deletePod(namespace, n);
      status.active = 0;
      status.ready = 0;
      status.terminating = 0;
      status.conditions = conditions;
      await this.#writeStatus(job, status);
      this.#ttl(job, status);
      return;
    }

    // Suspend: no pods; resume: a fresh start time.
    const suspended = job.spec.suspend === true;
    const suspendedCond = conditions.find((c) => c.type === 'Suspended');
    if (suspended) {
      await this.#stopRuns(uid, 'suspended');
      for (const p of active) await this.#api.deletePod(namespace, p.metadata.name);
      if (suspendedCond?.status !== 'True') {
        const t = kubeTime(now);
        const c = {
          type: 'Suspended',
          status: 'True' as const,
          lastProbeTime: t,
          lastTransitionTime: t,
          reason: 'JobSuspended',
          message: 'Job suspended',
        };
        status.conditions = [...conditions.filter((x) => x.type !== 'Suspended'), c];
      }
      status.active = 0;
      status.ready = 0;
      status.terminating = 0;
      await this.#writeStatus(job, status);
      return;
    }
    if (suspendedCond?.status === 'True') {
      const t = kubeTime(now);
      status.conditions = conditions.map((c) =>
        c.type === 'Suspended'
          ? {
              ...c,
              status: 'False' as const,
              lastProbeTime: t,
              lastTransitionTime: t,
              reason: 'JobResumed',
              message: 'Job resumed',
            }
          : c,
      );
      status.startTime = kubeTime(now);
    }
    status.startTime ??= kubeTime(now);

    // New pods, after the backoff of the last failure.
    const parallelism = job.spec.parallelism ?? 1;
    const want = Math.min(parallelism, completions - status.succeeded) - active.length;
    let created = 0;
    if (want > 0) {
      const wait = this.#backoffRemaining(uid, status.failed, now);
      if (wait > 0) {
        this.#enqueue(namespace, name, wait, 'backoff');
      } else {
        for (let i = 0; i < want; i++) {
          await this.#createPod(job);
          created++;
        }
      }
    }
    status.active = active.length + created;
    status.ready = active.filter(isReady).length;
    status.terminating = 0;
    await this.#writeStatus(job, status);
    const deadline = this.#deadline(job, status);
    if (deadline !== undefined)
      this.#enqueue(namespace, name, Math.max(1, deadline - now.getTime()), 'deadline');
  }

  #deadline(job: JobJson, status: JobStatus): number | undefined {
    const ads = job.spec.activeDeadlineSeconds;
    if (ads === undefined || ads === null || !status.startTime) return undefined;
    return Date.parse(status.startTime) + ads * 1000;
  }

  #backoffRemaining(jobUid: string, failed: number, now: Date): number {
    if (failed === 0) return 0;
    const last = this.#lastFailure.get(jobUid);
    if (!last) return 0;
    const base = this.#o.backoff?.baseMs ?? 500;
    const max = this.#o.backoff?.maxMs ?? 10_000;
    const delay = Math.min(base * 2 ** (failed - 1), max);
    return Math.max(0, last.getTime() + delay - now.getTime());
  }

  async #createPod(job: JobJson): Promise<void> {
    const { namespace, name, uid } = job.metadata;
    const tpl = job.spec.template;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName(name),
        namespace,
        labels: {
          ...tpl.metadata?.labels,
          'batch.kubernetes.io/controller-uid': uid,
          'batch.kubernetes.io/job-name': name,
          'controller-uid': uid,
          'job-name': name,
        },
        annotations: { ...tpl.metadata?.annotations, 'batch.kubernetes.io/job-tracking': '' },
        finalizers: [TRACKING_FINALIZER],
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: { ...tpl.spec, nodeName: this.#o.nodeName ?? 'cairn-local' },
    };
    const created = await this.#api.createPod(namespace, pod);
    void this.#jobEvent(job, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
    const run = new PodRun(created, {
      api: this.#api,
      stateDir: this.#o.stateDir,
      images: this.#images,
      hostEnv: this.#o.hostEnv ?? hostEnvDefault(),
      clock: this.#clock,
      log: this.#log.child({ job: `${namespace}/${name}` }),
      maxGraceMs: this.#o.maxGraceMs ?? 5000,
      configRetryMs: this.#o.configRetryMs ?? 1000,
      failOnConfigError: this.#o.failOnConfigError ?? false,
    });
    this.#runs.set(created.metadata.uid, { run, jobKey: `${namespace}/${name}`, jobUid: uid });
    void run.done.then(
      (outcome) => {
        this.#runs.delete(run.uid);
        if (outcome.phase === 'Failed') this.#lastFailure.set(uid, outcome.finishedAt);
        this.#enqueue(namespace, name);
      },
      (e: unknown) => {
        this.#runs.delete(run.uid);
        this.#log.error('pod run crashed', { pod: `${namespace}/${run.name}`, error: e });
        this.#enqueue(namespace, name);
      },
    );
  }

  async #markLost(p: PodJson): Promise<void> {
    const at = kubeTime(this.#clock.now());
    const containers = (p.spec.containers ?? []) as { name: string; image?: string }[];
    this.#log.warn('pod was running when the runner stopped; marking it lost', {
      pod: `${p.metadata.namespace}/${p.metadata.name}`,
    });
    await this.#api.patchPodStatus(p.metadata.namespace, p.metadata.name, {
      phase: 'Failed',
      reason: 'NodeLost',
      message: 'The local job runner stopped while this pod was running; its process is gone.',
      conditions: [
        {
          type: 'DisruptionTarget',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: at,
          reason: 'NodeLost',
          message: 'The node running the pod was lost',
        },
        { type: 'Ready', status: 'False', lastProbeTime: null, lastTransitionTime: at, reason: 'PodFailed' },
      ],
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: false,
        started: false,
        restartCount: 0,
        state: {
          terminated: {
            exitCode: 137,
            reason: 'ContainerStatusUnknown',
            message: 'The container could not be located when the pod was terminated',
            startedAt: at,
            finishedAt: at,
          },
        },
        lastState: {},
      })),
    });
    const uid = p.metadata.labels?.[UID_LABEL];
    if (uid) this.#lastFailure.set(uid, this.#clock.now());
  }

  /** Stops a Job's running pods and waits for their final status; returns their names. */
  async #stopRuns(jobUid: string, reason: StopReason): Promise<string[]> {
    const runs = [...this.#runs.values()].filter((r) => r.jobUid === jobUid);
    const stopped = runs.filter((r) => r.run.stop(reason));
    await Promise.all(runs.map((r) => r.run.done.catch(() => {})));
    return stopped.map((r) => r.run.name);
  }

  /** The Job is gone: its pods stop, and the ones being deleted lose the tracking finalizer. */
  async #jobGone(namespace: string, name: string): Promise<void> {
    const key = `${namespace}/${name}`;
    const runs = [...this.#runs.values()].filter((r) => r.jobKey === key);
    for (const r of runs) r.run.stop('deleted');
    await Promise.all(runs.map((r) => r.run.done.catch(() => {})));
    for (const p of await this.#api.podsOfJobName(namespace, name)) {
      const m = p.metadata;
      if (!m.finalizers?.includes(TRACKING_FINALIZER)) continue;
      if (isTerminal(p) || m.deletionTimestamp) {
        await this.#api.patchPod(namespace, m.name, { metadata: { finalizers: without(m.finalizers) } });
      }
    }
  }

  async #writeStatus(job: JobJson, status: JobStatus): Promise<void> {
    const before = JSON.stringify(normalize(job.status ?? {}));
    const after = normalize(status);
    if (JSON.stringify(after) === before) return;
    await this.#api.patchJobStatus(job.metadata.namespace, job.metadata.name, statusPatch(after));
  }

  #ttl(job: JobJson, status: JobStatus): void {
    const ttl = job.spec.ttlSecondsAfterFinished;
    if (ttl === undefined || ttl === null) return;
    const finished = status.conditions?.find(
      (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
    );
    if (!finished) return;
    const at = Date.parse(finished.lastTransitionTime) + ttl * 1000;
    const wait = at - this.#clock.now().getTime();
    const key = `ttl:${job.metadata.namespace}/${job.metadata.name}`;
    if (this.#timers.has(key)) return;
    this.#timers.set(
      key,
      setTimeout(
        () => {
          this.#timers.delete(key);
          void this.#api.deleteJob(job.metadata.namespace, job.metadata.name);
        },
        Math.max(0, wait),
      ),
    );
  }

  #jobEvent(job: JobJson, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const m = job.metadata;
    return this.#api.event(
      { kind: 'Job', apiVersion: 'batch/v1', namespace: m.namespace, name: m.name, uid: m.uid },
      type,
      reason,
      message,
      'job-controller',
      this.#clock.now(),
    );
  }

  idle(): Promise<void> {
    return this.#queue.idle();
  }

  async evict(namespace: string, pod: string, message?: string): Promise<boolean> {
    const r = [...this.#runs.values()].find((x) => x.run.namespace === namespace && x.run.name === pod);
    if (!r?.run.stop('evicted', message)) return false;
    await r.run.done.catch(() => {});
    return true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#watches) w.stop();
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    const runs = [...this.#runs.values()];
    for (const r of runs) r.run.stop('shutdown');
    await Promise.all(runs.map((r) => r.run.done.catch(() => {})));
    await this.#queue.idle();
  }
}

function without(finalizers: string[] | undefined): string[] {
  return (finalizers ?? []).filter((f) => f !== TRACKING_FINALIZER);
}

/** The status fields the runner owns, in a stable form for comparison. */
function normalize(s: JobStatus): JobStatus {
  const out: JobStatus = {};
  for (const k of [
    'startTime',
    'completionTime',
    'active',
    'ready',
    'succeeded',
    'failed',
    'terminating',
    'conditions',
  ] as const) {
    // active, succeeded and failed are omitempty in the Go type; ready and terminating are pointers.
    const zeroOmitted = (k === 'active' || k === 'succeeded' || k === 'failed') && !s[k];
    if (s[k] !== undefined && !zeroOmitted) (out as Record<string, unknown>)[k] = s[k];
  }
  const u = s.uncountedTerminatedPods;
  out.uncountedTerminatedPods = {
    ...(u?.succeeded?.length ? { succeeded: u.succeeded } : {}),
    ...(u?.failed?.length ? { failed: u.failed } : {}),
  };
  return out;
}

/** A merge patch that also clears what became empty (absent keys would merge, not clear). */
function statusPatch(s: JobStatus): Record<string, unknown> {
  const u = s.uncountedTerminatedPods ?? {};
  return {
    active: null,
    succeeded: null,
    failed: null,
    ...s,
    uncountedTerminatedPods: { succeeded: u.succeeded ?? null, failed: u.failed ?? null },
  };
}
