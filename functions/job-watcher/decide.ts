/**
 * job-watcher's pure decisions: a Job's state (and its Pods' termination messages) moves its
 * Backup or Restore through Pending → Running → Completed | Failed, and the policy's status is
 * derived again from all of its Backups, so late or repeated events cannot make it drift.
 */
import { type AgentResult, parseAgentResult } from '../../shared/agent-contract.ts';
import type { Backup, HistoryEntry, PolicyKind, Restore } from '../../shared/api/index.ts';
import { kubeTime, kubeTimeOf, timeOf } from '../../shared/clock.ts';
import { ConditionType, getCondition, Reason } from '../../shared/conditions.ts';
import { CAIRN_EVENT_TYPES } from '../../shared/event-types.ts';
import type { KubeObject } from '../../shared/kube.ts';
import type { Action, Plan, Ref } from '../../shared/plan.ts';
import { refOf } from '../../shared/plan.ts';
import { isFinished, type Policy } from '../../shared/policy.ts';
import {
  dueByCount,
  isVerification,
  SCHEDULED_TIME_ANNOTATION,
  verificationRestore,
} from '../../shared/verification.ts';

/** A Backup or Restore without a Job this long after it was created has lost its launcher. */
export const NO_JOB_GRACE_SECONDS = 600;
/** How long a complete Job may go without a visible Succeeded pod before its run is failed. */
export const RESULT_GRACE_SECONDS = 120;
/** Beyond the Job's own deadline, how long before a Backup is failed without the Job controller. */
export const DEADLINE_GRACE_SECONDS = 300;

export interface JobState {
  /** The Job, or undefined when it is gone. */
  job: KubeObject | undefined;
  /** Its Pods, newest first. */
  pods: KubeObject[];
}

export interface Outcome {
  phase: 'Pending' | 'Running' | 'Completed' | 'Failed';
  startTime?: string;
  completionTime?: string;
  result?: Extract<AgentResult, { ok: true }>;
  reason?: string;
  message?: string;
}

function jobCondition(job: KubeObject, type: string): { reason?: string; message?: string } | undefined {
  const c = (
    job.status?.conditions as
      | { type: string; status: string; reason?: string; message?: string }[]
      | undefined
  )?.find((x) => x.type === type && x.status === 'True');
  return c;
}

function terminated(pod: KubeObject): { exitCode?: number; reason?: string; message?: string } | undefined {
  return pod.status?.containerStatuses?.[0]?.state?.terminated;
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

/** What the Job says about the run. `now` only matters when the Job's pod is late or stuck. */
export function outcomeOf({ job, pods }: JobState, now: Date): Outcome | undefined {
  if (!job) return undefined;
  const startTime = kubeTimeOf(job.status?.startTime);
  const completionTime = kubeTimeOf(job.status?.completionTime);
  const base = { ...(startTime ? { startTime } : {}) };
  if (jobCondition(job, 'Complete')) {
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
  const failed = jobCondition(job, 'Failed');
  if (failed) {
    const pod = pods.find((p) => p.status?.phase === 'Failed');
    const result = agentResult(pod);
    const term = pod ? terminated(pod) : undefined;
    const detail =
      result && !result.ok
        ? `${result.reason}: ${result.message}`
        : term
          ? `${term.reason ?? 'Error'} (exit ${term.exitCode ?? '?'})${term.message ? `: ${term.message.slice(-512)}` : ''}`
          : undefined;
    const why = failed.reason ?? 'JobFailed';
    return {
      ...base,
      phase: 'Failed',
      reason: result && !result.ok ? result.reason : why,
      message: [failed.message ?? why, detail].filter(Boolean).join('; '),
    };
  }
  const running = (job.status?.active ?? 0) > 0 || pods.some((p) => p.status?.phase === 'Running');
  return running ? { ...base, phase: 'Running' } : { phase: 'Pending' };
}

const seconds = (from?: string, to?: string) =>
  from && to ? Math.max(0, Math.round(((timeOf(to) ?? 0) - (timeOf(from) ?? 0)) / 100) / 10) : undefined;

function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export interface RunDecision {
  plan: Plan;
  /** The Backup as it will be, for deriving the policy's status. */
  updated: Backup | Restore;
  /** Cairn event to reply with when this decision finished the run. */
  reply?: { type: string; subject: Ref; data: Record<string, unknown> };
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
  if (isFinished(run as Backup) || run.metadata.deletionTimestamp) return { plan: [], updated: run };
  let o = outcomeOf(state, now);
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
    const deadline = state.job?.spec?.activeDeadlineSeconds as number | undefined;
    const started = timeOf(o.startTime ?? state.job?.metadata.creationTimestamp) ?? now.getTime();
    if (deadline !== undefined && now.getTime() - started > (deadline + DEADLINE_GRACE_SECONDS) * 1000) {
      o = {
        phase: 'Failed',
        reason: Reason.DeadlineExceeded,
        message: `still not finished ${deadline}s after it started`,
      };
    }
  }
  if (o.phase === status.phase && (o.phase === 'Pending' || o.phase === 'Running'))
    return { plan: [], updated: run };
  if (o.phase === 'Pending' && status.phase === undefined) return { plan: [], updated: run };

  const set: Record<string, unknown> = { phase: o.phase };
  if (o.startTime) set.startTime = o.startTime;
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
  } else if (o.phase === 'Completed' && o.result) {
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
        compression: r.compression,
      });
    } else {
      set.restoredBytes = r.rawBytes;
    }
    const message =
      kind === 'Backup'
        ? `Backup completed in ${duration}s: ${humanBytes(r.sizeBytes)} to ${r.location}, sha256 ${r.sha256.slice(0, 12)}…`
        : `Restore completed in ${duration}s: ${humanBytes(r.rawBytes)} restored and verified`;
    plan.push({ type: 'event', involved: at, eventType: 'Normal', reason: `${noun}Completed`, message });
    reply = {
      type: kind === 'Backup' ? CAIRN_EVENT_TYPES.backupCompleted : CAIRN_EVENT_TYPES.restoreCompleted,
      subject: at,
      data: { name: at.name, namespace: at.namespace, ...set },
    };
  } else if (o.phase === 'Failed') {
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

const LAST_STATUS = {
  Pending: 'Pending',
  Running: 'Running',
  Completed: 'Succeeded',
  Failed: 'Failed',
} as const;
export const HISTORY_LIMIT = 10;

function runTime(b: Backup): string {
  return b.spec.scheduledTime ?? b.metadata.creationTimestamp ?? '';
}

/** The policy's status fields, derived from all of its Backups (newest first). */
export function policyStatus(backups: readonly Backup[]): Record<string, unknown> {
  const sorted = [...backups]
    .filter((b) => !b.metadata.deletionTimestamp)
    .sort((a, b) => runTime(b).localeCompare(runTime(a)) || b.metadata.name.localeCompare(a.metadata.name));
  const latest = sorted[0];
  const active = sorted.find((b) => !isFinished(b));
  const success = sorted.find((b) => b.status?.phase === 'Completed');
  const history: HistoryEntry[] = sorted.slice(0, HISTORY_LIMIT).map((b) => {
    const s = b.status ?? {};
    return {
      backup: b.metadata.name,
      ...(s.jobName ? { job: s.jobName } : {}),
      ...(b.spec.scheduledTime ? { scheduledTime: b.spec.scheduledTime } : {}),
      ...(s.startTime ? { startTime: s.startTime } : {}),
      ...(s.completionTime ? { completionTime: s.completionTime } : {}),
      status: LAST_STATUS[s.phase ?? 'Pending'],
      ...(s.message ? { message: s.message.slice(0, 1024) } : {}),
      ...(s.sizeBytes !== undefined ? { sizeBytes: s.sizeBytes } : {}),
    };
  });
  return {
    lastBackup: latest?.metadata.name ?? null,
    lastBackupStatus: latest ? LAST_STATUS[latest.status?.phase ?? 'Pending'] : null,
    activeBackupJob: active?.status?.jobName ?? null,
    lastSuccessfulBackup: success?.metadata.name ?? null,
    lastSuccessfulTime: success?.status?.completionTime ?? null,
    lastDurationSeconds: success?.status?.durationSeconds ?? null,
    lastSizeBytes: success?.status?.sizeBytes ?? null,
    failureReason:
      latest?.status?.phase === 'Failed' ? (latest.status.message ?? latest.status.reason ?? 'failed') : null,
    backupHistory: history,
  };
}

export function decidePolicy(kind: PolicyKind, policy: KubeObject, backups: readonly Backup[]): Action[] {
  const set = policyStatus(backups);
  const current = (policy.status ?? {}) as Record<string, unknown>;
  const same = Object.entries(set).every(
    ([k, v]) => JSON.stringify(v ?? undefined) === JSON.stringify(current[k]),
  );
  if (same) return [];
  const last = set.lastBackupStatus;
  const condition =
    last === 'Succeeded'
      ? {
          type: 'LastBackupSucceeded',
          status: 'True' as const,
          reason: Reason.BackupCompleted,
          message: `${set.lastBackup} completed`,
        }
      : last === 'Failed'
        ? {
            type: 'LastBackupSucceeded',
            status: 'False' as const,
            reason: Reason.BackupFailed,
            message: String(set.failureReason),
          }
        : undefined;
  return [
    {
      type: 'status',
      kind,
      namespace: policy.metadata.namespace ?? 'default',
      name: policy.metadata.name,
      set,
      ...(condition ? { conditions: [condition] } : {}),
      why: `derived from its ${backups.length} Backup(s)`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Verification

const VERIFIED = 'Verified';
const VERIFICATION_FAILED = 'VerificationFailed';

/** What a finished verification Restore means for its Backup and policy. */
export interface Verified {
  plan: Plan;
  reply: { type: string; subject: Ref; data: Record<string, unknown> };
}

/**
 * A verification Restore finished (`restore` as it now is): the Backup's Verified condition, the
 * policy's status.lastVerification, an Event on both (Warning when it failed), and the CloudEvent
 * dev.cairn.backup.verified or dev.cairn.backup.verification.failed.
 */
export function decideVerified(
  restore: Restore,
  backup: Backup | undefined,
  now: Date,
): Verified | undefined {
  const phase = restore.status?.phase;
  if (phase !== 'Completed' && phase !== 'Failed') return undefined;
  const ns = restore.metadata.namespace ?? 'default';
  const backupName = restore.spec.backupRef.name;
  const passed = phase === 'Completed';
  const reason = passed ? VERIFIED : (restore.status?.reason ?? VERIFICATION_FAILED);
  const message = passed
    ? `restored into a scratch target and ${restore.spec.checks?.length ?? 0} check(s) passed (Restore ${restore.metadata.name})`
    : `${restore.status?.message ?? 'the verification restore failed'} (Restore ${restore.metadata.name})`;
  const time = kubeTimeOf(restore.status?.completionTime) ?? kubeTime(now);
  const scheduledTime = restore.metadata.annotations?.[SCHEDULED_TIME_ANNOTATION];
  const plan: Action[] = [];
  const eventType = passed ? ('Normal' as const) : ('Warning' as const);
  const eventReason = passed ? VERIFIED : VERIFICATION_FAILED;
  const short = message.slice(0, 1024);
  if (backup) {
    const at = refOf(backup, 'Backup');
    plan.push(
      {
        type: 'status',
        kind: 'Backup',
        namespace: ns,
        name: backupName,
        set: {},
        conditions: [
          {
            type: ConditionType.Verified,
            status: passed ? 'True' : 'False',
            reason: conditionReason(reason),
            message,
          },
        ],
        why: `verification ${restore.metadata.name} ${passed ? 'passed' : 'failed'}`,
      },
      { type: 'event', involved: at, eventType, reason: eventReason, message: short },
    );
    const { kind, name } = backup.spec.policyRef;
    plan.push({
      type: 'status',
      kind,
      namespace: ns,
      name,
      set: {
        lastVerification: {
          time,
          backup: backupName,
          restore: restore.metadata.name,
          result: passed ? 'Passed' : 'Failed',
          ...(passed ? {} : { reason }),
          message: short,
          ...(scheduledTime ? { scheduledTime } : {}),
        },
      },
      why: `verification of ${backupName} ${passed ? 'passed' : 'failed'}`,
    });
    plan.push({
      type: 'event',
      involved: { apiVersion: at.apiVersion, kind, namespace: ns, name },
      eventType,
      reason: eventReason,
      message: `Backup ${backupName}: ${short}`,
    });
  }
  const subject = backup ? refOf(backup, 'Backup') : refOf(restore, 'Restore');
  return {
    plan,
    reply: {
      type: passed ? CAIRN_EVENT_TYPES.backupVerified : CAIRN_EVENT_TYPES.backupVerificationFailed,
      subject,
      data: {
        name: backupName,
        namespace: ns,
        ...(backup ? { policyRef: backup.spec.policyRef } : {}),
        restore: restore.metadata.name,
        result: passed ? 'Passed' : 'Failed',
        reason,
        message: short,
        time,
      },
    },
  };
}

/** Condition reasons are PascalCase identifiers; an agent reason already is one. */
function conditionReason(r: string): string {
  return /^[A-Za-z][A-Za-z0-9_]*$/.test(r) ? r : VERIFICATION_FAILED;
}

/** On the tick: finished verifications whose Backup shows no Verified condition yet (a lost event, a refused Restore). */
export function unrecordedVerifications(restores: readonly Restore[], backups: readonly Backup[]): Restore[] {
  const byName = new Map(backups.map((b) => [`${b.metadata.namespace}/${b.metadata.name}`, b]));
  return restores.filter((r) => {
    if (!isVerification(r) || !isFinished(r as unknown as Backup)) return false;
    const b = byName.get(`${r.metadata.namespace}/${r.spec.backupRef.name}`);
    return (
      b !== undefined &&
      !b.metadata.deletionTimestamp &&
      getCondition(b.status?.conditions, 'Verified') === undefined
    );
  });
}

/** everyNthBackup: the verification Restore to create for a policy now, if one is due. */
export function decideVerification(
  kind: PolicyKind,
  policy: Policy,
  backups: readonly Backup[],
  restores: readonly Restore[],
  /** Say (once, when a backup completes; not on every tick) why a due verification cannot start. */
  announceSkip = true,
): Plan {
  const due = dueByCount(policy, backups, restores);
  if (!due) return [];
  const made = verificationRestore(kind, policy, due);
  const at: Ref = { ...refOf(policy, kind), apiVersion: policy.apiVersion ?? '' };
  if ('skip' in made) {
    if (!announceSkip) return [];
    return [
      {
        type: 'event',
        involved: at,
        eventType: 'Warning',
        reason: 'VerificationSkipped',
        message: made.skip,
      },
    ];
  }
  return [
    {
      type: 'create',
      kind: 'Restore',
      object: made.restore as unknown as KubeObject,
      why: `verify Backup ${due.metadata.name} (everyNthBackup ${policy.spec.verification?.everyNthBackup})`,
    },
    {
      type: 'event',
      involved: at,
      eventType: 'Normal',
      reason: 'VerificationStarted',
      message: `verifying Backup ${due.metadata.name} with Restore ${made.restore.metadata.name}`,
    },
  ];
}
