/**
 * Things every function knows about policies and their Backups: which kind is which, owner
 * references, the Backup a schedule creates, and which Backups are finished.
 */
import type {
  Backup,
  BackupPolicy,
  DatabaseBackup,
  OwnerReference,
  PolicyKind,
  StorageDestination,
} from './api/index.ts';
import { DEFAULT_POLICY_DESTINATION } from './api/index.ts';
import { API_VERSION } from './api/kinds.ts';
import { kubeTime, timeOf } from './clock.ts';
import { Reason } from './conditions.ts';
import type { KubeObject } from './kube.ts';
import { ARTIFACT_FINALIZER, Labels, MANAGED_BY } from './labels.ts';
import { scheduledBackupName } from './naming.ts';

export type Policy = DatabaseBackup | BackupPolicy;

export function controllerRef(owner: KubeObject, kind: string): OwnerReference {
  return {
    apiVersion: owner.apiVersion ?? API_VERSION,
    kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Where a policy's runs write: its storageDestination, or a BackupPolicy's default claim. */
export function destinationOf(policy: Policy): StorageDestination {
  return policy.spec.storageDestination ?? DEFAULT_POLICY_DESTINATION;
}

/** A BackupPolicy that takes CSI VolumeSnapshots: its runs write nothing to a destination. */
export function isSnapshotPolicy(policy: Policy): boolean {
  return (policy as BackupPolicy).spec.backupStrategy === 'snapshot';
}

/** The claim a policy's runs write to, when they write to one. */
export function destinationClaim(policy: Policy): string | undefined {
  const dest = destinationOf(policy);
  return dest.type === 'pvc' && !isSnapshotPolicy(policy) ? dest.claimName : undefined;
}

export function policyLabels(kind: PolicyKind, name: string): Record<string, string> {
  return {
    [Labels.managedBy]: MANAGED_BY,
    [Labels.partOf]: MANAGED_BY,
    [Labels.policy]: name,
    [Labels.policyKind]: kind,
  };
}

/**
 * What every Backup of a policy carries, scheduled or made by hand: the policy's labels, the policy
 * as its controller (deleting the policy deletes it), and the finalizer that deletes its artifact
 * before it goes.
 */
export function backupMetadata(
  kind: PolicyKind,
  policy: Policy,
  name: string,
): { labels: Record<string, string>; ownerReferences: OwnerReference[]; finalizers: string[] } {
  return {
    labels: {
      ...policyLabels(kind, policy.metadata.name),
      [Labels.backup]: name,
      // What a restore needs once the policy is gone (its Backups kept with --cascade=orphan).
      ...(kind === 'DatabaseBackup'
        ? { [Labels.databaseType]: (policy as DatabaseBackup).spec.databaseType ?? 'postgres' }
        : {}),
    },
    ownerReferences: [controllerRef(policy, kind)],
    finalizers: [ARTIFACT_FINALIZER],
  };
}

/**
 * The metadata patch that gives a Backup made by hand (seed 003) what backupMetadata gives a
 * scheduled one, or undefined when it has all of it. Its own labels, owners and finalizers are
 * kept; the resourceVersion makes the patch apply only to the Backup as it was read.
 */
export function adoptionPatch(
  kind: PolicyKind,
  policy: Policy,
  backup: Backup,
): { metadata: Record<string, unknown> } | undefined {
  const want = backupMetadata(kind, policy, backup.metadata.name);
  const meta = backup.metadata;
  const labels = Object.fromEntries(
    Object.entries(want.labels).filter(([k]) => meta.labels?.[k] === undefined),
  );
  const owned = meta.ownerReferences?.some((r) => r.controller);
  const finalized = meta.finalizers?.includes(ARTIFACT_FINALIZER);
  if (Object.keys(labels).length === 0 && owned && finalized) return undefined;
  return {
    metadata: {
      ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(owned ? {} : { ownerReferences: [...(meta.ownerReferences ?? []), ...want.ownerReferences] }),
      ...(finalized ? {} : { finalizers: [...(meta.finalizers ?? []), ARTIFACT_FINALIZER] }),
    },
  };
}

/** The Backup a policy's schedule creates for the run at `scheduledTime`. */
export function scheduledBackup(kind: PolicyKind, policy: Policy, scheduledTime: Date): Backup {
  const name = scheduledBackupName(policy.metadata.name, scheduledTime);
  return {
    apiVersion: API_VERSION,
    kind: 'Backup',
    metadata: {
      name,
      namespace: policy.metadata.namespace ?? 'default',
      ...backupMetadata(kind, policy, name),
    },
    spec: {
      policyRef: { kind, name: policy.metadata.name },
      scheduledTime: kubeTime(scheduledTime),
      deletionPolicy: 'Delete',
    },
  };
}

/**
 * When a run is for: its scheduled time, or the creation of a Backup made by hand — read as a time
 * (milliseconds), whatever form it was written in.
 */
export function runTimeOf(b: Backup): number {
  return timeOf(b.spec.scheduledTime) ?? timeOf(b.metadata.creationTimestamp) ?? 0;
}

/**
 * Backups newest first. The one definition of "newest" that retention, the policy's status and
 * verification share: the scheduled time, as restic orders snapshots by their time (not the
 * completion time: a slow run does not become newer than the run after it), ties broken by name,
 * the greater first.
 */
export function newestFirst<T extends Backup>(backups: readonly T[]): T[] {
  return [...backups].sort(
    (a, b) => runTimeOf(b) - runTimeOf(a) || b.metadata.name.localeCompare(a.metadata.name),
  );
}

/** A Backup whose run is VolumeSnapshots (backupStrategy snapshot), not a Job: it records them. */
export function isSnapshotBackup(b: Backup): boolean {
  return (b.status?.snapshots?.length ?? 0) > 0;
}

/** A Backup whose run was started: its Job, or (backupStrategy snapshot) its VolumeSnapshots, were made. */
export function isLaunched(b: Backup): boolean {
  return Boolean(b.status?.jobName) || isSnapshotBackup(b);
}

/** A Backup or Restore that reached Completed or Failed (phases never move back). */
export function isFinished(run: { status?: { phase?: string | undefined } | undefined }): boolean {
  return run.status?.phase === 'Completed' || run.status?.phase === 'Failed';
}

/** A Restore restore-runner started: its Job, or (from a snapshot Backup) its claim, was made. */
export function isRestoreStarted(r: {
  status?: { jobName?: string; volumeSnapshotName?: string } | undefined;
}): boolean {
  return Boolean(r.status?.jobName) || Boolean(r.status?.volumeSnapshotName);
}

/**
 * A Restore that restore-runner keeps waiting for its Backup to complete (seed 003): it has no Job
 * yet, and is not one that lost its launcher.
 */
export function waitsForBackup(r: { status?: { jobName?: string; reason?: string } | undefined }): boolean {
  return !r.status?.jobName && r.status?.reason === Reason.WaitingForBackup;
}

/** Backups that count as running for concurrencyPolicy: not finished and not being deleted. */
export function activeBackups(backups: readonly Backup[]): Backup[] {
  return backups.filter((b) => !isFinished(b) && !b.metadata.deletionTimestamp);
}

/** The Backups of one policy, among Backups of its namespace. */
export function backupsOf(kind: PolicyKind, policy: Policy, backups: readonly Backup[]): Backup[] {
  return backups.filter(
    (b) =>
      b.spec.policyRef.kind === kind &&
      b.spec.policyRef.name === policy.metadata.name &&
      (b.metadata.namespace ?? 'default') === (policy.metadata.namespace ?? 'default'),
  );
}

export function groupKey(namespace: string | undefined, kind: string, name: string): string {
  return `${namespace ?? 'default'}/${kind}/${name}`;
}
