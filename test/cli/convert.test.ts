/**
 * `cairn convert`, run as the real binary on the seed documents' own YAML blocks: what it maps,
 * what it says, what it refuses, and its exit codes. (convert-seeds.test.ts applies the output to
 * the local runtime and waits for the first backup.)
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../../local/runtime.ts';
import { fieldErrors } from '../api-validation.ts';
import { SEED_BLOCKS, seedBlock, seedBlockPath } from '../fixtures/seeds/index.ts';
import { cairn } from './helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: converted manifests are arbitrary YAML.
type Doc = any;
const docs = (out: string): Doc[] => parseAllDocuments(out).map((d) => d.toJS());

/** The seed documents (the project's handout, shared/seeds/ beside the repository or a folder above it). */
function seedsDir(): string | undefined {
  for (let dir = REPO_ROOT; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dirname(dir), 'shared', 'seeds');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

test("each fixture is its seed document's YAML block, byte for byte", async (t) => {
  for (const name of SEED_BLOCKS) {
    const b = await seedBlock(name);
    t.true(
      parseAllDocuments(b.text).every((d) => d.errors.length === 0),
      `${name} is YAML`,
    );
  }
  // The documents are not part of the repository: a clone without them beside it can only check
  // that the fixtures parse; where they are (this workplace), every byte is compared.
  const dir = seedsDir();
  if (!dir) {
    t.log(`no shared/seeds/ above ${REPO_ROOT}: fixtures not compared with their documents`);
    return;
  }
  const files = await readdir(dir);
  for (const name of SEED_BLOCKS) {
    const b = await seedBlock(name);
    t.true(files.includes(b.document), `${name} names ${b.document}`);
    const doc = await readFile(join(dir, b.document));
    t.is(b.text, doc.subarray(b.start, b.end).toString('utf8'), name);
    t.true(b.text.length > 10);
  }
});

test("seed 000's DatabaseBackup: only the apiVersion changes, and every choice is a comment", async (t) => {
  const { text } = await seedBlock('000-databasebackup-usage.yaml');
  const r = await cairn(['convert', '-f', '-'], text);
  t.is(r.code, 0, r.stderr);
  const [db] = docs(r.stdout);
  t.is(db.apiVersion, 'backup.cairn.dev/v1alpha1');
  t.is(db.kind, 'DatabaseBackup');
  const src = parseAllDocuments(text)[0]?.toJS() as Doc;
  t.deepEqual(db.spec, src.spec, "the spec is the seed's, field for field");
  t.deepEqual(db.metadata, src.metadata);
  t.deepEqual(await fieldErrors('DatabaseBackup', db), []);
  t.regex(
    r.stdout,
    /# cairn convert: stdin document 1: db\.example\.io\/v1alpha1 DatabaseBackup default\/postgres-daily-backup/,
  );
  t.regex(r.stdout, /databaseSelector:[^\n]*\n|POSTGRES_USER, POSTGRES_DB and POSTGRES_PASSWORD/);
  t.regex(r.stdout, /schedule: 0 1 \* \* \* # evaluated in UTC/);
  t.regex(r.stderr, /1 converted, 0 unchanged, 0 not converted/);
});

test("seed 000's Secret and StatefulSet pass through unchanged; the Secret's placeholders are pointed out", async (t) => {
  const secret = await cairn(['convert', '-f', seedBlockPath('000-s3-secret.yaml')]);
  t.is(secret.code, 0, secret.stderr);
  const [s] = docs(secret.stdout);
  t.like(s, { apiVersion: 'v1', kind: 'Secret', data: { AWS_ACCESS_KEY_ID: '<base64-encoded-access-key>' } });
  t.regex(secret.stdout, /AWS_ACCESS_KEY_ID: <base64-encoded-access-key> # not base64: a placeholder\?/);
  t.regex(secret.stderr, /data\.AWS_SECRET_ACCESS_KEY: not base64/);
  const sts = await cairn(['convert', '-f', seedBlockPath('000-statefulset.yaml')]);
  t.is(sts.code, 0);
  t.like(docs(sts.stdout)[0], { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'postgres' } });
  t.regex(sts.stdout, /a Kubernetes StatefulSet: passed through unchanged/);
});

test("seed 001's BackupDatabaseSchema becomes a DatabaseBackup: connection, schema, GCS, plain SQL, a chosen schedule", async (t) => {
  for (const block of ['001-backupdatabaseschema-crd.yaml', '001-backup-job-cr.yaml'] as const) {
    const r = await cairn(['convert', '-f', seedBlockPath(block)]);
    t.is(r.code, 0, r.stderr);
    // Its pods ran as a ServiceAccount of its own: under Cairn the admin must allow it.
    t.regex(r.stderr, /TODO: .*CAIRN_ALLOWED_SERVICE_ACCOUNTS/);
    const [db] = docs(r.stdout);
    t.like(db, {
      apiVersion: 'backup.cairn.dev/v1alpha1',
      kind: 'DatabaseBackup',
      metadata: { name: 'database-backup', namespace: 'backup-job-namespace' },
      spec: {
        databaseType: 'postgres',
        schedule: '*/5 * * * *',
        format: 'plain',
        compression: 'none',
        serviceAccountName: 'backup-sa',
        storageDestination: { type: 'gcs', bucket: 'operator-db-backups-bucket', path: 'backups' },
      },
    });
    t.deepEqual(db.spec.database, {
      host: 'pg-postgresql.postgres.svc.cluster.local',
      port: 5432,
      name: 'api',
      user: 'team03',
      passwordSecretRef: { name: 'backup-secret', key: 'password' },
      schemas: ['api'],
    });
    t.deepEqual(await fieldErrors('DatabaseBackup', db), []);
    t.regex(
      r.stdout,
      /schedule: "\*\/5 \* \* \* \*" # chosen: the seed had no schedule and re-ran every 5 minutes/,
    );
    t.regex(r.stdout, /status \(Running\/Success\/Failed\) → status\.lastBackupStatus/);
    t.regex(r.stdout, /backupLocation → the Backup's status\.location/);
    t.regex(
      r.stdout,
      /backup-YYYYMMDD-HHMMSS\.sql; Cairn writes gs:\/\/<bucket>\/backups\/<name>\/<yyyymmddThhmmssZ>\.sql/,
    );
    t.regex(
      r.stderr,
      /TODO: annotate ServiceAccount backup-sa in backup-job-namespace with iam\.gke\.io\/gcp-service-account: db-operator-gsa@<project>/,
    );
  }
  const chosen = await cairn([
    'convert',
    '-f',
    seedBlockPath('001-backup-job-cr.yaml'),
    '--schedule',
    '0 3 * * *',
  ]);
  t.is(docs(chosen.stdout)[0].spec.schedule, '0 3 * * *');
  t.regex(chosen.stdout, /from --schedule/);
  const bad = await cairn(['convert', '-f', seedBlockPath('001-backup-job-cr.yaml'), '--schedule', 'hourly']);
  t.is(bad.code, 2);
});

test('seed 001: a password Secret in another namespace is a TODO, never read across namespaces', async (t) => {
  const { text } = await seedBlock('001-backup-job-cr.yaml');
  const r = await cairn(
    ['convert', '-f', '-'],
    text.replace('dbPasswordSecretNamespace: "backup-job-namespace"', 'dbPasswordSecretNamespace: "db"'),
  );
  t.is(r.code, 0, r.stderr);
  t.is(docs(r.stdout)[0].metadata.namespace, 'backup-job-namespace');
  t.regex(r.stderr, /TODO: copy Secret db\/backup-secret into namespace backup-job-namespace/);
});

test("seed 002's BackupPolicy keeps its fields, drops busybox, writes to the seed's claim; its StatefulSet passes through", async (t) => {
  const r = await cairn(['convert', '-f', seedBlockPath('002-test-backup.yaml')]);
  t.is(r.code, 0, r.stderr);
  const [p] = docs(r.stdout);
  t.deepEqual(p.spec, {
    schedule: '*/1 * * * *',
    pvcSelector: { matchLabels: { app: 'postgres' } },
    backupStrategy: 'tar',
    retentionCount: 3,
    storageDestination: { type: 'pvc', claimName: 'backup-storage' },
    compression: 'gzip',
  });
  t.deepEqual(await fieldErrors('BackupPolicy', p), []);
  t.regex(r.stdout, /backupImage busybox:latest \(the seed's default\) not carried over/);
  // Without retentionCount the seed's default 7 is written out; custom (which the seed ran as tar) becomes tar.
  const custom = await cairn(
    ['convert', '-f', '-'],
    'apiVersion: backup.example.com/v1alpha1\nkind: BackupPolicy\nmetadata: {name: x}\nspec:\n  schedule: "0 * * * *"\n  pvcSelector: {matchLabels: {a: b}}\n  backupStrategy: custom\n  backupImage: busybox:latest\n',
  );
  t.like(docs(custom.stdout)[0].spec, { retentionCount: 7, backupStrategy: 'tar' });
  t.regex(custom.stdout, /was custom, which the seed ran as tar/);
  const sts = await cairn(['convert', '-f', seedBlockPath('002-postgres-statefulset.yaml')]);
  t.is(sts.code, 0);
  t.deepEqual(
    docs(sts.stdout).map((d) => d.kind),
    ['Service', 'StatefulSet'],
  );
});

test("seed 003's only YAML block is a fragment: refused with exit 1, and told where its fields go", async (t) => {
  const { text } = await seedBlock('003-retention.yaml');
  const r = await cairn(['convert', '-f', '-'], text);
  t.is(r.code, 1);
  t.regex(r.stderr, /not converted: stdin document 1: not a manifest: it has no apiVersion/);
  t.regex(r.stderr, /Its keys \(retention\) are fields of Cairn's BackupPolicy spec/);
  t.regex(r.stdout, /# cairn convert: NOT CONVERTED stdin document 1\n.*\n# {3}retention:\n# {5}keepLast: 3/);
});

test("a seed 003 style policy, Backup and Restore map onto Cairn's kinds", async (t) => {
  const { text: retention } = await seedBlock('003-retention.yaml');
  const input = `apiVersion: backup.example.io/v1
kind: BackupPolicy
metadata: {name: web-data}
spec:
  schedule: "0 2 * * *"
  pvcSelector: {matchLabels: {app: web}}
${retention.replace(/^/gm, '  ').trimEnd()}
---
apiVersion: backup.example.io/v1
kind: Backup
metadata: {name: web-data-manual-1}
spec: {policyName: web-data}
---
apiVersion: backup.example.io/v1
kind: Restore
metadata: {name: web-data-restore-1}
spec: {backupName: web-data-manual-1, targetPVC: data-restore}
`;
  const r = await cairn(['convert', '-f', '-', '-n', 'web'], input);
  t.is(r.code, 0, r.stderr);
  const [p, b, rs] = docs(r.stdout);
  t.like(p, {
    kind: 'BackupPolicy',
    metadata: { namespace: 'web' },
    spec: { retention: { keepLast: 3 }, compression: 'gzip' },
  });
  t.like(b, { kind: 'Backup', spec: { policyRef: { kind: 'BackupPolicy', name: 'web-data' } } });
  t.like(rs, {
    kind: 'Restore',
    spec: { backupRef: { name: 'web-data-manual-1' }, target: { pvc: { claimName: 'data-restore' } } },
  });
  for (const d of [p, b, rs]) t.deepEqual(await fieldErrors(d.kind, d), [], d.kind);
});

test('every seed block at once: one multi-document stream, each document accounted for, unknown kinds reported', async (t) => {
  const texts = await Promise.all(SEED_BLOCKS.map(async (n) => (await seedBlock(n)).text));
  const input = [...texts, 'apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w}\n'].join('---\n');
  const r = await cairn(['convert', '-f', '-'], input);
  t.is(r.code, 1, 'a document was not converted');
  t.regex(r.stderr, /5 converted, 4 unchanged, 2 not converted/);
  t.regex(r.stderr, /Widget of example\.org\/v1 is not a kind of the seed systems/);
  t.regex(r.stdout, /# cairn convert: NOT CONVERTED stdin document 11: example\.org\/v1 Widget w/);
  const out = docs(r.stdout).filter((d) => d);
  t.is(out.filter((d) => d.apiVersion === 'backup.cairn.dev/v1alpha1').length, 5);
  for (const d of out.filter((x) => x.apiVersion === 'backup.cairn.dev/v1alpha1'))
    t.deepEqual(await fieldErrors(d.kind, d), [], `${d.kind} ${d.metadata.name}`);
});

test('usage and input errors: exit 2 without -f, 1 for a missing file or YAML that does not parse', async (t) => {
  const none = await cairn(['convert']);
  t.is(none.code, 2);
  t.regex(none.stderr, /-f FILE \(or -f - for stdin\) is required/);
  const missing = await cairn(['convert', '-f', join(REPO_ROOT, 'no-such.yaml')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /cannot read .*no-such\.yaml: ENOENT/);
  const broken = await cairn(['convert', '-f', '-'], 'kind: [unclosed\n');
  t.is(broken.code, 1);
  t.regex(broken.stderr, /not YAML/);
  const invalid = await cairn(
    ['convert', '-f', '-'],
    'apiVersion: db.example.io/v1alpha1\nkind: DatabaseBackup\nmetadata: {name: x}\nspec:\n  schedule: "0 1 * * *"\n  storageDestination: {type: s3}\n  databaseSelector: {matchLabels: {a: b}}\n  extra: 1\n',
  );
  t.is(invalid.code, 1, 'a result Cairn would refuse is not printed as converted');
  t.regex(invalid.stderr, /spec\.storageDestination\.bucket: Required value: bucket is required/);
  const help = await cairn(['convert', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /cairn convert -f FILE/);
  t.true(
    (await readFile(join(REPO_ROOT, 'docs', 'cli.md'), 'utf8')).includes('cairn convert'),
    'docs/cli.md documents it',
  );
});
