/**
 * job-watcher's reads, all before any decision: for an event about a Job or a Pod, the run (Backup
 * or Restore) that owns the Job, the Job and its Pods, the run's policy with its Backups and
 * verification Restores, and a verification's Backup; on the tick, every open run with its Job
 * and Pods, and every policy with its Backups and Restores.
 */
import type { Backup, PolicyKind, Restore } from '../../shared/api/index.ts';
import type { ParsedResourceEvent } from '../../shared/events.ts';
import type { KubeClient, KubeObject } from '../../shared/kube.ts';
import { Labels, MANAGED_BY } from '../../shared/labels.ts';
import {
  backupsOf,
  groupKey,
  isFinished,
  isSnapshotBackup,
  type Policy,
  waitsForBackup,
} from '../../shared/policy.ts';
import { isVerification } from '../../shared/verification.ts';
import type { JobState } from './outcome.ts';
import { isClaimRestore } from './snapshots.ts';

export type RunKind = 'Backup' | 'Restore';

/** A run and what its Job (or, for a snapshot run, its VolumeSnapshots or claim) says. */
export interface RunState extends JobState {
  kind: RunKind;
  run: Backup | Restore;
  /** The event was the Job's deletion. */
  jobDeleted: boolean;
}

/** A run whose Job could not be read: the error is recorded on the run, the others go on. */
export interface UnreadRun {
  kind: RunKind;
  run: Backup | Restore;
  error: unknown;
}

/** A policy and everything its status and verifications derive from. */
export interface PolicyState {
  kind: PolicyKind;
  policy: Policy;
  /** Its Backups. */
  backups: Backup[];
  /** The Restores labelled with it (its verifications); only read when it has spec.verification. */
  restores: Restore[];
}

/** What an event about one Job or Pod needs. */
export interface EventState {
  /** The run the Job belongs to; undefined when the run is gone. */
  run?: RunState;
  /** The run's policy (or, when the run is gone, the policy its Job's labels name). */
  policy?: PolicyState;
  /** A verification Restore's Backup. */
  verifiedBackup?: Backup;
}

/** What the tick needs: every open run and every policy. */
export interface TickState {
  runs: (RunState | UnreadRun)[];
  policies: PolicyState[];
  /** Every Backup and Restore (finished verifications are recorded on their Backups). */
  backups: Backup[];
  restores: Restore[];
}

/** Which run a Job (or its labels) belongs to. */
export function runOf(
  labels: Record<string, string> | undefined,
): { kind: RunKind; name: string } | undefined {
  const restore = labels?.[Labels.restore];
  if (restore) return { kind: 'Restore', name: restore };
  const backup = labels?.[Labels.backup];
  return backup ? { kind: 'Backup', name: backup } : undefined;
}

export function jobNameOfPod(pod: KubeObject): string | undefined {
  const l = pod.metadata.labels ?? {};
  return l['batch.kubernetes.io/job-name'] ?? l['job-name'];
}

async function jobAndPods(
  kube: KubeClient,
  namespace: string,
  jobName: string,
): Promise<{ job: KubeObject | undefined; pods: KubeObject[] }> {
  const [job, pods] = await Promise.all([
    kube.get<KubeObject>('Job', namespace, jobName),
    kube.list<KubeObject>('Pod', namespace, { labelSelector: `job-name=${jobName}` }),
  ]);
  return { job, pods };
}

async function policyState(
  kube: KubeClient,
  namespace: string,
  kind: PolicyKind,
  name: string,
): Promise<PolicyState | undefined> {
  const selector = { labelSelector: `${Labels.policy}=${name}` };
  const [policy, backups] = await Promise.all([
    kube.get<Policy>(kind, namespace, name),
    kube.list<Backup>('Backup', namespace, selector),
  ]);
  if (!policy) return undefined;
  const restores = policy.spec.verification ? await kube.list<Restore>('Restore', namespace, selector) : [];
  return { kind, policy, backups: backupsOf(kind, policy, backups), restores };
}

/** The state an event about a Job or a Pod needs; undefined when it is about no run of Cairn's. */
/** The VolumeSnapshots of a snapshot run, by its label. */
const snapshotsOf = (kube: KubeClient, namespace: string, backup: string) =>
  kube.list<KubeObject>('VolumeSnapshot', namespace, { labelSelector: `${Labels.backup}=${backup}` });

/** An event about a Backup's VolumeSnapshot (backupStrategy snapshot): the Backup and all its snapshots. */
async function gatherSnapshotEvent(
  kube: KubeClient,
  ev: ParsedResourceEvent,
): Promise<EventState | undefined> {
  const name = (ev.object as KubeObject).metadata.labels?.[Labels.backup];
  if (!name) return undefined;
  const run = await kube.get<Backup>('Backup', ev.namespace, name);
  if (!run) return undefined;
  const [snapshots, policy] = await Promise.all([
    snapshotsOf(kube, ev.namespace, name),
    policyState(kube, ev.namespace, run.spec.policyRef.kind, run.spec.policyRef.name),
  ]);
  return {
    run: { kind: 'Backup', run, job: undefined, pods: [], jobDeleted: false, snapshots },
    ...(policy ? { policy } : {}),
  };
}

/** An event about the claim a snapshot Restore fills: the Restore and the claim as it is now. */
async function gatherClaimEvent(kube: KubeClient, ev: ParsedResourceEvent): Promise<EventState | undefined> {
  const name = (ev.object as KubeObject).metadata.labels?.[Labels.restore];
  if (!name) return undefined;
  const run = await kube.get<Restore>('Restore', ev.namespace, name);
  if (!run || !isClaimRestore(run) || run.status?.claimName !== ev.name) return undefined;
  const claim = await kube.get<KubeObject>('PersistentVolumeClaim', ev.namespace, ev.name);
  return { run: { kind: 'Restore', run, job: undefined, pods: [], jobDeleted: false, claim } };
}

export async function gatherEvent(
  kube: KubeClient,
  ev: ParsedResourceEvent,
): Promise<EventState | undefined> {
  if (ev.kind === 'VolumeSnapshot') return gatherSnapshotEvent(kube, ev);
  if (ev.kind === 'PersistentVolumeClaim') return gatherClaimEvent(kube, ev);
  const object = ev.object as KubeObject;
  const jobName = ev.kind === 'Job' ? ev.name : jobNameOfPod(object);
  const owner = runOf(object.metadata.labels);
  if (!jobName || !owner) return undefined;
  const namespace = ev.namespace;
  const run = await kube.get<Backup | Restore>(owner.kind, namespace, owner.name);
  if (!run) {
    // The Backup is gone (retention, a person): its policy's status must forget it.
    const labels = object.metadata.labels ?? {};
    const kind = labels[Labels.policyKind] as PolicyKind | undefined;
    const name = labels[Labels.policy];
    if (owner.kind !== 'Backup' || !kind || !name) return undefined;
    const policy = await policyState(kube, namespace, kind, name);
    return policy ? { policy } : {};
  }
  const jobDeleted = ev.kind === 'Job' && ev.action === 'delete';
  const [{ job, pods }, policy, verifiedBackup] = await Promise.all([
    jobDeleted ? { job: undefined, pods: [] } : jobAndPods(kube, namespace, jobName),
    owner.kind === 'Backup'
      ? policyState(kube, namespace, (run as Backup).spec.policyRef.kind, (run as Backup).spec.policyRef.name)
      : undefined,
    owner.kind === 'Restore' && isVerification(run as Restore)
      ? kube.get<Backup>('Backup', namespace, (run as Restore).spec.backupRef.name)
      : undefined,
  ]);
  return {
    run: { kind: owner.kind, run, job, pods, jobDeleted },
    ...(policy ? { policy } : {}),
    ...(verifiedBackup ? { verifiedBackup } : {}),
  };
}

/**
 * The tick's state: four LISTs, then each open run's Job and Pods (a run that cannot be read is kept
 * with its error). Read consistently, not from the watch cache: each policy's status is derived
 * from the Backups listed, and a stale list would write an older history back.
 */
export async function gatherTick(kube: KubeClient): Promise<TickState> {
  const [backups, restores, dbbs, bps] = await Promise.all([
    kube.list<Backup>('Backup', undefined),
    kube.list<Restore>('Restore', undefined),
    kube.list<Policy>('DatabaseBackup', undefined),
    kube.list<Policy>('BackupPolicy', undefined),
  ]);
  const open: [RunKind, Backup | Restore][] = [
    ...backups.filter((b) => !isFinished(b)).map((b): [RunKind, Backup] => ['Backup', b]),
    // A Restore waiting for its Backup has no Job yet: restore-runner starts it (seed 003).
    ...restores
      .filter((r) => !isFinished(r) && !waitsForBackup(r))
      .map((r): [RunKind, Restore] => ['Restore', r]),
  ];
  // Snapshot runs: one LIST of Cairn's VolumeSnapshots, only when there is one (a cluster without
  // the snapshot CRDs never asks).
  const snapshotRuns = open.filter(([kind, run]) => kind === 'Backup' && isSnapshotBackup(run as Backup));
  const allSnapshots =
    snapshotRuns.length > 0
      ? await kube.list<KubeObject>('VolumeSnapshot', undefined, {
          labelSelector: `${Labels.managedBy}=${MANAGED_BY}`,
        })
      : [];
  const runs = await Promise.all(
    open.map(async ([kind, run]): Promise<RunState | UnreadRun> => {
      if (kind === 'Backup' && isSnapshotBackup(run as Backup)) {
        const ns = run.metadata.namespace ?? 'default';
        const snapshots = allSnapshots.filter(
          (s) =>
            (s.metadata.namespace ?? 'default') === ns &&
            s.metadata.labels?.[Labels.backup] === run.metadata.name,
        );
        return { kind, run, job: undefined, pods: [], jobDeleted: false, snapshots };
      }
      try {
        if (kind === 'Restore' && isClaimRestore(run as Restore)) {
          const ns = run.metadata.namespace ?? 'default';
          const claim = await kube.get<KubeObject>(
            'PersistentVolumeClaim',
            ns,
            String((run as Restore).status?.claimName),
          );
          return { kind, run, job: undefined, pods: [], jobDeleted: false, claim };
        }
        const jobName = run.status?.jobName ?? run.metadata.name;
        const { job, pods } = await jobAndPods(kube, run.metadata.namespace ?? 'default', jobName);
        return { kind, run, job, pods, jobDeleted: false };
      } catch (error) {
        return { kind, run, error };
      }
    }),
  );
  const byPolicy = new Map<string, Backup[]>();
  for (const b of backups) {
    const key = groupKey(b.metadata.namespace, b.spec.policyRef.kind, b.spec.policyRef.name);
    byPolicy.set(key, [...(byPolicy.get(key) ?? []), b]);
  }
  const policies = [
    ...dbbs.map((p): [PolicyKind, Policy] => ['DatabaseBackup', p]),
    ...bps.map((p): [PolicyKind, Policy] => ['BackupPolicy', p]),
  ].map(([kind, policy]): PolicyState => {
    const ns = policy.metadata.namespace ?? 'default';
    return {
      kind,
      policy,
      backups: byPolicy.get(groupKey(ns, kind, policy.metadata.name)) ?? [],
      restores: policy.spec.verification
        ? restores.filter(
            (r) =>
              (r.metadata.namespace ?? 'default') === ns &&
              r.metadata.labels?.[Labels.policy] === policy.metadata.name,
          )
        : [],
    };
  });
  return { runs, policies, backups, restores };
}
