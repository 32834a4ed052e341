/**
 * job-watcher, the outcome of the runs that have no Job (BackupPolicy backupStrategy: snapshot):
 *
 * - a snapshot Backup: what its VolumeSnapshots say. Every one readyToUse: Completed; one with an
 *   error: Failed with it; one gone before it was ready: Failed; otherwise Running, until the
 *   policy's activeDeadlineSeconds;
 * - a Restore of one: what the claim restore-runner created from a VolumeSnapshot says. Bound (the
 *   CSI driver filled it): Completed; gone or Lost: Failed; otherwise Running, until the Restore's
 *   activeDeadlineSeconds.
 *
 * Pure: a function of the run, what the API holds and `now`.
 */
import type { Backup, Restore, SnapshotRecord } from '../../shared/api/index.ts';
import { kubeTime, timeOf } from '../../shared/clock.ts';
import { Reason } from '../../shared/conditions.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { parseQuantity } from '../../shared/quantity.ts';
import { snapshotRecord } from '../../shared/snapshots.ts';
import type { Outcome } from './outcome.ts';

/** The default of a policy's activeDeadlineSeconds (shared/api/common.ts jobFields). */
export const DEFAULT_DEADLINE_SECONDS = 3600;

const bytes = (q: string | undefined): number | undefined => {
  if (q === undefined) return undefined;
  try {
    return Number(parseQuantity(q));
  } catch {
    return undefined;
  }
};

const of = (r: SnapshotRecord) => `VolumeSnapshot ${r.name} of claim ${r.persistentVolumeClaimName}`;

export function snapshotOutcome(backup: Backup, snapshots: readonly KubeObject[], now: Date): Outcome {
  const asked = backup.status?.snapshots ?? [];
  const startTime = backup.status?.startTime;
  const base = startTime ? { startTime } : {};
  const records: SnapshotRecord[] = asked.map((a) => {
    const vs = snapshots.find((s) => s.metadata.name === a.name && !s.metadata.deletionTimestamp);
    return vs ? snapshotRecord(vs, a.persistentVolumeClaimName) : a;
  });
  const gone = asked.find(
    (a) => !snapshots.some((s) => s.metadata.name === a.name && !s.metadata.deletionTimestamp),
  );
  const failed = records.find((r) => r.error);
  if (failed) {
    return {
      ...base,
      phase: 'Failed',
      reason: Reason.SnapshotFailed,
      message: `${of(failed)}: ${failed.error}`,
      snapshots: records,
    };
  }
  if (gone) {
    return {
      ...base,
      phase: 'Failed',
      reason: 'SnapshotDeleted',
      message: `${of(gone)} was deleted before it was ready to use`,
      snapshots: records,
    };
  }
  if (records.every((r) => r.readyToUse)) {
    const times = records.map((r) => timeOf(r.creationTime)).filter((x): x is number => x !== undefined);
    const sizes = records.map((r) => bytes(r.restoreSize));
    const list = records.map(
      (r) => `${r.name} of claim ${r.persistentVolumeClaimName} (${r.restoreSize ?? '?'})`,
    );
    return {
      ...base,
      phase: 'Completed',
      completionTime: kubeTime(times.length > 0 ? Math.max(...times) : now),
      snapshots: records,
      ...(sizes.every((x) => x !== undefined) ? { sizeBytes: sizes.reduce((a, b) => a + b, 0) } : {}),
      message: `${records.length} VolumeSnapshot${records.length === 1 ? '' : 's'} ready: ${list.join(', ')}`,
    };
  }
  return { ...base, phase: 'Running', snapshots: records };
}

/** A Restore of a snapshot Backup: a claim created from a VolumeSnapshot, no Job. */
export function isClaimRestore(r: Restore): boolean {
  return Boolean(r.status?.volumeSnapshotName) && !r.status?.jobName;
}

export function claimOutcome(restore: Restore, claim: KubeObject | undefined, now: Date): Outcome {
  const s = restore.status ?? {};
  const base = s.startTime ? { startTime: s.startTime } : {};
  const what = `PersistentVolumeClaim ${s.claimName}`;
  if (!claim || claim.metadata.deletionTimestamp)
    return {
      ...base,
      phase: 'Failed',
      reason: 'ClaimDeleted',
      message: `${what} was deleted before it was filled`,
    };
  const phase = claim.status?.phase as string | undefined;
  if (phase === 'Lost')
    return { ...base, phase: 'Failed', reason: 'ClaimLost', message: `${what} lost its volume` };
  if (phase === 'Bound') {
    const capacity = claim.status?.capacity?.storage as string | undefined;
    const size = bytes(capacity);
    return {
      ...base,
      phase: 'Completed',
      completionTime: kubeTime(now),
      ...(size !== undefined ? { sizeBytes: size } : {}),
      message: `claim ${s.claimName} filled from VolumeSnapshot ${s.volumeSnapshotName}${capacity ? ` (${capacity})` : ''}`,
    };
  }
  return {
    ...base,
    phase: 'Running',
    deadlineHint: `${what} is not Bound yet; a claim of a WaitForFirstConsumer StorageClass binds only once a Pod uses it (it is filled then, and stays)`,
  };
}
