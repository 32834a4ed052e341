/**
 * spec.verification: bad specs are refused with the field named, good ones pass and get defaults —
 * as the API server validates them (test/api-validation.ts).
 */
import test from 'ava';
import { admit, fieldErrors } from '../api-validation.ts';
import { backupPolicy, databaseBackup } from '../builders.ts';

const dbb = (verification: unknown) => databaseBackup('pg', { verification } as never);
const bpol = (verification: unknown) => backupPolicy('vols', { verification } as never);
const fields = async (kind: string, obj: unknown) => (await fieldErrors(kind, obj)).map((e) => e.field);

test('a database verification with sql checks and a volume verification with file checks are accepted, with defaults', async (t) => {
  const d = dbb({
    everyNthBackup: 3,
    checks: [
      { name: 'accounts', sql: 'select count(*) from accounts', compare: 'value >= 500' },
      { name: 'version', sql: 'select version from meta', expect: '7' },
    ],
  });
  const admitted = await admit('DatabaseBackup', d);
  t.deepEqual(admitted.errors, []);
  const spec = admitted.obj?.spec as typeof d.spec | undefined;
  t.like(spec?.verification, { suspend: false, activeDeadlineSeconds: 3600 });
  const v = bpol({
    schedule: '0 4 * * 0',
    target: { pvc: { claimName: 'scratch' } },
    checks: [{ name: 'db-file', file: 'data/app.db', minSizeBytes: 1024 }],
  });
  t.deepEqual(await fieldErrors('BackupPolicy', v), []);
});

const bad: [string, string, unknown, string][] = [
  ['neither how often', 'DatabaseBackup', {}, 'spec.verification'],
  ['both how often', 'DatabaseBackup', { everyNthBackup: 1, schedule: '@daily' }, 'spec.verification'],
  ['everyNthBackup 0', 'DatabaseBackup', { everyNthBackup: 0 }, 'spec.verification.everyNthBackup'],
  ['a bad cron', 'DatabaseBackup', { schedule: 'daily' }, 'spec.verification.schedule'],
  [
    'the source database as scratch',
    'DatabaseBackup',
    { everyNthBackup: 1, target: { database: { name: 'app' } } },
    'spec.verification.target.database.name',
  ],
  [
    'a pvc target for a database',
    'DatabaseBackup',
    { everyNthBackup: 1, target: { pvc: { claimName: 's' } } },
    'spec.verification.target.pvc',
  ],
  [
    'a file check for a database',
    'DatabaseBackup',
    { everyNthBackup: 1, checks: [{ name: 'f', file: 'x' }] },
    'spec.verification.checks',
  ],
  [
    'a comparison that is not one',
    'DatabaseBackup',
    { everyNthBackup: 1, checks: [{ name: 'c', sql: 'select 1', compare: 'rowCount >= 1; drop' }] },
    'spec.verification.checks[0].compare',
  ],
  [
    'a check with both sql and file',
    'DatabaseBackup',
    { everyNthBackup: 1, checks: [{ name: 'c', sql: 'select 1', file: 'x' }] },
    'spec.verification.checks[0]',
  ],
  [
    'minSizeBytes on a sql check',
    'DatabaseBackup',
    { everyNthBackup: 1, checks: [{ name: 'c', sql: 'select 1', minSizeBytes: 1 }] },
    'spec.verification.checks[0].minSizeBytes',
  ],
  ['an unknown field', 'DatabaseBackup', { everyNthBackup: 1, every: 2 }, 'spec.verification.every'],
  [
    'a volume verification without a scratch pvc',
    'BackupPolicy',
    { everyNthBackup: 1 },
    'spec.verification.target.pvc',
  ],
  [
    'a sql check for volumes',
    'BackupPolicy',
    { everyNthBackup: 1, target: { pvc: { claimName: 's' } }, checks: [{ name: 'q', sql: 'select 1' }] },
    'spec.verification.checks',
  ],
  [
    'a file path that climbs out',
    'BackupPolicy',
    { everyNthBackup: 1, target: { pvc: { claimName: 's' } }, checks: [{ name: 'f', file: 'a/../../etc' }] },
    'spec.verification.checks[0].file',
  ],
];
for (const [what, kind, verification, field] of bad) {
  test(`refused, naming ${field}: ${what}`, async (t) => {
    const obj = kind === 'DatabaseBackup' ? dbb(verification) : bpol(verification);
    t.deepEqual(await fields(kind, obj), [field]);
  });
}

test('checks on a Restore are for purpose verification only', async (t) => {
  const restore = (purpose?: string) => ({
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'r', namespace: 'default' },
    spec: {
      backupRef: { name: 'b' },
      target: { database: { host: 'pg', name: 'app_cairn_verify' } },
      ...(purpose ? { purpose } : {}),
      checks: [{ name: 'one', sql: 'select 1', expect: '1' }],
    },
  });
  t.deepEqual(await fields('Restore', restore()), ['spec.checks']);
  t.deepEqual(await fields('Restore', restore('verification')), []);
});
