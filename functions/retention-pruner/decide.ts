/**
 * retention-pruner's pure decision for one policy: expire what the retention rules no longer
 * keep, delete the artifacts of Backups being deleted (through an agent Job, so storage
 * credentials stay in pods; a snapshot Backup's VolumeSnapshots directly) before releasing their
 * finalizer, and trim finished Jobs to the
 * history limits (seed 001's job cleanup).
 */
import { createHash } from 'node:crypto';
import { allowListFromEnv, jobIdentityRefusal } from '../../shared/allowlist.ts';
import type { Backup, PolicyKind, Restore } from '../../shared/api/index.ts';
import { API_VERSION } from '../../shared/api/index.ts';
import { agentJob, artifactKeysOfJob, destinationBinding } from '../../shared/jobs.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { ARTIFACT_FINALIZER, Labels, MANAGED_BY } from '../../shared/labels.ts';
import { childName } from '../../shared/naming.ts';
import type { Action, Plan, Ref } from '../../shared/plan.ts';
import { isFinished, isSnapshotBackup, type Policy } from '../../shared/policy.ts';
import { applyRetention, rulesOf } from './retention.ts';

export const PRUNE_ANNOTATION = 'backup.cairn.dev/prune-backups';

export interface PrunerState {
  kind: PolicyKind;
  name: string;
  namespace: string;
  /** Undefined when the policy is gone (its Backups may still need their artifacts deleted). */
  policy: Policy | undefined;
  backups: Backup[];
  /** Jobs labelled with this policy: backup Jobs and prune Jobs. */
  jobs: KubeObject[];
  /** The Restores of the namespace (those reading this policy's Backups pin them). */
  restores: Restore[];
  /** The VolumeSnapshots of this policy's snapshot Backups (read only when it has such Backups). */
  snapshots?: KubeObject[];
}

/** Names of the Backups a Restore still reads (not finished, not being deleted). */
function readByRestores(restores: readonly Restore[]): Set<string> {
  return new Set(
    restores.filter((r) => !isFinished(r) && !r.metadata.deletionTimestamp).map((r) => r.spec.backupRef.name),
  );
}

/** The backup Job of a Backup, if it is still there. */
function backupJobOf(b: Backup, jobs: readonly KubeObject[]): KubeObject | undefined {
  const name = b.status?.jobName ?? b.metadata.name;
  return jobs.find((j) => j.metadata.name === name && j.metadata.labels?.[Labels.component] === 'backup');
}

/**
 * A Job none of whose Pods can still write: finished, or suspended with no Pod left (the Job
 * controller deletes a suspended Job's Pods; `terminating` counts those not gone yet).
 */
function stopped(job: KubeObject): boolean {
  if (jobDone(job, 'Complete') || jobDone(job, 'Failed')) return true;
  return (
    job.spec?.suspend === true &&
    !job.metadata.deletionTimestamp &&
    (job.status?.active ?? 0) === 0 &&
    (job.status?.terminating ?? 0) === 0
  );
}

function jobDone(job: KubeObject, type: 'Complete' | 'Failed'): boolean {
  return (
    (job.status?.conditions as { type: string; status: string }[] | undefined)?.some(
      (c) => c.type === type && c.status === 'True',
    ) ?? false
  );
}

/**
 * A merge patch replaces a list whole: the resourceVersion read makes it a precondition (409 if
 * the object changed since), so a finalizer or owner another controller added meanwhile is not
 * dropped; the conflict decides again from the newer object.
 */
function guard(o: KubeObject): { resourceVersion?: string } {
  return o.metadata.resourceVersion ? { resourceVersion: o.metadata.resourceVersion } : {};
}

function releaseFinalizer(b: Backup, why: string): Action {
  return {
    type: 'patch',
    kind: 'Backup',
    namespace: b.metadata.namespace ?? 'default',
    name: b.metadata.name,
    patch: {
      metadata: {
        ...guard(b),
        finalizers: (b.metadata.finalizers ?? []).filter((f) => f !== ARTIFACT_FINALIZER),
      },
    },
    why,
  };
}

function orphan(v: KubeObject, b: Backup): Action {
  return {
    type: 'patch',
    kind: 'VolumeSnapshot',
    namespace: v.metadata.namespace ?? 'default',
    name: v.metadata.name,
    patch: {
      metadata: {
        ...guard(v),
        ownerReferences: (v.metadata.ownerReferences ?? []).filter((r) => r.uid !== b.metadata.uid),
      },
    },
    why: `deletionPolicy Retain: the VolumeSnapshot outlives Backup ${b.metadata.name}`,
  };
}

/** A snapshot Backup's artifacts are its VolumeSnapshots. */

/**
 * A snapshot Backup's VolumeSnapshots are deleted (the CSI snapshot controller deletes their
 * contents), and the Backup is released once none is left: their delete events bring it here.
 */
function deleteSnapshots(b: Backup, snapshots: readonly KubeObject[]): Action[] {
  if (snapshots.length === 0) return [releaseFinalizer(b, 'its VolumeSnapshots are deleted')];
  return snapshots
    .filter((v) => !v.metadata.deletionTimestamp)
    .map(
      (v): Action => ({
        type: 'delete',
        kind: 'VolumeSnapshot',
        namespace: v.metadata.namespace ?? 'default',
        name: v.metadata.name,
        ...(v.metadata.uid ? { uid: v.metadata.uid } : {}),
        why: `Backup ${b.metadata.name} is being deleted: its snapshots go first`,
      }),
    );
}

/** Backups in deletion whose artifact is still to be deleted, grouped by where they are stored. */
function pruneGroups(deleting: Backup[]): Map<string, Backup[]> {
  const groups = new Map<string, Backup[]>();
  for (const b of deleting) {
    const key = JSON.stringify(b.status?.destination ?? {});
    groups.set(key, [...(groups.get(key) ?? []), b]);
  }
  return groups;
}

export function decide(state: PrunerState, now: Date): Plan {
  const { policy, backups, jobs, namespace } = state;
  const plan: Action[] = [];
  const at: Ref = { apiVersion: API_VERSION, kind: state.kind, namespace, name: state.name };

  const inUse = readByRestores(state.restores);

  // 1. Expire what no retention rule keeps (never what a running Restore reads).
  if (policy && !policy.metadata.deletionTimestamp) {
    const rules = rulesOf(policy);
    const { expire } = applyRetention(backups, rules, policy.spec.timeZone ?? 'UTC', now, inUse);
    for (const b of expire) {
      plan.push({
        type: 'delete',
        kind: 'Backup',
        namespace,
        name: b.metadata.name,
        ...(b.metadata.uid ? { uid: b.metadata.uid } : {}),
        why: 'no retention rule keeps it',
      });
    }
    if (expire.length > 0) {
      const said = [
        rules.keepLast !== undefined ? `keepLast=${rules.keepLast}` : '',
        rules.keepWithinMs !== undefined ? `keepWithin=${rules.keepWithinMs / 3600e3}h` : '',
        rules.keepDaily ? `keepDaily=${rules.keepDaily}` : '',
        rules.keepWeekly ? `keepWeekly=${rules.keepWeekly}` : '',
        rules.keepMonthly ? `keepMonthly=${rules.keepMonthly}` : '',
        rules.keepFailed !== undefined ? `keepFailed=${rules.keepFailed}` : '',
      ].filter(Boolean);
      plan.push({
        type: 'event',
        involved: { ...at, ...(policy.metadata.uid ? { uid: policy.metadata.uid } : {}) },
        eventType: 'Normal',
        reason: 'CleanupTriggered',
        message: `Deleting ${expire.length} old backup(s) (${said.join(', ')}): ${expire.map((b) => b.metadata.name).join(', ')}`,
      });
    }
  }

  // 2. Backups being deleted: artifact first, then the finalizer.
  const deleting = backups.filter(
    (b) => b.metadata.deletionTimestamp && b.metadata.finalizers?.includes(ARTIFACT_FINALIZER),
  );
  const needArtifactDelete: Backup[] = [];
  const keysOf = new Map<string, string[]>();
  for (const b of deleting) {
    const snapshots = (state.snapshots ?? []).filter(
      (v) => v.metadata.labels?.[Labels.backup] === b.metadata.name,
    );
    if (b.spec.deletionPolicy === 'Retain') {
      // The snapshots stay: no longer owned by the Backup, or garbage collection would take them.
      for (const v of snapshots.filter((x) =>
        x.metadata.ownerReferences?.some((r) => r.uid === b.metadata.uid),
      ))
        plan.push(orphan(v, b));
      plan.push(releaseFinalizer(b, 'deletionPolicy Retain: the artifact stays'));
      continue;
    }
    // A Restore still reads it: the artifact stays until the Restore ends.
    if (inUse.has(b.metadata.name)) continue;
    if (isSnapshotBackup(b)) {
      plan.push(...deleteSnapshots(b, snapshots));
      continue;
    }
    // Its run may still write (Replace, a person deleting a running Backup): stop the Job first,
    // and delete what it wrote once no Pod of it can write any more.
    const job = backupJobOf(b, jobs);
    if (job && !stopped(job)) {
      if (job.spec?.suspend !== true && !job.metadata.deletionTimestamp) {
        plan.push({
          type: 'patch',
          kind: 'Job',
          namespace,
          name: job.metadata.name,
          patch: { spec: { suspend: true } },
          why: `Backup ${b.metadata.name} is being deleted: stop its run before deleting what it wrote`,
        });
      }
      continue;
    }
    // What the run may have written: the keys it reported, and the keys its arguments name (a run
    // that uploaded but was stopped, or whose result was not recorded yet, reported none).
    const fromJob = job ? artifactKeysOfJob(job) : undefined;
    const keys = [
      ...new Set(
        [b.status?.key, b.status?.manifestKey, fromJob?.key, fromJob?.manifestKey].filter(
          (k): k is string => typeof k === 'string' && k !== '',
        ),
      ),
    ];
    if (keys.length === 0 || !b.status?.destination) {
      plan.push(releaseFinalizer(b, 'no artifact was written'));
      continue;
    }
    keysOf.set(b.metadata.name, keys);
    needArtifactDelete.push(b);
  }
  for (const group of pruneGroups(needArtifactDelete).values()) {
    const names = group.map((b) => b.metadata.name).sort();
    const hash = createHash('sha256').update(names.join(',')).digest('hex').slice(0, 8);
    const jobName = childName(state.name, `prune-${hash}`);
    const job = jobs.find((j) => j.metadata.name === jobName);
    const first = group[0] as Backup;
    if (!job) {
      const dest = first.status?.destination ?? { type: 'pvc' as const };
      const { agent, binding } = destinationBinding(dest);
      const keys = group.flatMap((b) => keysOf.get(b.metadata.name) ?? []);
      const labels = {
        [Labels.managedBy]: MANAGED_BY,
        [Labels.partOf]: MANAGED_BY,
        [Labels.policy]: state.name,
        [Labels.policyKind]: state.kind,
        [Labels.component]: 'prune',
      };
      const j = agentJob({
        name: jobName,
        namespace,
        // The Job belongs to the first Backup: it outlives none of them by more than GC's delay.
        owner: first,
        ownerKind: 'Backup',
        labels,
        options: { command: 'delete', destination: agent, keys },
        binding,
        // Only what the cluster admin allows (shared/allowlist.ts); else the agent and default account.
        ...(policy && !jobIdentityRefusal(policy.spec, namespace, allowListFromEnv())
          ? { image: policy.spec.backupImage, serviceAccountName: policy.spec.serviceAccountName }
          : {}),
        backoffLimit: 3,
        activeDeadlineSeconds: 900,
      });
      j.metadata.annotations = { [PRUNE_ANNOTATION]: names.join(',') };
      plan.push({
        type: 'create',
        kind: 'Job',
        object: j,
        why: `delete the artifacts of ${names.join(', ')}`,
      });
    } else if (jobDone(job, 'Complete')) {
      for (const b of group) plan.push(releaseFinalizer(b, `its artifact was deleted by Job ${jobName}`));
    } else if (jobDone(job, 'Failed')) {
      plan.push({
        type: 'event',
        involved: at,
        eventType: 'Warning',
        reason: 'PruneFailed',
        message: `Job ${jobName} could not delete the artifacts of ${names.join(', ')}; they keep their finalizer. Fix the storage access and delete the Job to retry.`,
      });
    }
  }

  // 3. Trim finished backup Jobs to the history limits — only once their Backup recorded the
  // result (read from the Job's Pod): before that, deleting the Job would lose it.
  if (policy) {
    const recorded = (j: KubeObject) => {
      const b = backups.find((x) => x.metadata.name === j.metadata.labels?.[Labels.backup]);
      return b === undefined || isFinished(b);
    };
    const finished = jobs
      .filter(
        (j) =>
          j.metadata.labels?.[Labels.component] === 'backup' && !j.metadata.deletionTimestamp && recorded(j),
      )
      .sort((a, b) =>
        String(b.status?.completionTime ?? b.metadata.creationTimestamp).localeCompare(
          String(a.status?.completionTime ?? a.metadata.creationTimestamp),
        ),
      );
    const spec = policy.spec;
    const over = [
      ...finished.filter((j) => jobDone(j, 'Complete')).slice(spec.successfulJobsHistoryLimit ?? 3),
      ...finished.filter((j) => jobDone(j, 'Failed')).slice(spec.failedJobsHistoryLimit ?? 1),
    ];
    for (const j of over) {
      plan.push({
        type: 'delete',
        kind: 'Job',
        namespace,
        name: j.metadata.name,
        propagationPolicy: 'Background',
        why: 'beyond the Jobs history limit (the Backup keeps its result)',
      });
    }
  }
  return plan;
}
