/**
 * Restore verification, as job-watcher (every Nth backup) and schedule-evaluator (cron) both
 * start it: the verification Restore of a Backup — owned by the Backup, so it goes with it,
 * labelled so it is recognisable — and the scratch target it restores into.
 */
import { createHash } from 'node:crypto';
import type { Backup, DatabaseBackup, PolicyKind, Restore, RestoreSpec } from './api/index.ts';
import { API_VERSION } from './api/kinds.ts';
import { kubeTime } from './clock.ts';
import { getCondition } from './conditions.ts';
import { Labels } from './labels.ts';
import { childName, minuteStamp } from './naming.ts';
import { controllerRef, isFinished, newestFirst, type Policy, policyLabels } from './policy.ts';

/** `verification` on a verification Restore and its Job. */
export const PURPOSE_LABEL = 'backup.cairn.dev/purpose';
/** On a cron verification's Restore: the scheduled time it is for (becomes lastVerification.scheduledTime). */
export const SCHEDULED_TIME_ANNOTATION = 'backup.cairn.dev/scheduled-time';
/** Where, in a scratch volume, verifications restore (one sub-folder each). */
export const SCRATCH_FOLDER = 'cairn-verify';
const SCRATCH_SUFFIX = '_cairn_verify';

export function isVerification(r: Restore): boolean {
  return r.spec.purpose === 'verification';
}

/** `<db>_cairn_verify`, cut to PostgreSQL's 63 bytes; never the source database itself. */
export function scratchDatabaseName(source: string): string {
  const name = `${source.slice(0, 63 - SCRATCH_SUFFIX.length)}${SCRATCH_SUFFIX}`;
  if (name !== source) return name;
  return `cairn_verify_${createHash('sha256').update(source).digest('hex').slice(0, 16)}`;
}

/** The Restore of an every-Nth verification: `<backup>-verify`. */
export function verificationName(backup: string, scheduledTime?: Date): string {
  return scheduledTime
    ? childName(backup, `verify-${minuteStamp(scheduledTime)}`)
    : childName(backup, 'verify');
}

/** The Restore that verifies `backup` of `policy`, or why there can be none. */
export function verificationRestore(
  kind: PolicyKind,
  policy: Policy,
  backup: Backup,
  scheduledTime?: Date,
): { restore: Restore } | { skip: string } {
  const v = policy.spec.verification;
  if (!v) return { skip: 'the policy has no spec.verification' };
  const ns = backup.metadata.namespace ?? 'default';
  const name = verificationName(backup.metadata.name, scheduledTime);
  let target: RestoreSpec['target'];
  if (kind === 'DatabaseBackup') {
    const db = (policy as DatabaseBackup).spec.database;
    if (!db?.host || !db.name) {
      return {
        skip: 'verification needs spec.database.host and spec.database.name (a databaseSelector names no server to restore into)',
      };
    }
    const { name: source, schemas: _schemas, allDatabases: _all, ...connection } = db;
    target = { database: { ...connection, name: v.target?.database?.name ?? scratchDatabaseName(source) } };
  } else {
    const claimName = v.target?.pvc?.claimName;
    if (!claimName) return { skip: 'verification needs spec.verification.target.pvc.claimName' };
    target = { pvc: { claimName, path: `${SCRATCH_FOLDER}/${name}` } };
  }
  const restore: Restore = {
    apiVersion: API_VERSION,
    kind: 'Restore',
    metadata: {
      name,
      namespace: ns,
      labels: {
        ...policyLabels(kind, policy.metadata.name),
        [Labels.backup]: backup.metadata.name,
        [PURPOSE_LABEL]: 'verification',
      },
      ...(scheduledTime ? { annotations: { [SCHEDULED_TIME_ANNOTATION]: kubeTime(scheduledTime) } } : {}),
      ownerReferences: [controllerRef(backup, 'Backup')],
    },
    spec: {
      backupRef: { name: backup.metadata.name },
      purpose: 'verification',
      target,
      ...(v.checks?.length ? { checks: v.checks } : {}),
      ...(v.activeDeadlineSeconds ? { activeDeadlineSeconds: v.activeDeadlineSeconds } : {}),
    },
  };
  return { restore };
}

/** A policy's Completed Backups that are not being deleted, newest first (newestFirst). */
export function completedNewestFirst(backups: readonly Backup[]): Backup[] {
  return newestFirst(backups.filter((b) => b.status?.phase === 'Completed' && !b.metadata.deletionTimestamp));
}

/** A verification of this policy is still running: start no other. */
export function verificationRunning(restores: readonly Restore[]): boolean {
  return restores.some((r) => isVerification(r) && !isFinished(r as unknown as Backup));
}

/**
 * everyNthBackup: the Backup to verify now, if any. Due when N backups completed since the newest
 * one that was verified (or is being verified); a policy that never verified verifies its first
 * completed backup right away, so a broken restore shows on day one.
 */
export function dueByCount(
  policy: Policy,
  backups: readonly Backup[],
  restores: readonly Restore[],
): Backup | undefined {
  const v = policy.spec.verification;
  if (!v?.everyNthBackup || v.suspend || policy.metadata.deletionTimestamp) return undefined;
  if (verificationRunning(restores)) return undefined;
  const completed = completedNewestFirst(backups);
  const newest = completed[0];
  if (!newest) return undefined;
  const verifying = new Set(restores.filter(isVerification).map((r) => r.spec.backupRef.name));
  const last = policy.status?.lastVerification?.backup;
  const marked = completed.findIndex(
    (b) =>
      verifying.has(b.metadata.name) ||
      b.metadata.name === last ||
      getCondition(b.status?.conditions, 'Verified') !== undefined,
  );
  if (marked === 0) return undefined;
  if (marked < 0 && !last) return newest;
  const since = marked < 0 ? completed.length : marked;
  return since >= v.everyNthBackup ? newest : undefined;
}
