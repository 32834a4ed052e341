/**
 * restore-runner's pure decision: a Restore runs only from a Completed Backup of its own
 * namespace into a target that exists, with an image and ServiceAccount the cluster admin allows
 * (shared/allowlist.ts); then it gets its agent Job. Whether a database target is empty can only
 * be seen from inside it, so the agent checks that and refuses a non-empty target unless
 * spec.overwrite or spec.clean is set. Secrets are only referenced: a missing one surfaces from
 * the Pod.
 */
import type {
  AgentRestoreOptions,
  AgentVerifyOptions,
  RestoreTarget,
  VerifyCheck,
} from '../../shared/agent-contract.ts';
import { allowListFromEnv, type JobAllowList, jobIdentityRefusal } from '../../shared/allowlist.ts';
import type { Backup, DatabaseBackup, Restore } from '../../shared/api/index.ts';
import { kubeTime } from '../../shared/clock.ts';
import { Reason } from '../../shared/conditions.ts';
import {
  agentJob,
  type Binding,
  type DatabaseType,
  databaseConnection,
  destinationBinding,
  emptyBinding,
  keysBinding,
  mergeBindings,
  passwordEnv,
  RESTORE_MOUNT,
} from '../../shared/jobs.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { Labels, MANAGED_BY } from '../../shared/labels.ts';
import { restoreJobName } from '../../shared/naming.ts';
import type { Plan } from '../../shared/plan.ts';
import { refOf } from '../../shared/plan.ts';
import {
  destinationOf,
  isFinished,
  isRestoreStarted,
  isSnapshotBackup,
  type Policy,
} from '../../shared/policy.ts';
import { claimFromSnapshot, snapshotDataSource } from '../../shared/snapshots.ts';
import { isVerification, PURPOSE_LABEL, SCRATCH_FOLDER } from '../../shared/verification.ts';

export interface RestoreState {
  restore: Restore;
  backup: Backup | undefined;
  policy: Policy | undefined;
  /** PVCs the Restore and its Backup's destination name, and whether each exists. */
  claims: Record<string, boolean>;
  /** A snapshot Backup's VolumeSnapshots that still exist, by name (read only for such a Backup). */
  snapshots?: Record<string, KubeObject>;
  /** For a snapshot Backup: the target claim as it is, if it exists (its dataSource matters). */
  targetClaim?: KubeObject | undefined;
}

class Refusal extends Error {}

function refuse(state: RestoreState, now: Date, message: string): Plan {
  const at = refOf(state.restore, 'Restore');
  return [
    {
      type: 'status',
      kind: 'Restore',
      namespace: at.namespace,
      name: at.name,
      set: { phase: 'Failed', reason: Reason.RestoreRefused, message, completionTime: kubeTime(now) },
      conditions: [{ type: 'Ready', status: 'False', reason: Reason.RestoreRefused, message }],
      why: message,
    },
    { type: 'event', involved: at, eventType: 'Warning', reason: Reason.RestoreRefused, message },
  ];
}

/**
 * The Restore waits for its Backup: Pending, with the reason and an Event — each said once (the
 * tick and the Restore's own status event look again and find nothing new).
 */
function wait(restore: Restore, backupName: string, phase: string): Plan {
  const at = refOf(restore, 'Restore');
  const message = `waiting: Backup ${backupName} is ${phase}; the restore starts when it completes`;
  const s = restore.status ?? {};
  if (s.phase === 'Pending' && s.reason === Reason.WaitingForBackup && s.message === message) return [];
  return [
    {
      type: 'status',
      kind: 'Restore',
      namespace: at.namespace,
      name: at.name,
      set: { phase: 'Pending', reason: Reason.WaitingForBackup, message },
      conditions: [{ type: 'Ready', status: 'False', reason: Reason.WaitingForBackup, message }],
      why: message,
    },
    { type: 'event', involved: at, eventType: 'Normal', reason: Reason.WaitingForBackup, message },
  ];
}

/** Whether two folders of one claim overlap: one is the other or inside it ('' is the claim's root). */
function overlaps(a: string, b: string): boolean {
  const parts = (p: string) => p.split('/').filter((s) => s !== '' && s !== '.');
  const [x, y] = [parts(a), parts(b)];
  const n = Math.min(x.length, y.length);
  return x.slice(0, n).join('/') === y.slice(0, n).join('/');
}

/** A custom strategy's artifact: not a tar archive (its key says so when the policy is gone). */
function isCustom(backup: Backup, policy: Policy | undefined): boolean {
  if (policy) return (policy as { spec: { backupStrategy?: string } }).spec.backupStrategy === 'custom';
  const file = (backup.status?.key ?? '').split('/').pop() ?? '';
  return !/\.tar(\.|$)/.test(file);
}

/**
 * The database engine of a DatabaseBackup's Backup: its policy's databaseType, or — the policy gone
 * (kept with --cascade=orphan) — the Backup's database-type label, or its key (only pg_dump's
 * custom format makes a `.dump`).
 */
function databaseTypeOf(backup: Backup, policy: Policy | undefined): DatabaseType {
  if (policy) return (policy as DatabaseBackup).spec.databaseType ?? 'postgres';
  const label = backup.metadata.labels?.[Labels.databaseType];
  if (label === 'postgres' || label === 'mysql' || label === 'mariadb') return label;
  if (/\.dump(\.|$)/.test(backup.status?.key ?? '')) return 'postgres';
  throw new Refusal(
    `${backup.spec.policyRef.kind} ${backup.spec.policyRef.name} no longer exists and Backup ${backup.metadata.name} does not say which database made it: set its label ${Labels.databaseType} to postgres, mysql or mariadb`,
  );
}

function target(state: RestoreState, backup: Backup): { target: RestoreTarget; binding: Binding } {
  const { restore, policy } = state;
  const kind = backup.spec.policyRef.kind;
  const ns = restore.metadata.namespace ?? 'default';
  const t = restore.spec.target;
  const binding = emptyBinding();
  if (t.pvc) {
    if (kind !== 'BackupPolicy')
      throw new Refusal('a database backup can only be restored into a database target');
    if (isCustom(backup, policy)) {
      throw new Refusal(
        'a custom-strategy artifact is opaque to Cairn: download it from the Backup status.location',
      );
    }
    if (!state.claims[t.pvc.claimName]) {
      throw new Refusal(
        `PersistentVolumeClaim ${t.pvc.claimName} (spec.target.pvc.claimName) does not exist in namespace ${ns}`,
      );
    }
    binding.volumes.push({ name: 'restore-target', persistentVolumeClaim: { claimName: t.pvc.claimName } });
    binding.mounts.push({ name: 'restore-target', mountPath: RESTORE_MOUNT });
    // A verification removes its folder afterwards: never the whole claim.
    const path =
      t.pvc.path ?? (isVerification(restore) ? `${SCRATCH_FOLDER}/${restore.metadata.name}` : undefined);
    return { target: { kind: 'tar', directory: path ? `${RESTORE_MOUNT}/${path}` : RESTORE_MOUNT }, binding };
  }
  const db = t.database ?? {};
  if (kind !== 'DatabaseBackup') throw new Refusal('a volume backup can only be restored into a pvc target');
  const type = databaseTypeOf(backup, policy);
  if (isVerification(restore)) {
    const source = (policy as DatabaseBackup | undefined)?.spec.database?.name;
    if (!db.name) throw new Refusal('a verification needs a scratch database (spec.target.database.name)');
    if (db.name === source) {
      throw new Refusal(
        `the scratch database ${db.name} is the backed-up database itself; verification drops its scratch database afterwards`,
      );
    }
  }
  if (db.passwordSecretRef) binding.env.push(passwordEnv(type, db.passwordSecretRef));
  return {
    target: {
      kind: type,
      ...databaseConnection(type, db.host ?? '', db.port, db.user),
      ...(db.name ? { database: db.name } : {}),
    },
    binding,
  };
}

export function decide(state: RestoreState, now: Date, allow: JobAllowList = allowListFromEnv()): Plan {
  const { restore, backup, policy } = state;
  if (restore.metadata.deletionTimestamp || isFinished(restore) || isRestoreStarted(restore)) return [];
  const at = refOf(restore, 'Restore');
  const ns = at.namespace;
  const backupName = restore.spec.backupRef.name;
  try {
    if (!backup) throw new Refusal(`Backup ${backupName} does not exist in namespace ${ns}`);
    if (backup.metadata.deletionTimestamp) throw new Refusal(`Backup ${backupName} is being deleted`);
    if (backup.status?.phase === 'Failed') {
      const why = backup.status.reason ? ` (${backup.status.reason})` : '';
      throw new Refusal(
        `Backup ${backupName} failed${why}: ${backup.status.message ?? 'see its Events'}; only a Completed backup can be restored`,
      );
    }
    // Seed 003 applies a policy, a manual Backup and its Restore at once: a Backup still on its
    // way is waited for. Its dev.cairn.backup.completed (or .failed) event, or the tick, looks again.
    if (backup.status?.phase !== 'Completed')
      return wait(restore, backupName, backup.status?.phase ?? 'Pending');
    if (isSnapshotBackup(backup)) return snapshotRestore(state, backup, now);
    if (!backup.status.manifestKey)
      throw new Refusal(
        `Backup ${backupName} records no manifest; it cannot be verified, so it is not restored`,
      );
    // Where the artifact went when it was made, even if the policy's destination changed since, or
    // the policy is gone (its Backups kept with --cascade=orphan).
    const dest = backup.status.destination ?? (policy ? destinationOf(policy) : undefined);
    if (!dest) {
      throw new Refusal(
        `${backup.spec.policyRef.kind} ${backup.spec.policyRef.name} does not exist in namespace ${ns} and Backup ${backupName} records no status.destination: where its artifact is cannot be known`,
      );
    }
    // The Restore's own image and ServiceAccount, else its policy's: each must be allowed.
    const own = {
      backupImage: restore.spec.backupImage,
      serviceAccountName: restore.spec.serviceAccountName,
    };
    const inherited = {
      backupImage: own.backupImage === undefined ? policy?.spec.backupImage : undefined,
      serviceAccountName: own.serviceAccountName === undefined ? policy?.spec.serviceAccountName : undefined,
    };
    const refused =
      jobIdentityRefusal(own, ns, allow) ??
      (policy
        ? jobIdentityRefusal(inherited, ns, allow, `${policy.kind} ${policy.metadata.name} spec`)
        : undefined);
    if (refused) throw new Refusal(refused.message);
    if (dest.type === 'pvc' && !state.claims[dest.claimName ?? '']) {
      throw new Refusal(
        `PersistentVolumeClaim ${dest.claimName} holding the backups does not exist in namespace ${ns}`,
      );
    }
    // The digest the agent checks is the API's, never the store's manifest (DESIGN rule 9).
    const sha256 = backup.status.sha256;
    if (!sha256 && !restore.spec.allowUnauthenticated)
      throw new Refusal(
        `Backup ${backupName} records no sha256, so nothing vouches for its artifact; set spec.allowUnauthenticated to restore it anyway`,
      );
    const into = restore.spec.target.pvc;
    if (
      into &&
      restore.spec.clean &&
      dest.type === 'pvc' &&
      into.claimName === dest.claimName &&
      overlaps(into.path ?? '', dest.path ?? '')
    ) {
      throw new Refusal(
        `PersistentVolumeClaim ${into.claimName} holds the backups (under ${dest.path ? `${dest.path}/` : 'its root'}): clean would empty ${into.path ? `${into.path}/` : 'the claim'} and delete them; restore into another claim or a folder beside them`,
      );
    }
    const { target: agentTarget, binding: targetBinding } = target(state, backup);
    const { agent, binding: destBinding } = destinationBinding(dest);
    const jobName = restoreJobName(at.name);
    const labels: Record<string, string> = {
      [Labels.managedBy]: MANAGED_BY,
      [Labels.partOf]: MANAGED_BY,
      [Labels.restore]: at.name,
      [Labels.component]: 'restore',
    };
    const base = {
      manifestKey: backup.status.manifestKey,
      target: agentTarget,
      destination: agent,
      ...(sha256 ? { expectSha256: sha256 } : {}),
      ...(restore.spec.allowUnauthenticated ? { allowUnauthenticated: true } : {}),
    };
    const keys = keysBinding(
      'restore',
      restore.spec.encryption ?? policy?.spec.encryption,
      restore.spec.signing ?? policy?.spec.signing,
    );
    const verify = isVerification(restore);
    const options: AgentRestoreOptions | AgentVerifyOptions = verify
      ? { command: 'verify', ...base, checks: (restore.spec.checks ?? []).map(agentCheck) }
      : {
          command: 'restore',
          ...base,
          ...(restore.spec.overwrite ? { overwrite: true } : {}),
          ...(restore.spec.clean ? { clean: true } : {}),
        };
    if (verify) labels[PURPOSE_LABEL] = 'verification';
    const job = agentJob({
      name: jobName,
      namespace: ns,
      owner: restore,
      ownerKind: 'Restore',
      labels,
      options,
      binding: mergeBindings(targetBinding, destBinding, keys),
      image: restore.spec.backupImage ?? policy?.spec.backupImage,
      serviceAccountName: restore.spec.serviceAccountName ?? policy?.spec.serviceAccountName,
      resources: restore.spec.resources,
      backoffLimit: restore.spec.backoffLimit ?? 0,
      activeDeadlineSeconds: restore.spec.activeDeadlineSeconds ?? 3600,
    });
    return [
      {
        type: 'create',
        kind: 'Job',
        object: job,
        why: `${verify ? 'verify' : 'restore'} Backup ${backupName}`,
      },
      {
        type: 'status',
        kind: 'Restore',
        namespace: ns,
        name: at.name,
        set: { phase: 'Pending', jobName, reason: null, message: null },
        conditions: [
          { type: 'Ready', status: 'False', reason: Reason.JobCreated, message: `Job ${jobName} created` },
        ],
        why: 'the restore Job exists',
      },
      {
        type: 'event',
        involved: at,
        eventType: 'Normal',
        reason: Reason.JobCreated,
        message: `Created ${verify ? 'verification' : 'restore'} Job ${jobName} for Backup ${backupName}`,
      },
    ];
  } catch (err) {
    if (err instanceof Refusal) return refuse(state, now, err.message);
    throw err;
  }
}

/**
 * From a snapshot Backup (backupStrategy snapshot): the target claim is created with the chosen
 * VolumeSnapshot as its dataSource — Kubernetes' way of restoring a snapshot; the CSI driver fills
 * it — or, created so beforehand (with the storage class or access modes a person wants), is
 * accepted as it is. job-watcher completes the Restore when the claim is Bound. No Job, no agent:
 * nothing of a store is read, so there is no digest to check (the driver vouches for its snapshot).
 */
function snapshotRestore(state: RestoreState, backup: Backup, now: Date): Plan {
  const { restore } = state;
  const at = refOf(restore, 'Restore');
  const into = restore.spec.target.pvc;
  if (!into) throw new Refusal('a volume backup can only be restored into a pvc target');
  if (into.path)
    throw new Refusal(
      `a snapshot restores a whole claim: spec.target.pvc.path does not apply to Backup ${backup.metadata.name}`,
    );
  const records = backup.status?.snapshots ?? [];
  const claims = records.map((r) => r.persistentVolumeClaimName);
  let record = records[0];
  if (into.sourceClaimName) {
    record = records.find((r) => r.persistentVolumeClaimName === into.sourceClaimName);
    if (!record)
      throw new Refusal(
        `Backup ${backup.metadata.name} has no snapshot of claim ${into.sourceClaimName} (it has ${claims.join(', ')})`,
      );
  } else if (records.length > 1) {
    throw new Refusal(
      `Backup ${backup.metadata.name} holds snapshots of claims ${claims.join(', ')}: set spec.target.pvc.sourceClaimName to the one to restore`,
    );
  }
  if (!record) throw new Refusal(`Backup ${backup.metadata.name} records no snapshot`);
  const vs = state.snapshots?.[record.name];
  if (!vs || vs.metadata.deletionTimestamp)
    throw new Refusal(`VolumeSnapshot ${record.name} no longer exists in namespace ${at.namespace}`);
  const existing = state.targetClaim;
  if (existing && !claimFromSnapshot(existing, record.name)) {
    throw new Refusal(
      `PersistentVolumeClaim ${into.claimName} exists: a snapshot fills only a new claim (its dataSource is set when it is created); name a claim that does not exist and the restore creates it from VolumeSnapshot ${record.name}`,
    );
  }
  const size = record.restoreSize ?? (vs.status?.restoreSize as string | undefined);
  const plan: Plan = [];
  if (!existing) {
    if (!size) throw new Refusal(`VolumeSnapshot ${record.name} reports no restoreSize to size a claim by`);
    plan.push({
      type: 'create',
      kind: 'PersistentVolumeClaim',
      object: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name: into.claimName,
          namespace: at.namespace,
          // Not owned by the Restore: the restored data outlives it.
          labels: {
            [Labels.managedBy]: MANAGED_BY,
            [Labels.partOf]: MANAGED_BY,
            [Labels.restore]: at.name,
            [Labels.component]: 'restore',
          },
        },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: size } },
          ...(into.storageClassName ? { storageClassName: into.storageClassName } : {}),
          dataSource: snapshotDataSource(record.name),
        },
      },
      why: `restore VolumeSnapshot ${record.name} of Backup ${backup.metadata.name}`,
    });
  }
  const message = existing
    ? `claim ${into.claimName} is filled from VolumeSnapshot ${record.name}`
    : `created claim ${into.claimName} from VolumeSnapshot ${record.name} (${size})`;
  plan.push(
    {
      type: 'status',
      kind: 'Restore',
      namespace: at.namespace,
      name: at.name,
      set: {
        phase: 'Pending',
        startTime: kubeTime(now),
        claimName: into.claimName,
        volumeSnapshotName: record.name,
        reason: null,
        message: null,
      },
      conditions: [{ type: 'Ready', status: 'False', reason: Reason.ClaimCreated, message }],
      why: message,
    },
    { type: 'event', involved: at, eventType: 'Normal', reason: Reason.ClaimCreated, message },
  );
  return plan;
}

/** A check as the agent takes it: the API's fields, without the unset ones. */
function agentCheck(c: NonNullable<Restore['spec']['checks']>[number]): VerifyCheck {
  return Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as unknown as VerifyCheck;
}
