/**
 * Spec pieces shared by DatabaseBackup and BackupPolicy: the schedule, the destination, retention
 * and how the Job runs.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Encryption, Signing } from './keys.ts';
import {
  type CelRule,
  Conditions,
  ObjectName,
  RelativePath,
  Schedule,
  StringEnum,
  Timestamp,
  TimeZone,
} from './schema.ts';
import { LastVerification } from './verification.ts';

export const CONCURRENCY_POLICIES = ['Forbid', 'Allow', 'Replace'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];

/** The CronJob-like scheduling fields both policy kinds carry. */
export const scheduleFields = {
  schedule: Schedule,
  timeZone: Type.Optional(TimeZone),
  suspend: Type.Optional(
    Type.Boolean({ default: false, description: 'Stop scheduling new backups; running ones finish.' }),
  ),
  concurrencyPolicy: Type.Optional(
    StringEnum(CONCURRENCY_POLICIES, {
      default: 'Forbid',
      description:
        'What to do when a run is due while the previous one is still running (Kubernetes CronJob semantics).',
    }),
  ),
  startingDeadlineSeconds: Type.Optional(
    Type.Integer({
      minimum: 0,
      format: 'int64',
      description: 'A run missed by more than this many seconds is skipped (counted as missed).',
    }),
  ),
};

export const STORAGE_TYPES = ['s3', 'gcs', 'pvc'] as const;

export const StorageDestination = Type.Object(
  {
    type: StringEnum(STORAGE_TYPES, {
      description: 'Where artifacts go: s3 (or S3-compatible), gcs or pvc.',
    }),
    bucket: Type.Optional(
      Type.String({
        minLength: 3,
        maxLength: 222,
        pattern: '^[a-z0-9][a-z0-9._-]*[a-z0-9]$',
        description: 'Bucket name (s3, gcs).',
      }),
    ),
    path: Type.Optional(
      RelativePath('Key prefix (object stores) or sub-folder (pvc) artifacts are written under.'),
    ),
    secretName: Type.Optional(
      ObjectName(
        'Secret in the same namespace with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (s3) or a service account key under key.json (gcs). Omit to use the pod identity (IRSA, Workload Identity).',
      ),
    ),
    endpoint: Type.Optional(
      Type.String({
        maxLength: 2048,
        pattern: '^https?://[^\\s]+$',
        description: 'Endpoint of an S3-compatible store such as MinIO.',
      }),
    ),
    region: Type.Optional(
      Type.String({
        maxLength: 64,
        pattern: '^[a-z0-9-]+$',
        description: 'S3 region; us-east-1 when omitted.',
      }),
    ),
    forcePathStyle: Type.Optional(
      Type.Boolean({ description: 'Path-style S3 addressing; defaults to true when endpoint is set.' }),
    ),
    claimName: Type.Optional(ObjectName('PersistentVolumeClaim that receives artifacts (pvc).')),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      {
        rule: "self.type == 'pvc' || has(self.bucket)",
        message: 'bucket is required when type is s3 or gcs',
        fieldPath: '.bucket',
        reason: 'FieldValueRequired',
      },
      {
        rule: "self.type != 'pvc' || has(self.claimName)",
        message: 'claimName is required when type is pvc',
        fieldPath: '.claimName',
        reason: 'FieldValueRequired',
      },
      {
        rule: "self.type == 's3' || (!has(self.endpoint) && !has(self.forcePathStyle))",
        message: 'endpoint and forcePathStyle apply to type s3 only',
        fieldPath: '.endpoint',
        reason: 'FieldValueForbidden',
      },
    ] satisfies CelRule[],
  },
);
export type StorageDestination = Static<typeof StorageDestination>;

export const Retention = Type.Object(
  {
    keepLast: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000, description: 'Keep the newest N.' })),
    keepDaily: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10000,
        description: 'Keep the newest of each of the last N days.',
      }),
    ),
    keepWeekly: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10000,
        description: 'Keep the newest of each of the last N ISO weeks.',
      }),
    ),
    keepMonthly: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10000,
        description: 'Keep the newest of each of the last N months.',
      }),
    ),
    keepFailed: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10000,
        description:
          'Keep the newest N failed backups and delete older failed ones. Without it failed backups are never deleted by retention (the other rules count completed backups only).',
      }),
    ),
    maxAge: Type.Optional(
      Type.String({
        pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d|w))+$',
        maxLength: 32,
        description: 'Delete backups older than this (e.g. 336h, 14d), unless a keep rule keeps them.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Which completed backups to keep (restic-style keep rules, ORed).',
  },
);
export type Retention = Static<typeof Retention>;

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

const Quantity = Type.String({
  maxLength: 64,
  pattern: '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|E|Ei|P|Pi)?$',
});
export const Resources = Type.Object(
  {
    requests: Type.Optional(
      Type.Object(
        { cpu: Type.Optional(Quantity), memory: Type.Optional(Quantity) },
        { additionalProperties: false },
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        { cpu: Type.Optional(Quantity), memory: Type.Optional(Quantity) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Resources = Static<typeof Resources>;

/** How backup Jobs run; shared by both policy kinds. */
export const jobFields = {
  backupImage: Type.Optional(
    Type.String({ minLength: 1, maxLength: 512, pattern: '^[^\\s]+$', description: 'Agent image override.' }),
  ),
  compression: Type.Optional(StringEnum(COMPRESSIONS, { default: 'zstd' })),
  storageDestination: StorageDestination,
  retentionCount: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 10000,
      description: 'Keep the newest N completed backups (seed name of retention.keepLast).',
    }),
  ),
  retention: Type.Optional(Retention),
  serviceAccountName: Type.Optional(
    ObjectName(
      'ServiceAccount the backup pod runs as, e.g. one bound to a GCP service account (Workload Identity).',
    ),
  ),
  resources: Type.Optional(Resources),
  backoffLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 2 })),
  activeDeadlineSeconds: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 604800,
      default: 3600,
      description: 'A backup running longer is failed.',
    }),
  ),
  encryption: Type.Optional(Encryption),
  signing: Type.Optional(Signing),
  successfulJobsHistoryLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 3 })),
  failedJobsHistoryLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 1 })),
};

export const LAST_BACKUP_STATUSES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;

export const HistoryEntry = Type.Object(
  {
    backup: Type.String(),
    jobName: Type.Optional(Type.String({ description: "The run's Job (seed 002's BackupRecord.jobName)." })),
    job: Type.Optional(
      Type.String({
        description:
          'Deprecated: what jobName was called before; still valid in stored objects, and replaced by jobName the next time job-watcher derives the history.',
      }),
    ),
    scheduledTime: Type.Optional(Timestamp('The scheduled time of the run.')),
    startTime: Type.Optional(Timestamp('When the run started.')),
    completionTime: Type.Optional(Timestamp('When the run ended.')),
    status: StringEnum(LAST_BACKUP_STATUSES),
    message: Type.Optional(Type.String({ maxLength: 1024 })),
    sizeBytes: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  },
  { additionalProperties: false },
);
export type HistoryEntry = Static<typeof HistoryEntry>;

/** Status both policy kinds report: the seed systems' field names, plus conventions. */
export const PolicyStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    conditions: Type.Optional(Conditions),
    lastBackupStatus: Type.Optional(StringEnum(LAST_BACKUP_STATUSES)),
    lastBackup: Type.Optional(Type.String({ description: 'Name of the most recent Backup.' })),
    nextScheduledBackup: Type.Optional(Timestamp('When the next run is due.')),
    lastScheduleTime: Type.Optional(Timestamp('Scheduled time of the most recent run that was created.')),
    activeBackupJob: Type.Optional(Type.String({ description: 'Job of the running backup, if any.' })),
    lastSuccessfulBackup: Type.Optional(
      Type.String({ description: 'Name of the most recent completed Backup.' }),
    ),
    lastSuccessfulTime: Type.Optional(Timestamp('Completion time of the most recent completed Backup.')),
    failureReason: Type.Optional(Type.String({ maxLength: 1024 })),
    lastDurationSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    lastSizeBytes: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    backupHistory: Type.Optional(Type.Array(HistoryEntry, { maxItems: 10 })),
    lastVerification: Type.Optional(LastVerification),
  },
  { additionalProperties: false },
);
export type PolicyStatus = Static<typeof PolicyStatus>;
