/**
 * schedule-evaluator's pure decision: from a policy, its Backups and the time, the plan that
 * keeps the schedule — status (next run, last schedule time, Ready), the Backup of a due run,
 * and Events. Kubernetes CronJob semantics: suspend, time zone, starting deadline,
 * concurrencyPolicy, one catch-up run after downtime.
 */
import { allowListFromEnv, type JobAllowList, jobIdentityRefusal } from '../../shared/allowlist.ts';
import { API_VERSION, type Backup, type PolicyKind, type Restore } from '../../shared/api/index.ts';
import { kubeTime } from '../../shared/clock.ts';
import { type ConditionInput, getCondition, Reason } from '../../shared/conditions.ts';
import { InvalidSchedule } from '../../shared/errors.ts';
import { scheduledBackupName } from '../../shared/naming.ts';
import type { Action, Plan, Ref } from '../../shared/plan.ts';
import { activeBackups, destinationClaim, type Policy, scheduledBackup } from '../../shared/policy.ts';
import { cachedSchedule, dueRun } from '../../shared/schedule.ts';
import {
  completedNewestFirst,
  verificationName,
  verificationRestore,
  verificationRunning,
} from '../../shared/verification.ts';

export interface PolicyState {
  kind: PolicyKind;
  policy: Policy;
  /** This policy's Backups. */
  backups: Backup[];
  /** The Restores labelled with this policy (its verifications). */
  restores?: Restore[];
  /**
   * Whether the claim the policy writes to exists, when gather looked (needsClaimCheck): a claim
   * that does not is said before the first run (seed 002's policies named no destination).
   */
  claims?: Record<string, boolean>;
}

/**
 * Whether the claim a policy writes to must be looked at: when the status does not describe this
 * spec yet (a new or edited policy), or says the claim was missing. Otherwise nothing is read: a
 * claim deleted later fails its run in job-launcher, with the same reason.
 */
export function needsClaimCheck(policy: Policy): boolean {
  if (!destinationClaim(policy) || policy.spec.suspend || policy.metadata.deletionTimestamp) return false;
  const s = policy.status ?? {};
  const upToDate =
    policy.metadata.generation === undefined || s.observedGeneration === policy.metadata.generation;
  return !upToDate || getCondition(s.conditions, 'Ready')?.reason === Reason.DestinationNotFound;
}

function ref(kind: PolicyKind, p: Policy): Ref {
  return {
    apiVersion: API_VERSION,
    kind,
    namespace: p.metadata.namespace ?? 'default',
    name: p.metadata.name,
    ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
  };
}

function sameCondition(p: Policy, c: ConditionInput): boolean {
  const cur = getCondition(p.status?.conditions, c.type);
  return cur?.status === c.status && cur.reason === c.reason && cur.message === c.message;
}

/**
 * Nothing to do before the next run the status records: the status describes the current spec
 * (observedGeneration equals generation), says Ready=Scheduled, and that run is still ahead.
 * decide's fast path; handle.ts also skips, without a read, the update events of such a policy
 * (its status writes coming back), since deciding again could only return nothing.
 */
export function settled(policy: Policy, now: Date): boolean {
  const generation = policy.metadata.generation;
  const status = policy.status ?? {};
  return (
    (generation === undefined || status.observedGeneration === generation) &&
    getCondition(status.conditions, 'Ready')?.reason === Reason.Scheduled &&
    !!status.nextScheduledBackup &&
    now < new Date(status.nextScheduledBackup)
  );
}

export function decide(
  { kind, policy, backups, claims }: PolicyState,
  now: Date,
  allow: JobAllowList = allowListFromEnv(),
): Plan {
  if (policy.metadata.deletionTimestamp) return [];
  const at = ref(kind, policy);
  const generation = policy.metadata.generation;
  const status = policy.status ?? {};
  const upToDate = generation === undefined || status.observedGeneration === generation;
  const plan: Action[] = [];
  const statusAction = (set: Record<string, unknown>, condition: ConditionInput, why: string): Action => ({
    type: 'status',
    kind,
    namespace: at.namespace,
    name: at.name,
    set,
    conditions: [condition],
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    monotonic: ['lastScheduleTime'],
    // Seed 004: the first reconciliation initialises the status to Pending; job-watcher, which
    // derives it from the Backups, may have been first.
    ...('lastBackupStatus' in set ? { initial: ['lastBackupStatus'] } : {}),
    why,
  });
  /**
   * No runs are scheduled while `c` holds (a spec error, a suspension, a missing claim): the
   * condition and no next run, written once (nothing when the status already says it), with a
   * Warning Event for an error.
   */
  const halt = (c: ConditionInput, why: string, warn = true): Plan => {
    if (upToDate && sameCondition(policy, c) && status.nextScheduledBackup === undefined) return [];
    const out: Action[] = [statusAction({ nextScheduledBackup: null }, c, why)];
    if (warn)
      out.push({ type: 'event', involved: at, eventType: 'Warning', reason: c.reason, message: c.message });
    return out;
  };

  let schedule: ReturnType<typeof cachedSchedule>;
  try {
    schedule = cachedSchedule(policy.spec);
  } catch (err) {
    if (!(err instanceof InvalidSchedule)) throw err;
    return halt(
      { type: 'Ready', status: 'False', reason: Reason.InvalidSchedule, message: err.message },
      'the schedule cannot be evaluated',
    );
  }

  // An image or ServiceAccount the cluster admin did not allow is a spec error too: refused here,
  // before any Backup is scheduled (shared/allowlist.ts; job-launcher refuses it again).
  const refused = jobIdentityRefusal(policy.spec, at.namespace, allow);
  if (refused) {
    return halt(
      { type: 'Ready', status: 'False', reason: refused.reason, message: refused.message },
      'the policy asks for what the cluster admin does not allow',
    );
  }

  if (policy.spec.suspend) {
    return halt(
      {
        type: 'Ready',
        status: 'True',
        reason: Reason.Suspended,
        message: 'suspended: no new backups are scheduled',
      },
      'the policy is suspended',
      false,
    );
  }

  // The claim the runs would write to does not exist: said before the first run, and no Backup is
  // created that could only fail; the tick looks again (needsClaimCheck) and schedules once it is there.
  const claim = destinationClaim(policy);
  if (claim && claims?.[claim] === false) {
    const named = policy.spec.storageDestination
      ? 'spec.storageDestination.claimName'
      : 'the default destination: spec.storageDestination is not set';
    return halt(
      {
        type: 'Ready',
        status: 'False',
        reason: Reason.DestinationNotFound,
        message: `PersistentVolumeClaim ${claim} (${named}) does not exist in namespace ${at.namespace}: create it, or set spec.storageDestination`,
      },
      'the claim the backups go to does not exist',
    );
  }

  // Fast path: nothing is due before the next run this status already records.
  if (settled(policy, now)) return [];

  const created = policy.metadata.creationTimestamp ? new Date(policy.metadata.creationTimestamp) : now;
  const since = status.lastScheduleTime ? new Date(status.lastScheduleTime) : created;
  const run = dueRun(schedule, policy.spec, since, now);
  const set: Record<string, unknown> = { nextScheduledBackup: kubeTime(run.next) };
  let why = `next run at ${kubeTime(run.next)}`;

  if (run.due) {
    const name = scheduledBackupName(policy.metadata.name, run.due);
    const active = activeBackups(backups).filter((b) => b.metadata.name !== name);
    const policyConcurrency = policy.spec.concurrencyPolicy ?? 'Forbid';
    const waits = policyConcurrency === 'Forbid' && active.length > 0;
    if (backups.some((b) => b.metadata.name === name)) {
      set.lastScheduleTime = kubeTime(run.due);
      why = `the run of ${kubeTime(run.due)} exists already`;
    } else if (waits) {
      // As the CronJob v2 controller does on JobAlreadyActive: the due run is not started and
      // lastScheduleTime does not move, so it is still due when the active run ends (that run's
      // status write is an event here) and starts then, if within startingDeadlineSeconds. Until
      // then it is the run that will be created: the one announced as next.
      const running = active.map((b) => b.metadata.name).join(', ');
      set.nextScheduledBackup = kubeTime(run.due);
      why = `the run of ${kubeTime(run.due)} waits: ${running} still running`;
      if (status.nextScheduledBackup !== set.nextScheduledBackup) {
        const deadline = policy.spec.startingDeadlineSeconds;
        plan.push({
          type: 'event',
          involved: at,
          eventType: 'Normal',
          reason: Reason.BackupWaiting,
          message: `the run of ${kubeTime(run.due)} waits: ${running} is still running (concurrencyPolicy Forbid); it starts when that ends${deadline === undefined ? '' : `, if within startingDeadlineSeconds (${deadline}s)`}`,
        });
      }
    } else {
      if (policyConcurrency === 'Replace') {
        for (const b of active) {
          plan.push({
            type: 'delete',
            kind: 'Backup',
            namespace: at.namespace,
            name: b.metadata.name,
            ...(b.metadata.uid ? { uid: b.metadata.uid } : {}),
            propagationPolicy: 'Background',
            why: 'concurrencyPolicy Replace: a newer run is due',
          });
          plan.push({
            type: 'event',
            involved: at,
            eventType: 'Normal',
            reason: 'BackupReplaced',
            message: `stopped ${b.metadata.name}: the run of ${kubeTime(run.due)} replaces it`,
          });
        }
      }
      plan.push({
        type: 'create',
        kind: 'Backup',
        object: scheduledBackup(kind, policy, run.due),
        why: `run of ${kubeTime(run.due)} is due`,
      });
      plan.push({
        type: 'event',
        involved: at,
        eventType: 'Normal',
        reason: 'BackupScheduled',
        message: `created Backup ${name} for the run of ${kubeTime(run.due)}`,
      });
      set.lastScheduleTime = kubeTime(run.due);
      why = `created the run of ${kubeTime(run.due)}`;
    }
    if (run.missed > 1 && !waits) {
      plan.push({
        type: 'event',
        involved: at,
        eventType: 'Warning',
        reason: Reason.MissedSchedules,
        message: `${run.tooManyMissed ? 'more than ' : ''}${run.missed - 1} earlier scheduled run(s) since ${kubeTime(since)} were missed; only the most recent (${kubeTime(run.due)}) is started`,
      });
    }
  } else if (run.skippedPastDeadline) {
    set.lastScheduleTime = kubeTime(run.skippedPastDeadline);
    plan.push({
      type: 'event',
      involved: at,
      eventType: 'Warning',
      reason: Reason.MissedSchedules,
      message: `the run of ${kubeTime(run.skippedPastDeadline)} was not started: its startingDeadlineSeconds (${policy.spec.startingDeadlineSeconds}s) had passed`,
    });
  }

  const ready: ConditionInput = {
    type: 'Ready',
    status: 'True',
    reason: Reason.Scheduled,
    message: `schedule "${policy.spec.schedule}" in ${schedule.timeZone}`,
  };
  const first = status.lastBackupStatus === undefined;
  if (first) set.lastBackupStatus = 'Pending';
  const unchanged =
    !first &&
    upToDate &&
    sameCondition(policy, ready) &&
    status.nextScheduledBackup === set.nextScheduledBackup &&
    (set.lastScheduleTime === undefined || status.lastScheduleTime === set.lastScheduleTime);
  if (!unchanged) plan.push(statusAction(set, ready, why));
  return plan;
}

/**
 * spec.verification.schedule: at each cron time, a verification Restore of the newest Completed
 * Backup (named after the Backup and the time, so creating it twice is harmless). The time is
 * handled once job-watcher records it as status.lastVerification.scheduledTime; until then the
 * Restore's existence says so. An invalid verification schedule starts nothing (the CRD pattern
 * refuses most; the Event of an invalid cron would repeat every minute).
 */
export function decideCronVerification(
  { kind, policy, backups, restores = [] }: PolicyState,
  now: Date,
): Plan {
  const v = policy.spec.verification;
  if (!v?.schedule || v.suspend || policy.spec.suspend || policy.metadata.deletionTimestamp) return [];
  let schedule: ReturnType<typeof cachedSchedule>;
  try {
    schedule = cachedSchedule(
      { schedule: v.schedule, timeZone: v.timeZone },
      'spec.verification.schedule',
      'spec.verification.timeZone',
    );
  } catch (err) {
    if (err instanceof InvalidSchedule) return [];
    throw err;
  }
  const created = policy.metadata.creationTimestamp ? new Date(policy.metadata.creationTimestamp) : now;
  const last = policy.status?.lastVerification?.scheduledTime;
  const since = last && new Date(last) > created ? new Date(last) : created;
  const run = dueRun(schedule, { schedule: v.schedule }, since, now);
  const newest = completedNewestFirst(backups)[0];
  if (!run.due || !newest || verificationRunning(restores)) return [];
  const name = verificationName(newest.metadata.name, run.due);
  if (restores.some((r) => r.metadata.name === name)) return [];
  const made = verificationRestore(kind, policy, newest, run.due);
  if ('skip' in made) return [];
  return [
    {
      type: 'create',
      kind: 'Restore',
      object: made.restore as unknown as Backup,
      why: `verification of ${kubeTime(run.due)} is due`,
    },
    {
      type: 'event',
      involved: ref(kind, policy),
      eventType: 'Normal',
      reason: 'VerificationStarted',
      message: `verifying Backup ${newest.metadata.name} with Restore ${name} (the verification of ${kubeTime(run.due)})`,
    },
  ];
}
