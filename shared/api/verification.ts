/**
 * Restore verification: `spec.verification` on DatabaseBackup and BackupPolicy says how often a
 * backup is restored into a scratch target (every Nth completed backup, or on a cron schedule),
 * where, and which checks must pass there. The result is `status.lastVerification`.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  type CelRule,
  ObjectName,
  RelativePath,
  Schedule,
  StringEnum,
  Timestamp,
  TimeZone,
} from './schema.ts';

/** `rowCount >= 100`, `value == 3`: what a SQL check's result is compared with. */
export const COMPARISON_PATTERN = '^(rowCount|value) *(==|!=|>=|<=|>|<) *-?[0-9]+(\\.[0-9]+)?$';

const CheckName = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$',
  description: 'Names the check in results and messages.',
});

/**
 * One check. A SQL check (`sql`) runs its query on stdin of psql/mariadb in a read-only
 * transaction; a file check (`file`) looks at the restored volume. One schema for both kinds, so a
 * Restore can carry either; each policy kind allows only its own (CEL rules below).
 */
export const VerificationCheck = Type.Object(
  {
    name: CheckName,
    sql: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 8192,
        description:
          'One query, sent on stdin (never through a shell) inside a read-only transaction. Its result rows, fields joined by "|", rows by newlines, are what expect and compare see.',
      }),
    ),
    expect: Type.Optional(
      Type.String({
        maxLength: 4096,
        description: 'The exact result (trimmed), e.g. "3" for select count(*).',
      }),
    ),
    compare: Type.Optional(
      Type.String({
        maxLength: 64,
        pattern: COMPARISON_PATTERN,
        description:
          'A comparison of the row count or of the first field of the first row (value) with a number, e.g. "rowCount >= 100".',
      }),
    ),
    file: Type.Optional(RelativePath('A path, relative to the restored volume, that must exist.')),
    minSizeBytes: Type.Optional(
      Type.Integer({
        minimum: 0,
        format: 'int64',
        description: 'The file must be at least this large (a folder: the sum of its files).',
      }),
    ),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      { rule: 'has(self.sql) != has(self.file)', message: 'set exactly one of sql and file' },
      {
        rule: 'has(self.sql) || (!has(self.expect) && !has(self.compare))',
        message: 'expect and compare apply to sql checks only',
        fieldPath: '.expect',
        reason: 'FieldValueForbidden',
      },
      {
        rule: 'has(self.file) || !has(self.minSizeBytes)',
        message: 'minSizeBytes applies to file checks only',
        fieldPath: '.minSizeBytes',
        reason: 'FieldValueForbidden',
      },
    ] satisfies CelRule[],
  },
);
export type VerificationCheck = Static<typeof VerificationCheck>;

export const VerificationChecks = Type.Array(VerificationCheck, {
  maxItems: 32,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['name'],
  description: 'Checks that must all pass on the restored copy.',
});

const Identifier = Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z_][A-Za-z0-9_$]*$' });

export const Verification = Type.Object(
  {
    everyNthBackup: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        description:
          'Verify the newest completed backup when N backups completed since the last verified one (the first completed backup is always verified).',
      }),
    ),
    schedule: Type.Optional({
      ...Schedule,
      description: 'Verify the newest completed backup on this cron schedule (evaluated in timeZone).',
    }),
    timeZone: Type.Optional(TimeZone),
    suspend: Type.Optional(Type.Boolean({ default: false, description: 'Start no new verifications.' })),
    target: Type.Optional(
      Type.Object(
        {
          database: Type.Optional(
            Type.Object(
              {
                name: Type.Optional({
                  ...Identifier,
                  description:
                    'Scratch database on the same server; default <database>_cairn_verify. Dropped after every verification. Never the source database.',
                }),
              },
              { additionalProperties: false },
            ),
          ),
          pvc: Type.Optional(
            Type.Object(
              {
                claimName: ObjectName(
                  'Scratch PersistentVolumeClaim; each verification restores into its own folder there and removes it afterwards.',
                ),
              },
              { additionalProperties: false },
            ),
          ),
        },
        {
          additionalProperties: false,
          'x-kubernetes-validations': [
            {
              rule: '!(has(self.database) && has(self.pvc))',
              message: 'set at most one of database and pvc',
            },
          ] satisfies CelRule[],
        },
      ),
    ),
    checks: Type.Optional(VerificationChecks),
    activeDeadlineSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 604800,
        default: 3600,
        description: 'A verification running longer fails.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Restore verification: restore a backup into a scratch target, run checks there, drop the target.',
    'x-kubernetes-validations': [
      {
        rule: 'has(self.everyNthBackup) != has(self.schedule)',
        message: 'set exactly one of everyNthBackup and schedule',
      },
    ] satisfies CelRule[],
  },
);
export type Verification = Static<typeof Verification>;

/** The rules that tie `spec.verification` to its policy kind (added to each kind's spec rules). */
export const DATABASE_VERIFICATION_RULES: CelRule[] = [
  {
    rule: '!has(self.verification) || !has(self.verification.target) || !has(self.verification.target.pvc)',
    message: 'a database backup is verified in a scratch database, not a pvc',
    fieldPath: '.verification.target.pvc',
    reason: 'FieldValueForbidden',
  },
  {
    rule: '!has(self.verification) || !has(self.verification.checks) || self.verification.checks.all(c, has(c.sql))',
    message: 'a database backup takes sql checks only',
    fieldPath: '.verification.checks',
  },
  {
    rule: '!has(self.verification) || !has(self.verification.target) || !has(self.verification.target.database) || !has(self.verification.target.database.name) || !has(self.database) || !has(self.database.name) || self.verification.target.database.name != self.database.name',
    message: 'the scratch database must not be the source database',
    fieldPath: '.verification.target.database.name',
  },
  {
    rule: '!has(self.verification) || !has(self.database) || !has(self.database.allDatabases) || !self.database.allDatabases',
    message: 'a backup of all databases cannot be verified in one scratch database',
    fieldPath: '.verification',
    reason: 'FieldValueForbidden',
  },
];

export const VOLUME_VERIFICATION_RULES: CelRule[] = [
  {
    rule: '!has(self.verification) || (has(self.verification.target) && has(self.verification.target.pvc))',
    message: 'a volume backup is verified in a scratch pvc: set verification.target.pvc.claimName',
    fieldPath: '.verification.target.pvc',
    reason: 'FieldValueRequired',
  },
  {
    rule: '!has(self.verification) || !has(self.verification.checks) || self.verification.checks.all(c, has(c.file))',
    message: 'a volume backup takes file checks only',
    fieldPath: '.verification.checks',
  },
];

export const VERIFICATION_RESULTS = ['Passed', 'Failed'] as const;
export type VerificationResult = (typeof VERIFICATION_RESULTS)[number];

export const LastVerification = Type.Object(
  {
    time: Timestamp('When the verification ended.'),
    backup: Type.String({ description: 'The Backup that was verified.' }),
    restore: Type.Optional(Type.String({ description: 'The verification Restore.' })),
    result: StringEnum(VERIFICATION_RESULTS),
    reason: Type.Optional(Type.String({ maxLength: 256 })),
    message: Type.Optional(Type.String({ maxLength: 1024 })),
    scheduledTime: Type.Optional(Timestamp('The cron time this verification was for (schedule).')),
  },
  { additionalProperties: false, description: 'The most recent finished verification.' },
);
export type LastVerification = Static<typeof LastVerification>;

export const RESTORE_PURPOSES = ['restore', 'verification'] as const;
export type RestorePurpose = (typeof RESTORE_PURPOSES)[number];
