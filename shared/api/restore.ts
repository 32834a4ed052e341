/** Restore: puts one Completed Backup back into a database or a PVC. */
import { type Static, Type } from '@sinclair/typebox';
import { Resources } from './common.ts';
import { DatabaseConnection } from './databasebackup.ts';
import { RestoreDecryption, Signing } from './keys.ts';
import { ageColumn, type KindDef } from './kinds.ts';
import { type CairnObject, objectSchema } from './object.ts';
import {
  type CelRule,
  Conditions,
  DNS1123_LABEL,
  ObjectName,
  RelativePath,
  StringEnum,
  Timestamp,
} from './schema.ts';
import { RESTORE_PURPOSES, VerificationChecks } from './verification.ts';

export const RESTORE_PHASES = ['Pending', 'Running', 'Completed', 'Failed'] as const;
export type RestorePhase = (typeof RESTORE_PHASES)[number];

export const RestoreSpec = Type.Object(
  {
    backupRef: Type.Object(
      { name: Type.String({ minLength: 1, maxLength: 63, pattern: DNS1123_LABEL }) },
      { additionalProperties: false, description: 'A Completed Backup in the same namespace.' },
    ),
    target: Type.Object(
      {
        database: Type.Optional(DatabaseConnection),
        pvc: Type.Optional(
          Type.Object(
            {
              claimName: ObjectName(
                'PersistentVolumeClaim to restore into. From a snapshot Backup: a claim the restore creates with the VolumeSnapshot as its dataSource (or one that was created so).',
              ),
              path: Type.Optional(RelativePath('Sub-folder of the claim to restore into (archives only).')),
              sourceClaimName: Type.Optional(
                ObjectName(
                  'From a snapshot Backup of several claims: the claim whose VolumeSnapshot to restore.',
                ),
              ),
              storageClassName: Type.Optional(
                ObjectName(
                  "From a snapshot Backup: the StorageClass of the claim the restore creates (its provisioner must be the snapshot's CSI driver); the default class when unset.",
                ),
              ),
            },
            {
              additionalProperties: false,
              'x-kubernetes-validations': [
                {
                  rule: '!has(self.path) || (!has(self.sourceClaimName) && !has(self.storageClassName))',
                  message: 'path applies to archives, sourceClaimName and storageClassName to snapshots',
                  fieldPath: '.path',
                  reason: 'FieldValueForbidden',
                },
              ] satisfies CelRule[],
            },
          ),
        ),
      },
      {
        additionalProperties: false,
        'x-kubernetes-validations': [
          { rule: 'has(self.database) != has(self.pvc)', message: 'set exactly one of database and pvc' },
          {
            rule: '!has(self.database) || (has(self.database.host) && has(self.database.name))',
            message: 'a database target needs host and name',
            fieldPath: '.database',
            reason: 'FieldValueRequired',
          },
        ] satisfies CelRule[],
      },
    ),
    overwrite: Type.Optional(
      Type.Boolean({ default: false, description: 'Restore into a target that is not empty.' }),
    ),
    clean: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Drop what the target holds before restoring (pg_restore --clean; empty the folder).',
      }),
    ),
    purpose: Type.Optional(
      StringEnum(RESTORE_PURPOSES, {
        default: 'restore',
        description:
          'verification: restore into a scratch target, run checks, drop the target (job-watcher creates these from spec.verification).',
      }),
    ),
    checks: Type.Optional(VerificationChecks),
    allowUnauthenticated: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "Restore an artifact that nothing vouches for: no sha256 from a Backup object and no valid manifest signature. Only the store's word; off by default.",
      }),
    ),
    encryption: Type.Optional(RestoreDecryption),
    signing: Type.Optional(Signing),
    backupImage: Type.Optional(Type.String({ minLength: 1, maxLength: 512, pattern: '^[^\\s]+$' })),
    serviceAccountName: Type.Optional(ObjectName('ServiceAccount the restore pod runs as.')),
    resources: Type.Optional(Resources),
    backoffLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 0 })),
    activeDeadlineSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 604800, default: 3600 })),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      { rule: 'self.backupRef == oldSelf.backupRef', message: 'backupRef is immutable' },
      {
        rule: "!has(self.checks) || (has(self.purpose) && self.purpose == 'verification')",
        message: 'checks apply to purpose verification only',
        fieldPath: '.checks',
        reason: 'FieldValueForbidden',
      },
    ] satisfies CelRule[],
  },
);
export type RestoreSpec = Static<typeof RestoreSpec>;

export const RestoreStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    phase: Type.Optional(StringEnum(RESTORE_PHASES)),
    jobName: Type.Optional(Type.String()),
    startTime: Type.Optional(Timestamp('When the restore Job started.')),
    completionTime: Type.Optional(Timestamp('When the restore ended.')),
    durationSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    restoredBytes: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    volumeSnapshotName: Type.Optional(
      Type.String({ description: 'From a snapshot Backup: the VolumeSnapshot the claim is filled from.' }),
    ),
    claimName: Type.Optional(
      Type.String({ description: 'From a snapshot Backup: the claim filled from it (Bound: restored).' }),
    ),
    sha256: Type.Optional(Type.String({ pattern: '^[a-f0-9]{64}$' })),
    reason: Type.Optional(Type.String({ maxLength: 256 })),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false },
);
export type RestoreStatus = Static<typeof RestoreStatus>;
export type Restore = CairnObject<RestoreSpec, RestoreStatus, 'Restore'>;

const description = 'Restores one Completed Backup into a database or a PersistentVolumeClaim.';
export const restoreKind: KindDef = {
  kind: 'Restore',
  plural: 'restores',
  singular: 'restore',
  shortNames: ['rst'],
  categories: ['cairn'],
  description,
  schema: objectSchema(RestoreSpec, RestoreStatus, description),
  printerColumns: [
    { name: 'Backup', type: 'string', jsonPath: '.spec.backupRef.name' },
    { name: 'Purpose', type: 'string', jsonPath: '.spec.purpose', priority: 1 },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Completed', type: 'date', jsonPath: '.status.completionTime' },
    { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
    ageColumn,
  ],
};
