/**
 * restore-runner's pure decision: a Restore runs only from a Completed Backup of its own
 * namespace into a target that exists; then it gets its agent Job. Whether a database target is
 * empty can only be seen from inside it, so the agent checks that and refuses a non-empty target
 * unless spec.overwrite or spec.clean is set.
 */
import type {
  AgentRestoreOptions,
  AgentVerifyOptions,
  RestoreTarget,
  VerifyCheck,
} from '../../shared/agent-contract.ts';
import type { Backup, DatabaseBackup, Restore } from '../../shared/api/index.ts';
import { DEFAULT_POLICY_DESTINATION } from '../../shared/api/index.ts';
import { kubeTime } from '../../shared/clock.ts';
import { Reason } from '../../shared/conditions.ts';
import {
  agentJob,
  type Binding,
  databaseConnection,
  destinationBinding,
  emptyBinding,
  mergeBindings,
  passwordEnv,
  RESTORE_MOUNT,
} from '../../shared/jobs.ts';
import { Labels, MANAGED_BY } from '../../shared/labels.ts';
import { restoreJobName } from '../../shared/naming.ts';
import type { Plan } from '../../shared/plan.ts';
import { refOf } from '../../shared/plan.ts';
import { isFinished, type Policy } from '../../shared/policy.ts';
import { isVerification, PURPOSE_LABEL, SCRATCH_FOLDER } from '../../shared/verification.ts';

export interface RestoreState {
  restore: Restore;
  backup: Backup | undefined;
  policy: Policy | undefined;
  secrets: Record<string, boolean>;
  claims: Record<string, boolean>;
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

function target(state: RestoreState, policy: Policy): { target: RestoreTarget; binding: Binding } {
  const { restore } = state;
  const ns = restore.metadata.namespace ?? 'default';
  const t = restore.spec.target;
  const binding = emptyBinding();
  if (t.pvc) {
    if (policy.kind !== 'BackupPolicy')
      throw new Refusal('a database backup can only be restored into a database target');
    if ((policy as { spec: { backupStrategy?: string } }).spec.backupStrategy === 'custom') {
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
  if (policy.kind !== 'DatabaseBackup')
    throw new Refusal('a volume backup can only be restored into a pvc target');
  const type = (policy as DatabaseBackup).spec.databaseType ?? 'postgres';
  if (isVerification(restore)) {
    const source = (policy as DatabaseBackup).spec.database?.name;
    if (!db.name) throw new Refusal('a verification needs a scratch database (spec.target.database.name)');
    if (db.name === source) {
      throw new Refusal(
        `the scratch database ${db.name} is the backed-up database itself; verification drops its scratch database afterwards`,
      );
    }
  }
  if (db.passwordSecretRef) {
    if (!state.secrets[db.passwordSecretRef.name]) {
      throw new Refusal(
        `Secret ${db.passwordSecretRef.name} (spec.target.database.passwordSecretRef) does not exist in namespace ${ns}`,
      );
    }
    binding.env.push(passwordEnv(type, db.passwordSecretRef));
  }
  return {
    target: {
      kind: type,
      ...databaseConnection(type, db.host ?? '', db.port, db.user),
      ...(db.name ? { database: db.name } : {}),
    },
    binding,
  };
}

export function decide(state: RestoreState, now: Date): Plan {
  const { restore, backup, policy } = state;
  if (
    restore.metadata.deletionTimestamp ||
    isFinished(restore as unknown as Backup) ||
    restore.status?.jobName
  )
    return [];
  const at = refOf(restore, 'Restore');
  const ns = at.namespace;
  const backupName = restore.spec.backupRef.name;
  try {
    if (!backup) throw new Refusal(`Backup ${backupName} does not exist in namespace ${ns}`);
    if (backup.status?.phase !== 'Completed') {
      throw new Refusal(
        `Backup ${backupName} is ${backup.status?.phase ?? 'Pending'}; only a Completed backup can be restored`,
      );
    }
    if (!backup.status.manifestKey)
      throw new Refusal(
        `Backup ${backupName} records no manifest; it cannot be verified, so it is not restored`,
      );
    if (backup.metadata.deletionTimestamp) throw new Refusal(`Backup ${backupName} is being deleted`);
    if (!policy) {
      throw new Refusal(
        `${backup.spec.policyRef.kind} ${backup.spec.policyRef.name}, whose storage holds Backup ${backupName}, does not exist in namespace ${ns}`,
      );
    }
    // Where the artifact went when it was made, even if the policy's destination changed since.
    const dest = backup.status.destination ?? policy.spec.storageDestination ?? DEFAULT_POLICY_DESTINATION;
    if (dest.secretName && !state.secrets[dest.secretName]) {
      throw new Refusal(
        `Secret ${dest.secretName} (storageDestination.secretName of ${policy.metadata.name}) does not exist in namespace ${ns}`,
      );
    }
    if (dest.type === 'pvc' && !state.claims[dest.claimName ?? '']) {
      throw new Refusal(
        `PersistentVolumeClaim ${dest.claimName} holding the backups does not exist in namespace ${ns}`,
      );
    }
    const { target: agentTarget, binding: targetBinding } = target(state, policy);
    const { agent, binding: destBinding } = destinationBinding(dest);
    const jobName = restoreJobName(at.name);
    const labels: Record<string, string> = {
      [Labels.managedBy]: MANAGED_BY,
      [Labels.partOf]: MANAGED_BY,
      [Labels.restore]: at.name,
      [Labels.component]: 'restore',
    };
    const base = { manifestKey: backup.status.manifestKey, target: agentTarget, destination: agent };
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
      binding: mergeBindings(targetBinding, destBinding),
      image: restore.spec.backupImage ?? policy.spec.backupImage,
      serviceAccountName: restore.spec.serviceAccountName ?? policy.spec.serviceAccountName,
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
        set: { phase: 'Pending', jobName },
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

/** A check as the agent takes it: the API's fields, without the unset ones. */
function agentCheck(c: NonNullable<Restore['spec']['checks']>[number]): VerifyCheck {
  return Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as unknown as VerifyCheck;
}
