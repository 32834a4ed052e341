/**
 * job-watcher, the run's outcome: what a Job and its Pods (their termination messages) say about
 * the Backup or Restore that owns it, and the status, Events and reply that move the run through
 * Pending → Running → Completed | Failed. Pure: a function of the run, its Job, its Pods and `now`.
 */
import { type AgentResult, parseAgentResult } from '../../shared/agent-contract.ts';
import type { Backup, Restore, SnapshotRecord } from '../../shared/api/index.ts';
import { kubeTime, kubeTimeOf, timeOf } from '../../shared/clock.ts';
import { Reason } from '../../shared/conditions.ts';
import { CAIRN_EVENT_TYPES } from '../../shared/event-types.ts';
import { AGENT_CONTAINER, artifactKeysOfJob } from '../../shared/jobs.ts';
import type { KubeObject } from '../../shared/kube.ts';
import type { Action, Plan, Ref } from '../../shared/plan.ts';
import { refOf } from '../../shared/plan.ts';
import { isFinished, isSnapshotBackup } from '../../shared/policy.ts';
import { humanBytes, humanDuration } from '../../shared/units.ts';
import { claimOutcome, DEFAULT_DEADLINE_SECONDS, isClaimRestore, snapshotOutcome } from './snapshots.ts';

/** A Backup or Restore without a Job this long after it was created has lost its launcher. */
export const NO_JOB_GRACE_SECONDS = 600;
/** How long a complete Job may go without a visible Succeeded pod before its run is failed. */
export const RESULT_GRACE_SECONDS = 120;
/** Beyond the Job's own deadline, how long before a Backup is failed without the Job controller. */
export const DEADLINE_GRACE_SECONDS = 300;
/** How long a Pod may wait in a state kubelet retries (a missing Secret, an image pull) before the run fails. */
export const WAITING_GRACE_SECONDS = 300;

export interface JobState {
  /** The Job, or undefined when it is gone. */
  job: KubeObject | undefined;
  /** Its Pods, in any order. */
  pods: KubeObject[];
  /** A snapshot run's VolumeSnapshots (its run is those, not a Job): snapshots.ts. */
  snapshots?: KubeObject[];
  /** A snapshot run's deadline: its policy's activeDeadlineSeconds (a Job carries its own). */
  deadlineSeconds?: number;
  /** A snapshot Restore's claim, the one it fills (undefined: gone, or not read). */
  claim?: KubeObject | undefined;
}

export interface Outcome {
  phase: 'Pending' | 'Running' | 'Completed' | 'Failed';
  startTime?: string;
  completionTime?: string;
  result?: Extract<AgentResult, { ok: true }>;
  reason?: string;
  message?: string;
  /** The Job is still there and must not go on (its Pod could start later and write an artifact). */
  stopJob?: boolean;
  /** A failure the agent reported itself: it has removed whatever it had written. */
  reported?: boolean;
  /** A snapshot run: what each VolumeSnapshot says, and (Completed) their total restoreSize. */
  snapshots?: SnapshotRecord[];
  /** A run without a Job, Completed: its size (a snapshot Backup's, a restored claim's). */
  sizeBytes?: number;
  /** What to add when the run outlives its deadline (why it may not be finished). */
  deadlineHint?: string;
}

/** Waiting reasons kubelet never retries (pkg/kubelet/images): the run fails at once. */
const WAITING_FOR_GOOD = new Set(['InvalidImageName', 'ErrImageNeverPull']);
/**
 * Waiting reasons kubelet retries, with a back-off that reaches its 5-minute cap after a few
 * attempts: a Secret created just after its policy, a registry that hiccups. After
 * WAITING_GRACE_SECONDS of it the run fails with kubelet's reason and message (the missing Secret
 * is named there), instead of waiting for the Job's activeDeadlineSeconds (an hour by default).
 */
const WAITING_RETRIED = new Set([
  'CreateContainerConfigError',
  'CreateContainerError',
  'ErrImagePull',
  'ImagePullBackOff',
]);

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  terminated?: { exitCode?: number; reason?: string; message?: string };
}

/**
 * The Job's condition of one of `types` that is True. Kubernetes 1.31+ writes the interim
 * SuccessCriteriaMet / FailureTarget as soon as the outcome is decided, and Complete / Failed (with
 * the same reason and message) only once the Pods are gone: either one decides the run.
 */
function jobCondition(
  job: KubeObject,
  ...types: string[]
): { reason?: string; message?: string } | undefined {
  const conditions = job.status?.conditions as
    | { type: string; status: string; reason?: string; message?: string }[]
    | undefined;
  for (const type of types) {
    const c = conditions?.find((x) => x.type === type && x.status === 'True');
    if (c) return c;
  }
  return undefined;
}

/** The agent's container state, found by its name: a sidecar may come first. */
function agentState(pod: KubeObject): ContainerState | undefined {
  const statuses = pod.status?.containerStatuses as { name?: string; state?: ContainerState }[] | undefined;
  return statuses?.find((c) => c.name === AGENT_CONTAINER)?.state;
}

function terminated(pod: KubeObject): ContainerState['terminated'] {
  return agentState(pod)?.terminated;
}

function agentResult(pod: KubeObject | undefined): AgentResult | undefined {
  const msg = pod ? terminated(pod)?.message : undefined;
  if (!msg) return undefined;
  try {
    return parseAgentResult(msg);
  } catch {
    return undefined;
  }
}

/**
 * A Job's Pods, newest first: by creation time read as a time (client-node's CoreV1Api hands back
 * Dates, JSON carries strings), ties by name.
 */
export function newestPodsFirst(pods: readonly KubeObject[]): KubeObject[] {
  const created = (p: KubeObject) => timeOf(p.metadata.creationTimestamp) ?? 0;
  return [...pods].sort((a, b) => created(b) - created(a) || b.metadata.name.localeCompare(a.metadata.name));
}

/** What the Job says about the run. `now` only matters when the Job's pod is late or stuck. */
export function outcomeOf(state: JobState, now: Date): Outcome | undefined {
  const { job } = state;
  if (!job) return undefined;
  const pods = newestPodsFirst(state.pods);
  const startTime = kubeTimeOf(job.status?.startTime);
  const completionTime = kubeTimeOf(job.status?.completionTime);
  const base = { ...(startTime ? { startTime } : {}) };
  if (jobCondition(job, 'Complete', 'SuccessCriteriaMet')) {
    const pod = pods.find((p) => p.status?.phase === 'Succeeded');
    const result = agentResult(pod);
    if (result?.ok) return { ...base, phase: 'Completed', result, completionTime: result.completionTime };
    // The pod's own update (with its termination message) may still be on its way: wait for it,
    // but not forever.
    const doneAt = timeOf(completionTime);
    if (!pod && (doneAt === undefined || now.getTime() - doneAt < RESULT_GRACE_SECONDS * 1000)) {
      return { ...base, phase: 'Running' };
    }
    return {
      ...base,
      phase: 'Failed',
      reason: 'NoResult',
      message: 'the agent exited successfully but left no readable result in its termination message',
      ...(completionTime ? { completionTime } : {}),
    };
  }
  const failed = jobCondition(job, 'Failed', 'FailureTarget');
  if (failed) {
    const pod = pods.find((p) => p.status?.phase === 'Failed');
    const result = agentResult(pod);
    const term = pod ? terminated(pod) : undefined;
    // A Pod ended by kubelet or the node (Evicted, DeadlineExceeded, NodeLost, Shutdown…) says why
    // in its own status; the container's state then only says it was killed.
    const podWhy = pod?.status?.reason as string | undefined;
    const detail =
      result && !result.ok
        ? `${result.reason}: ${result.message}`
        : podWhy
          ? `${podWhy}: ${String(pod?.status?.message ?? '').trim()}`
          : term
            ? `${term.reason ?? 'Error'} (exit ${term.exitCode ?? '?'})${term.message ? `: ${term.message.slice(-512)}` : ''}`
            : undefined;
    const why = failed.reason ?? 'JobFailed';
    return {
      ...base,
      phase: 'Failed',
      ...(result && !result.ok ? { reported: true } : {}),
      reason: result && !result.ok ? result.reason : (podWhy ?? why),
      message: [failed.message ?? why, detail].filter(Boolean).join('; '),
    };
  }
  // The newest Pod never got its container started: kubelet says why, and whether it retries.
  const newest = pods[0];
  const waiting = newest?.status?.phase === 'Pending' ? agentState(newest)?.waiting : undefined;
  const reason = waiting?.reason;
  if (reason && (WAITING_FOR_GOOD.has(reason) || WAITING_RETRIED.has(reason))) {
    const since =
      timeOf(newest?.metadata.creationTimestamp) ?? timeOf(job.status?.startTime) ?? now.getTime();
    const waited = Math.max(0, Math.round((now.getTime() - since) / 1000));
    if (WAITING_FOR_GOOD.has(reason) || waited >= WAITING_GRACE_SECONDS) {
      return {
        ...base,
        phase: 'Failed',
        reason,
        message:
          `the agent's container never started (${waited}s waiting): ${reason}: ${waiting?.message ?? ''}`.trim(),
        stopJob: true,
      };
    }
  }
  // Running once the agent ran: a Pod is running or has ended (between retries none is running).
  const ran = pods.some((p) => ['Running', 'Succeeded', 'Failed'].includes(String(p.status?.phase)));
  return ran ? { ...base, phase: 'Running' } : { ...base, phase: 'Pending' };
}

const seconds = (from?: string, to?: string) =>
  from && to ? Math.max(0, Math.round(((timeOf(to) ?? 0) - (timeOf(from) ?? 0)) / 100) / 10) : undefined;

/** A dev.cairn.* event to reply with: its type, the object it is about, its data. */
export interface Reply {
  type: string;
  subject: Ref;
  data: Record<string, unknown>;
}

export interface RunDecision {
  plan: Plan;
  /** The Backup as it will be, for deriving the policy's status. */
  updated: Backup | Restore;
  /** Cairn event to reply with when this decision finished the run. */
  reply?: Reply;
}

/**
 * The run (Backup or Restore) owning a Job, given the Job's state; `jobDeleted` says the Job is
 * known to be gone. Returns no actions when the run already shows this state.
 */
export function decideRun(
  kind: 'Backup' | 'Restore',
  run: Backup | Restore,
  state: JobState,
  now: Date,
  jobDeleted: boolean,
): RunDecision {
  const at = refOf(run, kind);
  if (isFinished(run) || run.metadata.deletionTimestamp) return { plan: [], updated: run };
  // Runs without a Job: a snapshot Backup's VolumeSnapshots, a snapshot Restore's claim (snapshots.ts).
  const snapshotRun = kind === 'Backup' && isSnapshotBackup(run as Backup);
  const claimRun = kind === 'Restore' && isClaimRestore(run as Restore);
  let o = snapshotRun
    ? snapshotOutcome(run as Backup, state.snapshots ?? [], now)
    : claimRun
      ? claimOutcome(run as Restore, state.claim, now)
      : outcomeOf(state, now);
  const status = run.status ?? {};
  if (!o) {
    const created = timeOf(run.metadata.creationTimestamp) ?? now.getTime();
    if (jobDeleted && status.jobName) {
      o = {
        phase: 'Failed',
        reason: Reason.JobDeleted,
        message: `Job ${status.jobName} was deleted before it finished`,
      };
    } else if (status.jobName || now.getTime() - created > NO_JOB_GRACE_SECONDS * 1000) {
      o = {
        phase: 'Failed',
        reason: status.jobName ? Reason.JobDeleted : 'NoJob',
        message: status.jobName
          ? `Job ${status.jobName} no longer exists and the ${kind} never finished`
          : `no Job was started within ${NO_JOB_GRACE_SECONDS}s; see the ${kind}'s Events`,
      };
    } else {
      return { plan: [], updated: run };
    }
  } else if (o.phase === 'Running' || o.phase === 'Pending') {
    const deadline = snapshotRun
      ? (state.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS)
      : claimRun
        ? ((run as Restore).spec.activeDeadlineSeconds ?? DEFAULT_DEADLINE_SECONDS)
        : (state.job?.spec?.activeDeadlineSeconds as number | undefined);
    const started = timeOf(o.startTime ?? state.job?.metadata.creationTimestamp) ?? now.getTime();
    if (deadline !== undefined && now.getTime() - started > (deadline + DEADLINE_GRACE_SECONDS) * 1000) {
      const hint = o.deadlineHint;
      o = {
        phase: 'Failed',
        reason: Reason.DeadlineExceeded,
        message: `still not finished ${deadline}s after it started${hint ? `: ${hint}` : ''}`,
      };
    }
  }
  // Phases only move forward: Pending → Running → Completed | Failed. A Running run whose failed Pod
  // waits for its replacement is still Running, and says BackupStarted once.
  if (o.phase === 'Pending' || (o.phase === 'Running' && status.phase === 'Running'))
    return { plan: [], updated: run };

  const set: Record<string, unknown> = { phase: o.phase };
  if (o.startTime) set.startTime = o.startTime;
  if (o.snapshots) set.snapshots = o.snapshots;
  const plan: Action[] = [];
  const noun = kind === 'Backup' ? 'Backup' : 'Restore';
  let reply: RunDecision['reply'];
  if (o.phase === 'Running') {
    plan.push({
      type: 'event',
      involved: at,
      eventType: 'Normal',
      reason: `${noun}Started`,
      message: `${noun} execution started`,
    });
  } else if (o.phase === 'Completed') {
    let message: string;
    if (o.result) {
      const r = o.result;
      const completionTime = kubeTimeOf(r.completionTime);
      const duration = seconds(o.startTime ?? r.startTime, r.completionTime) ?? r.durationMs / 1000;
      Object.assign(set, {
        completionTime,
        durationSeconds: duration,
        sha256: r.sha256,
        reason: null,
        message: null,
      });
      if (kind === 'Backup') {
        Object.assign(set, {
          location: r.location,
          key: r.key,
          manifestKey: r.manifestKey,
          sizeBytes: r.sizeBytes,
          rawBytes: r.rawBytes,
          // The forms `kubectl get backups` shows (printer columns cannot format a number).
          size: humanBytes(r.sizeBytes),
          duration: humanDuration(duration * 1000),
          compression: r.compression,
        });
      } else {
        set.restoredBytes = r.rawBytes;
      }
      message =
        kind === 'Backup'
          ? `Backup completed in ${duration}s: ${humanBytes(r.sizeBytes)} to ${r.location}, sha256 ${r.sha256.slice(0, 12)}…`
          : `Restore completed in ${duration}s: ${humanBytes(r.rawBytes)} restored and verified`;
    } else {
      // A run without a Job (snapshots.ts): no agent result, what the API says instead.
      const completionTime = o.completionTime ?? kubeTime(now);
      const duration = seconds(o.startTime, completionTime) ?? 0;
      Object.assign(set, {
        completionTime,
        durationSeconds: duration,
        ...(o.sizeBytes !== undefined
          ? { [kind === 'Backup' ? 'sizeBytes' : 'restoredBytes']: o.sizeBytes }
          : {}),
        reason: null,
        message: null,
      });
      message = `${noun} completed in ${duration}s: ${o.message ?? ''}`.slice(0, 1024);
    }
    plan.push({ type: 'event', involved: at, eventType: 'Normal', reason: `${noun}Completed`, message });
    reply = {
      type: kind === 'Backup' ? CAIRN_EVENT_TYPES.backupCompleted : CAIRN_EVENT_TYPES.restoreCompleted,
      subject: at,
      data: { name: at.name, namespace: at.namespace, ...set },
    };
  } else if (o.phase === 'Failed') {
    if (o.stopJob && state.job) {
      plan.push({
        type: 'delete',
        kind: 'Job',
        namespace: at.namespace,
        name: state.job.metadata.name,
        ...(state.job.metadata.uid ? { uid: state.job.metadata.uid } : {}),
        propagationPolicy: 'Background',
        why: `the ${kind} failed (${o.reason}) before its agent ran: its Pod must not start later`,
      });
    }
    // Killed, evicted, stopped: the agent may have uploaded before it could say so. Where it writes
    // is known from the Job's arguments; recorded, it is deleted with the Backup (retention-pruner).
    const mayHaveWritten =
      kind === 'Backup' && !o.reported && state.job ? artifactKeysOfJob(state.job) : undefined;
    if (mayHaveWritten && !(status as { key?: string }).key) Object.assign(set, mayHaveWritten);
    Object.assign(set, {
      completionTime: kubeTimeOf(o.completionTime) ?? kubeTime(now),
      reason: o.reason,
      message: o.message,
    });
    plan.push({
      type: 'event',
      involved: at,
      eventType: 'Warning',
      reason: `${noun}Failed`,
      message: o.message ?? 'failed',
    });
    reply = {
      type: kind === 'Backup' ? CAIRN_EVENT_TYPES.backupFailed : CAIRN_EVENT_TYPES.restoreFailed,
      subject: at,
      data: { name: at.name, namespace: at.namespace, reason: o.reason, message: o.message },
    };
  }
  const ready =
    o.phase === 'Completed'
      ? { type: 'Ready', status: 'True' as const, reason: `${noun}Completed`, message: `${noun} completed` }
      : o.phase === 'Failed'
        ? {
            type: 'Ready',
            status: 'False' as const,
            reason: o.reason ?? `${noun}Failed`,
            message: o.message ?? '',
          }
        : {
            type: 'Ready',
            status: 'False' as const,
            reason: `${noun}Running`,
            message: `${noun} is running`,
          };
  plan.unshift({
    type: 'status',
    kind,
    namespace: at.namespace,
    name: at.name,
    set,
    conditions: [ready],
    why: `Job ${status.jobName ?? at.name} is ${o.phase}`,
  });
  const updated = {
    ...run,
    status: {
      ...status,
      ...(Object.fromEntries(Object.entries(set).filter(([, v]) => v !== null)) as object),
    },
  };
  return { plan, updated: updated as Backup | Restore, ...(reply ? { reply } : {}) };
}
