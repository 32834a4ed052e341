/** Backup: one run of a DatabaseBackup or a BackupPolicy, scheduled or by hand. It owns its Job. */
import { type Static, Type } from '@sinclair/typebox';
import { COMPRESSIONS, StorageDestination } from './common.ts';
import { ageColumn, type KindDef } from './kinds.ts';
import { type CairnObject, objectSchema } from './object.ts';
import { type CelRule, Conditions, DNS1123_LABEL, StringEnum, Timestamp } from './schema.ts';

export const POLICY_KINDS = ['DatabaseBackup', 'BackupPolicy'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];
export const BACKUP_PHASES = ['Pending', 'Running', 'Completed', 'Failed'] as const;
export type BackupPhase = (typeof BACKUP_PHASES)[number];

const immutable: CelRule[] = [{ rule: 'self == oldSelf', message: 'is immutable' }];

export const BackupSpec = Type.Object(
  {
    policyRef: Type.Object(
      {
        kind: StringEnum(POLICY_KINDS),
        name: Type.String({ minLength: 1, maxLength: 63, pattern: DNS1123_LABEL }),
      },
      { additionalProperties: false, 'x-kubernetes-validations': immutable },
    ),
    scheduledTime: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'The scheduled time this run is for; absent for a manual backup.',
        'x-kubernetes-validations': immutable,
      }),
    ),
    deletionPolicy: Type.Optional(
      StringEnum(['Delete', 'Retain'] as const, {
        default: 'Delete',
        description: 'Delete: removing the Backup removes its artifact. Retain: the artifact stays.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type BackupSpec = Static<typeof BackupSpec>;

/** One CSI VolumeSnapshot of a snapshot-strategy run (BackupPolicy backupStrategy: snapshot). */
export const SnapshotRecord = Type.Object(
  {
    name: Type.String({ description: "The VolumeSnapshot, in the Backup's namespace." }),
    persistentVolumeClaimName: Type.String({ description: 'The claim it is a snapshot of.' }),
    volumeSnapshotClassName: Type.Optional(
      Type.String({
        description: 'Its class, once the snapshot controller chose it (or the policy named it).',
      }),
    ),
    readyToUse: Type.Optional(Type.Boolean()),
    restoreSize: Type.Optional(
      Type.String({
        maxLength: 64,
        description: 'The smallest claim it can be restored into, as the CSI driver reports it.',
      }),
    ),
    creationTime: Type.Optional(Timestamp('When the snapshot was taken (the point in time it holds).')),
    error: Type.Optional(
      Type.String({ maxLength: 1024, description: "The snapshot controller's error, if it failed." }),
    ),
  },
  { additionalProperties: false },
);
export type SnapshotRecord = Static<typeof SnapshotRecord>;

export const BackupStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    phase: Type.Optional(StringEnum(BACKUP_PHASES)),
    jobName: Type.Optional(Type.String()),
    startTime: Type.Optional(Timestamp('When the backup Job started.')),
    completionTime: Type.Optional(Timestamp('When the backup ended.')),
    durationSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    duration: Type.Optional(
      Type.String({
        maxLength: 32,
        description:
          'How long the backup took, as kubectl prints a duration (`45s`, `3m10s`, `2h5m`); durationSeconds has the number.',
      }),
    ),
    location: Type.Optional(
      Type.String({ description: 'URL of the artifact: s3://…, gs://…, pvc://claim/path.' }),
    ),
    key: Type.Optional(Type.String({ description: 'Object key (or path under the claim) of the artifact.' })),
    manifestKey: Type.Optional(Type.String({ description: 'Key of the manifest beside the artifact.' })),
    destination: Type.Optional(
      Type.Object(StorageDestination.properties, {
        additionalProperties: false,
        description:
          'Where the artifact went, as the policy said when the backup ran (restores and deletes use it).',
      }),
    ),
    rawBytes: Type.Optional(
      Type.Integer({ minimum: 0, format: 'int64', description: 'Size before compression.' }),
    ),
    sizeBytes: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    size: Type.Optional(
      Type.String({
        maxLength: 32,
        description:
          'The artifact size in binary units (`803 B`, `2.6 MiB`, `257 MiB`); sizeBytes has the number.',
      }),
    ),
    sha256: Type.Optional(Type.String({ pattern: '^[a-f0-9]{64}$' })),
    compression: Type.Optional(StringEnum(COMPRESSIONS)),
    snapshots: Type.Optional(
      Type.Array(SnapshotRecord, {
        maxItems: 256,
        description:
          'backupStrategy snapshot: the VolumeSnapshot of each selected claim (instead of an artifact); sizeBytes is the sum of their restoreSize.',
      }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 256 })),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false },
);
export type BackupStatus = Static<typeof BackupStatus>;
export type Backup = CairnObject<BackupSpec, BackupStatus, 'Backup'>;

const description =
  'One backup run: its Job, its phase and its artifact (location, size, sha256), or its VolumeSnapshots.';
export const backupKind: KindDef = {
  kind: 'Backup',
  plural: 'backups',
  singular: 'backup',
  shortNames: ['bk'],
  categories: ['cairn'],
  description,
  schema: objectSchema(BackupSpec, BackupStatus, description),
  printerColumns: [
    { name: 'Policy', type: 'string', jsonPath: '.spec.policyRef.name' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    // Printer columns cannot format a number, so job-watcher writes the readable forms beside them.
    { name: 'Size', type: 'string', jsonPath: '.status.size' },
    { name: 'Duration', type: 'string', jsonPath: '.status.duration' },
    { name: 'Verified', type: 'string', jsonPath: '.status.conditions[?(@.type=="Verified")].status' },
    { name: 'Scheduled', type: 'date', jsonPath: '.spec.scheduledTime', priority: 1 },
    { name: 'Location', type: 'string', jsonPath: '.status.location', priority: 1 },
    { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
    ageColumn,
  ],
};
