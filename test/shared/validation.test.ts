/**
 * Cairn's schemas as the API server enforces them: every object goes through the API emulator's
 * validation of the committed CRDs (test/api-validation.ts), the one validator production runs
 * (kube-apiserver's rules: OpenAPI, then CEL). Messages are kube's.
 */
import { readdir, readFile } from 'node:fs/promises';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, KINDS } from '../../shared/api/index.ts';
import { admit, fieldErrors } from '../api-validation.ts';

const examplesDir = new URL('../../examples/', import.meta.url);

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

async function exampleDocs(): Promise<{ file: string; doc: Doc }[]> {
  const out: { file: string; doc: Doc }[] = [];
  for (const file of (await readdir(examplesDir)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const d of parseAllDocuments(await readFile(new URL(file, examplesDir), 'utf8'))) {
      out.push({ file, doc: d.toJS() as Doc });
    }
  }
  return out;
}

test('every example is accepted, and there is one per seed system', async (t) => {
  const docs = await exampleDocs();
  const cairn = docs.filter(({ doc }) => doc.apiVersion === API_VERSION);
  for (const { file, doc } of cairn) {
    t.deepEqual(await fieldErrors(doc.kind, doc), [], `${file}: ${doc.kind}/${doc.metadata.name}`);
  }
  const files = new Set(cairn.filter((d) => d.file.startsWith('seed-')).map((d) => d.file.slice(0, 8)));
  t.deepEqual([...files].sort(), ['seed-000', 'seed-001', 'seed-002', 'seed-003']);
  // The seed 003 example shows all of policy, manual Backup and Restore.
  t.deepEqual(
    cairn.filter((d) => d.file.startsWith('seed-003')).map((d) => d.doc.kind),
    ['BackupPolicy', 'Backup', 'Restore'],
  );
});

test('the seed 000 sample keeps its field values and gets defaults', async (t) => {
  const docs = await exampleDocs();
  const found = docs.find(
    (d) => d.doc.kind === 'DatabaseBackup' && d.doc.metadata.name === 'postgres-daily-backup',
  );
  if (!found) return t.fail('seed 000 example missing');
  const { obj, errors } = await admit('DatabaseBackup', found.doc);
  t.deepEqual(errors, []);
  t.like(obj?.spec, {
    databaseType: 'postgres',
    schedule: '0 1 * * *',
    backupRetention: 336,
    storageDestination: {
      type: 's3',
      bucket: 'my-database-backups',
      path: 'postgres/daily',
      secretName: 's3-credentials',
    },
    databaseSelector: { matchLabels: { app: 'postgres', role: 'primary' } },
    timeZone: 'UTC',
    suspend: false,
    concurrencyPolicy: 'Forbid',
    compression: 'zstd',
  });
});

const dbb = (spec: Record<string, unknown>, name = 'db') => ({
  apiVersion: API_VERSION,
  kind: 'DatabaseBackup',
  metadata: { name },
  spec: {
    schedule: '0 1 * * *',
    database: { host: 'pg', name: 'app', user: 'backup', passwordSecretRef: { name: 'pg' } },
    storageDestination: { type: 's3', bucket: 'bkt' },
    ...spec,
  },
});
const bp = (spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: 'BackupPolicy',
  metadata: { name: 'bp' },
  spec: { schedule: '* * * * *', pvcSelector: { matchLabels: { app: 'x' } }, ...spec },
});
const bk = (spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: 'Backup',
  metadata: { name: 'b' },
  spec: { policyRef: { kind: 'BackupPolicy', name: 'bp' }, ...spec },
});
const rs = (spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: 'Restore',
  metadata: { name: 'r' },
  spec: { backupRef: { name: 'b' }, target: { pvc: { claimName: 'data' } }, ...spec },
});

const dest = (d: Record<string, unknown>) => ({ storageDestination: d });

/** [title, object, field path the message must name, what it must say] */
const bad: [string, { kind: string }, string, RegExp][] = [
  ['schedule of the wrong type', dbb({ schedule: 5 }), 'spec.schedule', /must be of type string/],
  ['six-field schedule', dbb({ schedule: '0 0 1 * * *' }), 'spec.schedule', /should match/],
  ['empty schedule', dbb({ schedule: '' }), 'spec.schedule', /Invalid value: ""/],
  ['missing schedule', dbb({ schedule: undefined }), 'spec.schedule', /Required value/],
  [
    'unknown databaseType',
    dbb({ databaseType: 'oracle' }),
    'spec.databaseType',
    /Unsupported value: "oracle".*"postgres"/,
  ],
  [
    'unknown concurrencyPolicy',
    dbb({ concurrencyPolicy: 'Sometimes' }),
    'spec.concurrencyPolicy',
    /Unsupported value/,
  ],
  ['suspend as a string', dbb({ suspend: 'yes' }), 'spec.suspend', /must be of type boolean/],
  [
    'negative startingDeadlineSeconds',
    dbb({ startingDeadlineSeconds: -1 }),
    'spec.startingDeadlineSeconds',
    /should be greater than or equal to 0/,
  ],
  [
    'negative backupRetention',
    dbb({ backupRetention: -5 }),
    'spec.backupRetention',
    /should be greater than or equal to 1/,
  ],
  [
    'fractional backupRetention',
    dbb({ backupRetention: 1.5 }),
    'spec.backupRetention',
    /must be of type integer/,
  ],
  [
    'negative retention.keepLast',
    dbb({ retention: { keepLast: -1 } }),
    'spec.retention.keepLast',
    /should be greater than or equal to 0/,
  ],
  [
    'negative retention.keepMonthly',
    dbb({ retention: { keepMonthly: -1 } }),
    'spec.retention.keepMonthly',
    /should be greater than or equal to 0/,
  ],
  [
    'fractional retention.keepMonthly',
    dbb({ retention: { keepMonthly: 1.5 } }),
    'spec.retention.keepMonthly',
    /must be of type integer/,
  ],
  [
    'zero retentionCount',
    dbb({ retentionCount: 0 }),
    'spec.retentionCount',
    /should be greater than or equal to 1/,
  ],
  [
    // JSON decodes 1e20 as a float beyond 2^53: not an integer to kube (swag.IsFloat64AJSONInteger).
    'startingDeadlineSeconds of 1e20',
    dbb({ startingDeadlineSeconds: 1e20 }),
    'spec.startingDeadlineSeconds',
    /must be of type integer/,
  ],
  ['malformed maxAge', dbb({ retention: { maxAge: 'two weeks' } }), 'spec.retention.maxAge', /should match/],
  [
    'unknown storage type',
    dbb(dest({ type: 'ftp', bucket: 'b' })),
    'spec.storageDestination.type',
    /Unsupported value: "ftp"/,
  ],
  [
    's3 without bucket',
    dbb(dest({ type: 's3' })),
    'spec.storageDestination.bucket',
    /Required value: bucket is required/,
  ],
  ['gcs without bucket', dbb(dest({ type: 'gcs' })), 'spec.storageDestination.bucket', /Required value/],
  [
    'pvc without claimName',
    dbb(dest({ type: 'pvc' })),
    'spec.storageDestination.claimName',
    /Required value/,
  ],
  [
    'endpoint on gcs',
    dbb(dest({ type: 'gcs', bucket: 'bkt', endpoint: 'http://x' })),
    'spec.storageDestination.endpoint',
    /s3 only/,
  ],
  [
    'bucket with capitals',
    dbb(dest({ type: 's3', bucket: 'My_Bucket' })),
    'spec.storageDestination.bucket',
    /should match/,
  ],
  [
    'path traversal in path',
    dbb(dest({ type: 's3', bucket: 'bkt', path: 'a/../../etc' })),
    'spec.storageDestination.path',
    /\.\./,
  ],
  [
    'absolute path',
    dbb(dest({ type: 's3', bucket: 'bkt', path: '/etc' })),
    'spec.storageDestination.path',
    /should match/,
  ],
  [
    'endpoint that is not a URL',
    dbb(dest({ type: 's3', bucket: 'bkt', endpoint: 'minio:9000' })),
    'spec.storageDestination.endpoint',
    /should match/,
  ],
  [
    'secretName with a slash',
    dbb(dest({ type: 's3', bucket: 'bkt', secretName: 'ns/creds' })),
    'spec.storageDestination.secretName',
    /should match/,
  ],
  [
    'passwordSecretRef with a namespace',
    dbb({ database: { host: 'pg', passwordSecretRef: { name: 'pg', namespace: 'other' } } }),
    'spec.database.passwordSecretRef.namespace',
    /unknown field/,
  ],
  [
    'port out of range',
    dbb({ database: { host: 'pg', port: 70000 } }),
    'spec.database.port',
    /should be less than or equal to 65535/,
  ],
  [
    'port as a string',
    dbb({ database: { host: 'pg', port: '5432' } }),
    'spec.database.port',
    /must be of type integer/,
  ],
  [
    'host with a shell metacharacter',
    dbb({ database: { host: 'pg;rm -rf /' } }),
    'spec.database.host',
    /should match/,
  ],
  [
    'schema name with a quote',
    dbb({ database: { host: 'pg', schemas: ["a'; drop"] } }),
    'spec.database.schemas[0]',
    /should match/,
  ],
  [
    'duplicate schemas',
    dbb({ database: { host: 'pg', schemas: ['a', 'a'] } }),
    'spec.database.schemas[1]',
    /Duplicate value: "a"/,
  ],
  [
    'both host and databaseSelector',
    dbb({ databaseSelector: { matchLabels: { app: 'pg' } } }),
    'spec',
    /exactly one of database.host and databaseSelector/,
  ],
  ['neither host nor databaseSelector', dbb({ database: { name: 'app' } }), 'spec', /exactly one/],
  [
    'empty databaseSelector',
    dbb({ database: undefined, databaseSelector: {} }),
    'spec.databaseSelector',
    /empty selector/,
  ],
  [
    'schemas on mysql',
    dbb({ databaseType: 'mysql', database: { host: 'm', schemas: ['a'] } }),
    'spec.database.schemas',
    /postgres only/,
  ],
  [
    'allDatabases with a name',
    dbb({ database: { host: 'pg', name: 'app', allDatabases: true } }),
    'spec.database.allDatabases',
    /cannot be combined/,
  ],
  [
    'retentionCount and keepLast together',
    dbb({ retentionCount: 3, retention: { keepLast: 3 } }),
    'spec.retentionCount',
    /set one of them/,
  ],
  ['unknown top-level field', dbb({ scheduel: '* * * * *' }), 'spec.scheduel', /unknown field/],
  ['name over 63 characters', dbb({}, `a${'b'.repeat(63)}`), 'metadata.name', /Too long/],
  ['name with capitals', dbb({}, 'Nightly'), 'metadata.name', /should match/],
  ['time zone with spaces', dbb({ timeZone: 'Europe/ Berlin' }), 'spec.timeZone', /should match/],
  ['unknown compression', dbb({ compression: 'brotli' }), 'spec.compression', /Unsupported value/],
  [
    'backoffLimit too high',
    dbb({ backoffLimit: 100 }),
    'spec.backoffLimit',
    /should be less than or equal to 10/,
  ],
  [
    'memory quantity nonsense',
    dbb({ resources: { limits: { memory: 'lots' } } }),
    'spec.resources.limits.memory',
    /should match/,
  ],
  ['policy without pvcSelector', bp({ pvcSelector: undefined }), 'spec.pvcSelector', /Required value/],
  [
    'unknown backupStrategy',
    bp({ backupStrategy: 'rsync' }),
    'spec.backupStrategy',
    /Unsupported value: "rsync"/,
  ],
  [
    'custom strategy without command',
    bp({ backupStrategy: 'custom' }),
    'spec.command',
    /Required value: command is required/,
  ],
  ['command on tar strategy', bp({ command: ['cat', '/x'] }), 'spec.command', /Forbidden/],
  [
    'command as a shell string',
    bp({ backupStrategy: 'custom', command: 'cat /x | gzip' }),
    'spec.command',
    /must be of type array/,
  ],
  [
    'matchExpressions with a bad operator',
    bp({ pvcSelector: { matchExpressions: [{ key: 'a', operator: 'Like' }] } }),
    'spec.pvcSelector.matchExpressions[0].operator',
    /Unsupported value/,
  ],
  ['Backup without policyRef', bk({ policyRef: undefined }), 'spec.policyRef', /Required value/],
  [
    'Backup of an unknown policy kind',
    bk({ policyRef: { kind: 'CronJob', name: 'x' } }),
    'spec.policyRef.kind',
    /Unsupported value/,
  ],
  ['Backup with a bad scheduledTime', bk({ scheduledTime: 'yesterday' }), 'spec.scheduledTime', /date-time/],
  [
    'Backup with an unknown deletionPolicy',
    bk({ deletionPolicy: 'Maybe' }),
    'spec.deletionPolicy',
    /Unsupported value/,
  ],
  [
    'Restore with both targets',
    rs({ target: { pvc: { claimName: 'a' }, database: { host: 'h', name: 'n' } } }),
    'spec.target',
    /exactly one of database and pvc/,
  ],
  ['Restore with no target', rs({ target: {} }), 'spec.target', /exactly one/],
  [
    'Restore into a database without a name',
    rs({ target: { database: { host: 'h' } } }),
    'spec.target.database',
    /needs host and name/,
  ],
  [
    'Restore with path traversal',
    rs({ target: { pvc: { claimName: 'a', path: '../x' } } }),
    'spec.target.pvc.path',
    /must not contain/,
  ],
  [
    'Restore of a backup named with a slash',
    rs({ backupRef: { name: 'ns/b' } }),
    'spec.backupRef.name',
    /should match/,
  ],
];

for (const [title, obj, field, message] of bad) {
  test(`rejected: ${title} (${field})`, async (t) => {
    const errors = await fieldErrors(obj.kind, obj);
    const at = errors.filter((e) => e.field === field);
    t.true(at.length > 0, `expected an error at ${field}, got ${JSON.stringify(errors)}`);
    t.true(
      at.some((e) => message.test(e.message)),
      `expected ${message} at ${field}, got ${JSON.stringify(at)}`,
    );
  });
}

test('the refusal names every field in one message, as kube-apiserver words it', async (t) => {
  const { message, obj } = await admit('DatabaseBackup', dbb({ schedule: 5, compression: 'brotli' }));
  t.is(obj, undefined);
  t.regex(
    message ?? '',
    /^DatabaseBackup\.backup\.cairn\.dev "db" is invalid: \[.*spec\.schedule: .*spec\.compression: /,
  );
});

test('transition rules: a Backup policyRef cannot change on update', async (t) => {
  const old = bk({});
  const changed = bk({ policyRef: { kind: 'BackupPolicy', name: 'other' } });
  t.deepEqual(await fieldErrors('Backup', old, old), []);
  const errors = await fieldErrors('Backup', changed, old);
  t.deepEqual(errors, [{ field: 'spec.policyRef', message: 'Invalid value: "object": is immutable' }]);
});

test('the catalogue covers every kind and at least 30 cases', (t) => {
  t.true(bad.length >= 30);
  t.deepEqual(new Set(bad.map(([, o]) => o.kind)), new Set(KINDS.map((k) => k.kind)));
});
