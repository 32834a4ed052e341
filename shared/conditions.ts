/**
 * Conditions as Kubernetes conventions want them: a few types, PascalCase reasons,
 * `lastTransitionTime` moving only when the status flips, `observedGeneration` on each.
 */
import { kubeTime } from './clock.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export const ConditionType = {
  Ready: 'Ready',
  Scheduled: 'Scheduled',
  Completed: 'Completed',
  Failed: 'Failed',
  Verified: 'Verified',
} as const;

export const Reason = {
  Scheduled: 'Scheduled',
  Suspended: 'Suspended',
  InvalidSchedule: 'InvalidSchedule',
  InvalidSpec: 'InvalidSpec',
  MissedSchedules: 'MissedSchedules',
  BackupWaiting: 'BackupWaiting',
  DeadlineExceeded: 'DeadlineExceeded',
  JobCreated: 'JobCreated',
  SnapshotsCreated: 'SnapshotsCreated',
  ClaimCreated: 'ClaimCreated',
  SnapshotFailed: 'SnapshotFailed',
  BackupStarted: 'BackupStarted',
  BackupCompleted: 'BackupCompleted',
  BackupFailed: 'BackupFailed',
  RestoreStarted: 'RestoreStarted',
  RestoreCompleted: 'RestoreCompleted',
  RestoreFailed: 'RestoreFailed',
  RestoreRefused: 'RestoreRefused',
  WaitingForBackup: 'WaitingForBackup',
  SourceNotFound: 'SourceNotFound',
  DestinationNotFound: 'DestinationNotFound',
  SecretNotFound: 'SecretNotFound',
  JobDeleted: 'JobDeleted',
} as const;

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/**
 * Returns a new list with `input` set. The transition time is kept when the status is unchanged
 * (reason or message may still change); a new condition or a flipped status gets `now`.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date,
  observedGeneration?: number,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === input.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    ...input,
    lastTransitionTime: prev && prev.status === input.status ? prev.lastTransitionTime : kubeTime(now),
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}
