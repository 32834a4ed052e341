/** DatabaseBackup: a schedule of logical dumps of one database server (seeds 000, 001, 004). */
import { type Static, Type } from '@sinclair/typebox';
import { jobFields, PolicyStatus, scheduleFields } from './common.ts';
import { ageColumn, type KindDef, readyColumn } from './kinds.ts';
import { type CairnObject, objectSchema } from './object.ts';
import { type CelRule, LabelSelector, SecretKeyRef, StringEnum } from './schema.ts';
import { DATABASE_VERIFICATION_RULES, Verification } from './verification.ts';

export const DATABASE_TYPES = ['postgres', 'mysql', 'mariadb'] as const;
export type DatabaseType = (typeof DATABASE_TYPES)[number];

const Identifier = Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z_][A-Za-z0-9_$]*$' });

/** How to reach a database: shared by DatabaseBackup.spec.database and Restore.spec.target.database. */
export const DatabaseConnection = Type.Object(
  {
    host: Type.Optional(
      Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$' }),
    ),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    name: Type.Optional(Identifier),
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z_][A-Za-z0-9_.$-]*$' })),
    passwordSecretRef: Type.Optional(SecretKeyRef),
    schemas: Type.Optional(
      Type.Array(Identifier, {
        maxItems: 64,
        uniqueItems: true,
        description: 'Dump only these schemas (PostgreSQL); all when omitted.',
      }),
    ),
    allDatabases: Type.Optional(
      Type.Boolean({
        description: 'Dump every database of the server (pg_dumpall, mariadb-dump --all-databases).',
      }),
    ),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      {
        rule: '!(has(self.allDatabases) && self.allDatabases) || (!has(self.name) && !has(self.schemas))',
        message: 'allDatabases cannot be combined with name or schemas',
        fieldPath: '.allDatabases',
      },
    ] satisfies CelRule[],
  },
);
export type DatabaseConnection = Static<typeof DatabaseConnection>;

export const DatabaseBackupSpec = Type.Object(
  {
    databaseType: Type.Optional(StringEnum(DATABASE_TYPES, { default: 'postgres' })),
    ...scheduleFields,
    database: Type.Optional(DatabaseConnection),
    databaseSelector: Type.Optional(LabelSelector),
    format: Type.Optional(
      StringEnum(['custom', 'plain'] as const, {
        default: 'custom',
        description: 'PostgreSQL dump format: custom (pg_restore) or plain SQL.',
      }),
    ),
    backupRetention: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 876000,
        description: 'Delete completed backups older than this many hours (seed 000).',
      }),
    ),
    ...jobFields,
    verification: Type.Optional(Verification),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      {
        rule: 'has(self.databaseSelector) != (has(self.database) && has(self.database.host))',
        message: 'set exactly one of database.host and databaseSelector',
      },
      {
        rule: "self.databaseType == 'postgres' || !has(self.database) || !has(self.database.schemas)",
        message: 'schemas apply to databaseType postgres only',
        fieldPath: '.database.schemas',
      },
      {
        rule: "self.databaseType == 'postgres' || !has(self.format) || self.format == 'custom'",
        message: 'format plain applies to databaseType postgres only',
        fieldPath: '.format',
      },
      {
        rule: '!has(self.retentionCount) || !has(self.retention) || !has(self.retention.keepLast)',
        message: 'retentionCount and retention.keepLast mean the same thing: set one of them',
        fieldPath: '.retentionCount',
      },
      ...DATABASE_VERIFICATION_RULES,
    ] satisfies CelRule[],
  },
);
export type DatabaseBackupSpec = Static<typeof DatabaseBackupSpec>;
export type DatabaseBackupStatus = Static<typeof PolicyStatus>;
export type DatabaseBackup = CairnObject<DatabaseBackupSpec, DatabaseBackupStatus, 'DatabaseBackup'>;

export const databaseBackupKind: KindDef = {
  kind: 'DatabaseBackup',
  plural: 'databasebackups',
  singular: 'databasebackup',
  shortNames: ['dbbackup', 'dbb'],
  categories: ['cairn'],
  description: 'A schedule of logical dumps of a database (PostgreSQL, MySQL, MariaDB) to S3, GCS or a PVC.',
  schema: objectSchema(
    DatabaseBackupSpec,
    PolicyStatus,
    'A schedule of logical dumps of a database (PostgreSQL, MySQL, MariaDB) to S3, GCS or a PVC.',
  ),
  printerColumns: [
    { name: 'Type', type: 'string', jsonPath: '.spec.databaseType' },
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
