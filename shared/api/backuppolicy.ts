/** BackupPolicy: a schedule of backups of the PVCs a label selector picks (seeds 002, 003). */
import { type Static, Type } from '@sinclair/typebox';
import { jobFields, PolicyStatus, StorageDestination, scheduleFields } from './common.ts';
import { ageColumn, type KindDef, readyColumn } from './kinds.ts';
import { type CairnObject, objectSchema } from './object.ts';
import { type CelRule, LabelSelector, StringEnum } from './schema.ts';
import { Verification, VOLUME_VERIFICATION_RULES } from './verification.ts';

export const BACKUP_STRATEGIES = ['tar', 'snapshot', 'custom'] as const;
export type BackupStrategy = (typeof BACKUP_STRATEGIES)[number];

/** Where a BackupPolicy writes when it names no destination (seed 002 wrote to shared storage). */
export const DEFAULT_POLICY_DESTINATION: StorageDestination = { type: 'pvc', claimName: 'cairn-backups' };

export const BackupPolicySpec = Type.Object(
  {
    ...scheduleFields,
    pvcSelector: LabelSelector,
    backupStrategy: Type.Optional(
      StringEnum(BACKUP_STRATEGIES, {
        default: 'tar',
        description:
          'tar: archive the volumes; snapshot: a CSI VolumeSnapshot of each volume (snapshot.storage.k8s.io/v1; no destination, no agent Job); custom: run command and store its stdout.',
      }),
    ),
    command: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
        minItems: 1,
        maxItems: 64,
        description:
          'For backupStrategy custom: the command (an argument array, no shell) whose stdout is the artifact.',
      }),
    ),
    volumeSnapshotClassName: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 253,
        description:
          "For backupStrategy snapshot: the VolumeSnapshotClass of the snapshots; the cluster's default class when unset.",
      }),
    ),
    ...jobFields,
    // Seed 002's default, filled in by the API server so that `kubectl get -o yaml` shows it. A
    // default cannot depend on another field, so retention.keepLast (seed 003), when set, wins
    // over it instead of being refused beside it.
    retentionCount: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10000,
        default: 7,
        description:
          'Keep the newest N completed backups (seed 002; default 7). retention.keepLast, when set, is used instead; the other retention rules keep more.',
      }),
    ),
    storageDestination: Type.Optional(StorageDestination),
    verification: Type.Optional(Verification),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      {
        rule: "self.backupStrategy != 'custom' || has(self.command)",
        message: 'command is required when backupStrategy is custom',
        fieldPath: '.command',
        reason: 'FieldValueRequired',
      },
      {
        rule: "self.backupStrategy == 'custom' || !has(self.command)",
        message: 'command applies to backupStrategy custom only',
        fieldPath: '.command',
        reason: 'FieldValueForbidden',
      },
      {
        rule: "self.backupStrategy != 'snapshot' || !has(self.verification)",
        message: 'verification restores an archive: a snapshot backup cannot be verified this way',
        fieldPath: '.verification',
        reason: 'FieldValueForbidden',
      },
      {
        rule: "self.backupStrategy == 'snapshot' || !has(self.volumeSnapshotClassName)",
        message: 'volumeSnapshotClassName applies to backupStrategy snapshot only',
        fieldPath: '.volumeSnapshotClassName',
        reason: 'FieldValueForbidden',
      },
      ...VOLUME_VERIFICATION_RULES,
    ] satisfies CelRule[],
  },
);
export type BackupPolicySpec = Static<typeof BackupPolicySpec>;
export type BackupPolicyStatus = Static<typeof PolicyStatus>;
export type BackupPolicy = CairnObject<BackupPolicySpec, BackupPolicyStatus, 'BackupPolicy'>;

const description = 'A schedule of backups of the PersistentVolumeClaims a label selector picks.';
export const backupPolicyKind: KindDef = {
  kind: 'BackupPolicy',
  plural: 'backuppolicies',
  singular: 'backuppolicy',
  shortNames: ['bpol'],
  categories: ['cairn'],
  description,
  schema: objectSchema(BackupPolicySpec, PolicyStatus, description),
  printerColumns: [
    { name: 'Strategy', type: 'string', jsonPath: '.spec.backupStrategy' },
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
    { name: 'Suspend', type: 'boolean', jsonPath: '.spec.suspend' },
    { name: 'Last', type: 'string', jsonPath: '.status.lastBackupStatus' },
    { name: 'Last Success', type: 'date', jsonPath: '.status.lastSuccessfulTime' },
    { name: 'Next', type: 'string', jsonPath: '.status.nextScheduledBackup' },
    { name: 'Verified', type: 'string', jsonPath: '.status.lastVerification.result', priority: 1 },
    readyColumn,
    ageColumn,
  ],
};
