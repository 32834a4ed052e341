/**
 * job-launcher's pure decision: a Backup without a Job gets one (a snapshot policy's Backup gets a
 * VolumeSnapshot of each claim instead) — or, when its source or volumes
 * are missing, or its policy asks for an image or ServiceAccount the cluster admin did not allow
 * (shared/allowlist.ts), goes Failed with a reason a person understands, and an Event. Secrets
 * are only referenced: a missing one surfaces from the Pod.
 */
import type { AgentSource } from '../../shared/agent-contract.ts';
import { allowListFromEnv, type JobAllowList, jobIdentityRefusal } from '../../shared/allowlist.ts';
import type { Backup, BackupPolicy, DatabaseBackup, PolicyKind } from '../../shared/api/index.ts';
import { kubeTime } from '../../shared/clock.ts';
import type { ConditionInput } from '../../shared/conditions.ts';
import { Reason } from '../../shared/conditions.ts';
import {
  agentJob,
  type Binding,
  databaseConnection,
  destinationBinding,
  emptyBinding,
  keysBinding,
  mergeBindings,
  passwordEnv,
  sourceVolumesBinding,
} from '../../shared/jobs.ts';
import { Labels, SeedLabels, selectorToString } from '../../shared/labels.ts';
import type { Action, Plan } from '../../shared/plan.ts';
import { refOf } from '../../shared/plan.ts';
import {
  adoptionPatch,
  controllerRef,
  destinationOf,
  isFinished,
  isLaunched,
  isSnapshotPolicy,
  type Policy,
  policyLabels,
} from '../../shared/policy.ts';
import { snapshotName, volumeSnapshot } from '../../shared/snapshots.ts';
import { MissingCredentials, type PodInfo, podConnection } from './pod-credentials.ts';

export interface Endpoint {
  /** Service DNS name or Pod IP. */
  host: string;
  port?: number;
  /** What it is, for messages: `Service postgres`. */
  what: string;
}

export interface LaunchState {
  backup: Backup;
  policy: Policy | undefined;
  /** Endpoints databaseSelector matched (Services first, then ready Pods), sorted. */
  endpoints: Endpoint[];
  /** PVCs the policy names (destination) and whether each exists. */
  claims: Record<string, boolean>;
  /** PVCs pvcSelector matched, sorted. */
  selectedClaims: string[];
  /** Running Pods databaseSelector (or the Service it found) picked, sorted: the first holds the credentials. */
  selectedPods?: PodInfo[];
}

/** The condition on a Backup that says where a databaseSelector's connection came from. */
export const CONNECTION_RESOLVED = 'ConnectionResolved';

class Refusal {
  constructor(
    readonly reason: string,
    readonly message: string,
    readonly conditions: ConditionInput[] = [],
  ) {}
}

function fail(
  state: LaunchState,
  now: Date,
  reason: string,
  message: string,
  extra: ConditionInput[] = [],
): Plan {
  const b = state.backup;
  const at = refOf(b, 'Backup');
  return [
    {
      type: 'status',
      kind: 'Backup',
      namespace: at.namespace,
      name: at.name,
      set: { phase: 'Failed', reason, message, completionTime: kubeTime(now) },
      conditions: [{ type: 'Ready', status: 'False', reason, message }, ...extra],
      ...(b.metadata.generation === undefined ? {} : { observedGeneration: b.metadata.generation }),
      why: message,
    },
    { type: 'event', involved: at, eventType: 'Warning', reason: Reason.BackupFailed, message },
  ];
}

function needClaim(state: LaunchState, name: string, field: string): void {
  if (!state.claims[name]) {
    throw new Refusal(
      'VolumeNotFound',
      `PersistentVolumeClaim ${name} (${field}) does not exist in namespace ${state.backup.metadata.namespace}`,
    );
  }
}

function databaseSource(
  state: LaunchState,
  p: DatabaseBackup,
): { source: AgentSource; binding: Binding; condition?: ConditionInput } {
  const spec = p.spec;
  const type = spec.databaseType ?? 'postgres';
  const db = spec.database ?? {};
  let host = db.host;
  let port = db.port;
  let user = db.user;
  let name = db.name;
  let condition: ConditionInput | undefined;
  const binding = emptyBinding();
  if (!host) {
    const first = state.endpoints[0];
    if (!first) {
      throw new Refusal(
        Reason.SourceNotFound,
        `no Service or running Pod in namespace ${p.metadata.namespace} matches databaseSelector ${selectorToString(spec.databaseSelector ?? {})}`,
      );
    }
    host = first.host;
    port ??= first.port;
    // The credentials the selected Pod's image was configured with (seed 000 put them there).
    const pod = state.selectedPods?.[0];
    if (pod) {
      try {
        const found = podConnection(type, db, pod);
        user = found.user;
        name ??= found.database;
        port ??= found.port;
        if (found.password) binding.env.push(found.password);
        condition = { type: CONNECTION_RESOLVED, status: 'True', reason: 'FromPod', message: found.found };
      } catch (err) {
        if (!(err instanceof MissingCredentials)) throw err;
        throw new Refusal('CredentialsNotFound', err.message, [
          { type: CONNECTION_RESOLVED, status: 'False', reason: 'CredentialsNotFound', message: err.message },
        ]);
      }
    } else {
      condition = {
        type: CONNECTION_RESOLVED,
        status: 'False',
        reason: 'NoPodFound',
        message: `${first.what} selects no running Pod to read the credentials from: connecting with spec.database or the engine's defaults`,
      };
    }
  }
  if (db.passwordSecretRef) binding.env.push(passwordEnv(type, db.passwordSecretRef));
  const conn = databaseConnection(type, host, port, user);
  const source: AgentSource =
    type === 'postgres'
      ? {
          kind: 'postgres',
          ...conn,
          ...(db.allDatabases ? { allDatabases: true } : { database: name ?? 'postgres' }),
          ...(db.schemas?.length ? { schemas: db.schemas } : {}),
          format: spec.format ?? 'custom',
        }
      : {
          kind: type,
          ...conn,
          ...(db.allDatabases || !name ? { allDatabases: true } : { database: name }),
        };
  return { source, binding, ...(condition ? { condition } : {}) };
}

function needSelectedClaims(state: LaunchState, p: BackupPolicy): void {
  if (state.selectedClaims.length === 0) {
    throw new Refusal(
      'VolumeNotFound',
      `no PersistentVolumeClaim in namespace ${p.metadata.namespace} matches pvcSelector ${selectorToString(p.spec.pvcSelector)}`,
    );
  }
}

function volumeSource(state: LaunchState, p: BackupPolicy): { source: AgentSource; binding: Binding } {
  const strategy = p.spec.backupStrategy ?? 'tar';
  needSelectedClaims(state, p);
  const { paths, binding } = sourceVolumesBinding(state.selectedClaims);
  if (strategy === 'custom') return { source: { kind: 'custom', command: p.spec.command ?? [] }, binding };
  return { source: { kind: 'tar', paths }, binding };
}

/** Seed 002's labels on what a BackupPolicy's run creates; `pvc` only when it is one claim's. */
function seedLabels(policy: Policy, claims: readonly string[]): Record<string, string> {
  return {
    [SeedLabels.backupPolicy]: policy.metadata.name,
    ...(claims.length === 1 ? { [SeedLabels.pvc]: claims[0] as string } : {}),
  };
}

/**
 * backupStrategy snapshot: a CSI VolumeSnapshot of each selected claim (of the policy's class, or
 * the cluster's default), owned by the Backup and labelled so the cairn-snapshots source sees it;
 * no Job, no destination. job-watcher follows the snapshots to readyToUse or an error. The status
 * goes after the creates: once it names the snapshots, they were made.
 */
function snapshotPlan(state: LaunchState, p: BackupPolicy, now: Date): Action[] {
  needSelectedClaims(state, p);
  const at = refOf(state.backup, 'Backup');
  const made = state.selectedClaims.map((claim) => ({ claim, name: snapshotName(at.name, claim) }));
  const plan: Action[] = made.map(({ claim, name }) => ({
    type: 'create',
    kind: 'VolumeSnapshot',
    object: volumeSnapshot({
      name,
      namespace: at.namespace,
      claim,
      className: p.spec.volumeSnapshotClassName,
      labels: {
        ...policyLabels('BackupPolicy', p.metadata.name),
        [Labels.backup]: at.name,
        [Labels.component]: 'snapshot',
        ...seedLabels(p, [claim]),
      },
      owner: controllerRef(state.backup, 'Backup'),
    }),
    why: `snapshot claim ${claim} for Backup ${at.name}`,
  }));
  const list = made.map(({ claim, name }) => `${name} of claim ${claim}`).join(', ');
  plan.push(
    {
      type: 'status',
      kind: 'Backup',
      namespace: at.namespace,
      name: at.name,
      set: {
        phase: 'Pending',
        startTime: kubeTime(now),
        snapshots: made.map(({ claim, name }) => ({ name, persistentVolumeClaimName: claim })),
      },
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: Reason.SnapshotsCreated,
          message: `VolumeSnapshots created: ${list}`,
        },
      ],
      why: 'the VolumeSnapshots exist',
    },
    {
      type: 'event',
      involved: at,
      eventType: 'Normal',
      reason: Reason.SnapshotsCreated,
      message: `Created VolumeSnapshots ${list}`.slice(0, 1024),
    },
  );
  return plan;
}

export function decide(state: LaunchState, now: Date, allow: JobAllowList = allowListFromEnv()): Plan {
  const { backup, policy } = state;
  if (backup.metadata.deletionTimestamp || isFinished(backup) || isLaunched(backup)) return [];
  const kind: PolicyKind = backup.spec.policyRef.kind;
  const at = refOf(backup, 'Backup');
  try {
    if (!policy) {
      throw new Refusal(
        'PolicyNotFound',
        `${kind} ${backup.spec.policyRef.name} does not exist in namespace ${at.namespace}`,
      );
    }
    const refused = jobIdentityRefusal(policy.spec, at.namespace, allow);
    if (refused) throw new Refusal(refused.reason, refused.message);
    if (kind === 'BackupPolicy' && isSnapshotPolicy(policy))
      return [...adopt(state), ...snapshotPlan(state, policy as BackupPolicy, now)];
    const {
      source,
      binding: sourceBinding,
      condition,
    }: { source: AgentSource; binding: Binding; condition?: ConditionInput } = kind === 'DatabaseBackup'
      ? databaseSource(state, policy as DatabaseBackup)
      : volumeSource(state, policy as BackupPolicy);
    const spec = policy.spec;
    const dest = destinationOf(policy);
    if (dest.type === 'pvc') needClaim(state, dest.claimName ?? '', 'spec.storageDestination.claimName');
    const { agent, binding: destBinding } = destinationBinding(dest);
    const labels = {
      ...policyLabels(kind, policy.metadata.name),
      [Labels.backup]: at.name,
      [Labels.component]: 'backup',
    };
    const job = agentJob({
      name: at.name,
      namespace: at.namespace,
      owner: backup,
      ownerKind: 'Backup',
      labels: { ...labels, ...(kind === 'BackupPolicy' ? seedLabels(policy, state.selectedClaims) : {}) },
      options: {
        command: 'backup',
        source,
        destination: agent,
        policy: policy.metadata.name,
        scheduledTime: backup.spec.scheduledTime ?? backup.metadata.creationTimestamp ?? now.toISOString(),
        backupName: at.name,
        compression: spec.compression ?? 'zstd',
        ...(spec.encryption ? { encryption: 'age' as const } : {}),
      },
      binding: mergeBindings(
        sourceBinding,
        destBinding,
        keysBinding('backup', spec.encryption, spec.signing),
      ),
      image: spec.backupImage,
      serviceAccountName: spec.serviceAccountName,
      resources: spec.resources,
      backoffLimit: spec.backoffLimit ?? 2,
      activeDeadlineSeconds: spec.activeDeadlineSeconds ?? 3600,
    });
    const plan: Action[] = [...adopt(state)];
    plan.push({ type: 'create', kind: 'Job', object: job, why: `run the agent for Backup ${at.name}` });
    plan.push({
      type: 'status',
      kind: 'Backup',
      namespace: at.namespace,
      name: at.name,
      set: { phase: 'Pending', jobName: at.name, compression: spec.compression ?? 'zstd', destination: dest },
      conditions: [
        { type: 'Ready', status: 'False', reason: Reason.JobCreated, message: `Job ${at.name} created` },
        ...(condition ? [condition] : []),
      ],
      why: 'the Job exists',
    });
    plan.push({
      type: 'event',
      involved: at,
      eventType: 'Normal',
      reason: Reason.JobCreated,
      message: `Created backup Job ${at.name}`,
    });
    return plan;
  } catch (err) {
    if (err instanceof Refusal)
      return [...adopt(state), ...fail(state, now, err.reason, err.message, err.conditions)];
    throw err;
  }
}

/**
 * A Backup made by hand (seed 003) gets what a scheduled one has, from job-launcher, the first
 * function to see it: the policy's labels (so its status and retention see it), the policy as its
 * owner and the artifact finalizer (so deleting it, or the policy, deletes its artifact too).
 */
function adopt(state: LaunchState): Action[] {
  const { backup, policy } = state;
  if (!policy) return [];
  const patch = adoptionPatch(backup.spec.policyRef.kind, policy, backup);
  if (!patch) return [];
  const at = refOf(backup, 'Backup');
  return [
    {
      type: 'patch',
      kind: 'Backup',
      namespace: at.namespace,
      name: at.name,
      patch,
      why: `a Backup made by hand: owned by its ${policy.kind ?? backup.spec.policyRef.kind} like a scheduled one`,
    },
  ];
}
