/**
 * job-watcher, verification: when every-Nth verification is due after a backup completes, and what
 * a finished verification Restore records on its Backup and policy. Pure.
 */
import type { Backup, PolicyKind, Restore } from '../../shared/api/index.ts';
import { kubeTime, kubeTimeOf } from '../../shared/clock.ts';
import { ConditionType, getCondition } from '../../shared/conditions.ts';
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
import type { Reply } from './outcome.ts';

const VERIFIED = 'Verified';
const VERIFICATION_FAILED = 'VerificationFailed';

/** What a finished verification Restore means for its Backup and policy. */
export interface Verified {
  plan: Plan;
  reply: Reply;
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
    if (!isVerification(r) || !isFinished(r)) return false;
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
