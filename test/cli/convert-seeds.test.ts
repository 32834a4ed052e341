/**
 * Each seed document's own YAML, through the real `cairn convert`, applied with the real kubectl
 * to the local runtime, completes a first backup: real PostgreSQL, s3rver for seed 000's S3, the
 * GCS wire fake for seed 001, claims for seed 002. What a seed's manifest presupposes (its
 * Secret, the Pod or claims its StatefulSet makes, a ServiceAccount) the test creates as that
 * seed's docs tell its users to; what only exists in a real cloud (an S3 endpoint, a cluster DNS
 * name) is the one edit named in each test.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import test from 'ava';
import { parseAllDocuments, stringify } from 'yaml';
import type { Backup } from '../../shared/api/index.ts';
import { startE2E, waitFor } from '../e2e/helpers.ts';
import { startGcsFake } from '../fixtures/gcs-fake.ts';
import { startPostgres } from '../fixtures/postgres.ts';
import { startS3 } from '../fixtures/s3.ts';
import { seedBlock } from '../fixtures/seeds/index.ts';
import { cairn } from './helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: converted manifests are arbitrary YAML.
type Doc = any;

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', kubeconfig, ...args],
      { encoding: 'utf8', timeout: 60_000 },
      (err, out, errOut) =>
        err ? reject(new Error(`kubectl ${args.join(' ')}: ${errOut || err.message}`)) : resolve(out),
    );
    child.stdin?.end(input ?? '');
  });
}

/** `cairn convert -f -` on a seed block: the converted documents (exit 0 required). */
async function converted(text: string): Promise<Doc[]> {
  const r = await cairn(['convert', '-f', '-'], text);
  if (r.code !== 0) throw new Error(`cairn convert exited ${r.code}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS());
}

/** What kubelet reports for a running Pod on the one local node. */
const runningStatus = JSON.stringify({
  status: { phase: 'Running', podIP: '127.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] },
});

test.serial(
  "seed 000's sample (apiVersion changed by convert) backs up PostgreSQL to S3 with the credentials of the Pod it selects",
  async (t) => {
    const password = 'seed-000-pw-51c2';
    const [pg, s3] = await Promise.all([
      startPostgres({ password }),
      startS3({ buckets: ['my-database-backups'] }),
    ]);
    const e2e = await startE2E('2030-01-01T00:59:30Z');
    t.teardown(async () => {
      await e2e.stop();
      await Promise.all([pg.stop(), s3.stop()]);
    });
    await pg.psql(
      'CREATE TABLE orders (id int primary key); INSERT INTO orders SELECT generate_series(1, 42);',
    );
    const kc = e2e.runtime.kubeconfig;
    // Step 1 of the seed's usage: the S3 Secret (here with s3rver's keys instead of the placeholders).
    await kubectl(kc, [
      'create',
      'secret',
      'generic',
      's3-credentials',
      `--from-literal=AWS_ACCESS_KEY_ID=${s3.accessKeyId}`,
      `--from-literal=AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}`,
    ]);
    // Step 2: the database, labelled app=postgres,role=primary. The local runtime has no StatefulSet
    // controller, so the test creates the Pod it would, as the official image is configured.
    await kubectl(kc, [
      'create',
      'secret',
      'generic',
      'postgres-secret',
      `--from-literal=password=${password}`,
    ]);
    await kubectl(
      kc,
      ['apply', '-f', '-'],
      stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'postgres-0', namespace: 'default', labels: { app: 'postgres', role: 'primary' } },
        spec: {
          containers: [
            {
              name: 'postgres',
              image: 'postgres:15',
              ports: [{ name: 'postgres', containerPort: pg.port }],
              env: [
                {
                  name: 'POSTGRES_PASSWORD',
                  valueFrom: { secretKeyRef: { name: 'postgres-secret', key: 'password' } },
                },
              ],
            },
          ],
        },
      }),
    );
    await kubectl(kc, [
      'patch',
      'pod',
      'postgres-0',
      '--subresource=status',
      '--type=merge',
      '-p',
      runningStatus,
    ]);
    // Step 3: the seed's DatabaseBackup, converted.
    const [policy] = await converted((await seedBlock('000-databasebackup-usage.yaml')).text);
    t.is(policy.apiVersion, 'backup.cairn.dev/v1alpha1');
    // The one edit: the seed meant AWS S3; here the bucket is s3rver's.
    policy.spec.storageDestination.endpoint = s3.endpoint;
    await kubectl(kc, ['apply', '-f', '-'], stringify(policy));
    await waitFor(
      'the next run to be known',
      async () =>
        JSON.parse(await kubectl(kc, ['get', 'dbb', 'postgres-daily-backup', '-o', 'json'])).status
          ?.nextScheduledBackup,
    );

    const b = await e2e.nextRun('postgres-daily-backup');
    t.is(b.status?.phase, 'Completed', b.status?.message);
    t.is(b.metadata.name, 'postgres-daily-backup-203001010100', "the seed's 1 AM run");
    const cond = (b.status?.conditions ?? []).find((c) => c.type === 'ConnectionResolved');
    t.like(cond, { status: 'True', reason: 'FromPod' });
    t.regex(
      cond?.message ?? '',
      /Pod postgres-0 .*user postgres \(image default\), database postgres .*password from Secret postgres-secret key password \(POSTGRES_PASSWORD\)/,
    );
    const listed = await s3.client.send(
      new ListObjectsV2Command({
        Bucket: 'my-database-backups',
        Prefix: 'postgres/daily/postgres-daily-backup/',
      }),
    );
    t.deepEqual((listed.Contents ?? []).map((o) => o.Key).sort(), [
      'postgres/daily/postgres-daily-backup/20300101T010000Z.dump.zst',
      'postgres/daily/postgres-daily-backup/20300101T010000Z.manifest.json',
    ]);
  },
);

test.serial("seed 001's BackupDatabaseSchema, converted, dumps its schema as plain SQL to GCS", async (t) => {
  const password = 'seed-001-pw-90ad';
  const [pg, gcs] = await Promise.all([
    startPostgres({ password }),
    startGcsFake({ buckets: ['operator-db-backups-bucket'] }),
  ]);
  // The seed's pods run as its ServiceAccount; convert's TODO says the admin must allow it, as here
  // (the local runtime's functions read their environment, as they do in a cluster).
  process.env.CAIRN_ALLOWED_SERVICE_ACCOUNTS = 'backup-job-namespace/backup-sa';
  t.teardown(() => {
    delete process.env.CAIRN_ALLOWED_SERVICE_ACCOUNTS;
  });
  // GCS is faked at the wire: the agent's client reaches it through STORAGE_EMULATOR_HOST.
  const e2e = await startE2E('2030-01-01T00:04:30Z', { jobHostEnv: { STORAGE_EMULATOR_HOST: gcs.endpoint } });
  t.teardown(async () => {
    await e2e.stop();
    await Promise.all([pg.stop(), gcs.stop()]);
  });
  await pg.createDatabase('api');
  await pg.psql(
    `CREATE ROLE team03 LOGIN PASSWORD '${password}';
     CREATE SCHEMA api AUTHORIZATION team03;
     CREATE SCHEMA other;
     CREATE TABLE api.courses (id int primary key, title text);
     INSERT INTO api.courses VALUES (1, 'cloud'), (2, 'networks');
     CREATE TABLE other.secret_stuff (x int);
     ALTER TABLE api.courses OWNER TO team03;`,
    'api',
  );
  const kc = e2e.runtime.kubeconfig;
  // The seed's prerequisites: its namespace, the Kubernetes service account, and its Secret,
  // created with the very command its README gives.
  await kubectl(kc, ['create', 'namespace', 'backup-job-namespace']);
  await kubectl(kc, ['create', 'serviceaccount', 'backup-sa', '-n', 'backup-job-namespace']);
  await kubectl(kc, [
    'create',
    'secret',
    '-n',
    'backup-job-namespace',
    'generic',
    'backup-secret',
    `--from-literal=password=${password}`,
  ]);
  const [policy] = await converted((await seedBlock('001-backup-job-cr.yaml')).text);
  t.is(policy.spec.schedule, '*/5 * * * *');
  // The one edit: pg-postgresql.postgres.svc.cluster.local is a cluster DNS name; here the server is on loopback.
  policy.spec.database.host = '127.0.0.1';
  policy.spec.database.port = pg.port;
  await kubectl(kc, ['apply', '-f', '-'], stringify(policy));
  await waitFor(
    'the next run to be known',
    async () =>
      JSON.parse(
        await kubectl(kc, ['get', 'dbb', 'database-backup', '-n', 'backup-job-namespace', '-o', 'json']),
      ).status?.nextScheduledBackup,
  );

  const b = await e2e.nextRun('database-backup', 'backup-job-namespace');
  t.is(b.status?.phase, 'Completed', b.status?.message);
  t.is(b.status?.location, 'gs://operator-db-backups-bucket/backups/database-backup/20300101T000500Z.sql');
  const sql =
    gcs
      .read('operator-db-backups-bucket', 'backups/database-backup/20300101T000500Z.sql')
      ?.toString('utf8') ?? '';
  t.regex(sql, /CREATE TABLE api\.courses/);
  t.regex(sql, /COPY api\.courses .* FROM stdin;\n1\tcloud\n2\tnetworks/);
  t.notRegex(sql, /secret_stuff/, "only the seed's dbSchema");
  t.true(
    gcs
      .objects('operator-db-backups-bucket')
      .includes('backups/database-backup/20300101T000500Z.manifest.json'),
  );
  const job = JSON.parse(
    await kubectl(kc, ['get', 'job', b.status?.jobName ?? '', '-n', 'backup-job-namespace', '-o', 'json']),
  );
  t.is(job.spec.template.spec.serviceAccountName, 'backup-sa');
});

test.serial(
  "seed 002's test-backup policy, converted, archives the StatefulSet's claim into its backup-storage claim",
  async (t) => {
    const e2e = await startE2E('2030-01-01T00:00:30Z');
    t.teardown(() => e2e.stop());
    const kc = e2e.runtime.kubeconfig;
    // What the seed's StatefulSet (applied as its quick start says) would make: the claim
    // data-postgres-0, labelled with the StatefulSet's selector (app=postgres), holding the data.
    const sts = (await converted((await seedBlock('002-postgres-statefulset.yaml')).text)).find(
      (d) => d.kind === 'StatefulSet',
    );
    const template = sts.spec.volumeClaimTemplates[0];
    await kubectl(
      kc,
      ['apply', '-f', '-'],
      stringify({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name: `${template.metadata.name}-${sts.metadata.name}-0`,
          namespace: 'default',
          labels: sts.spec.selector.matchLabels,
        },
        spec: template.spec,
      }),
    );
    // …and the shared claim its operator mounted at /backup.
    await kubectl(
      kc,
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: backup-storage, namespace: default}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Gi}}}\n',
    );
    const data = join(e2e.stateDir, 'volumes', 'default', 'data-postgres-0');
    await mkdir(join(data, 'base'), { recursive: true });
    await writeFile(join(data, 'base', 'PG_VERSION'), '15\n');
    const [policy] = await converted((await seedBlock('002-test-backup.yaml')).text);
    await kubectl(kc, ['apply', '-n', 'default', '-f', '-'], stringify(policy));
    await waitFor(
      'the next run to be known',
      async () =>
        JSON.parse(await kubectl(kc, ['get', 'bpol', 'test-backup', '-o', 'json'])).status
          ?.nextScheduledBackup,
    );

    const b: Backup = await e2e.nextRun('test-backup');
    t.is(b.status?.phase, 'Completed', b.status?.message);
    t.regex(b.status?.location ?? '', /test-backup\/20300101T000100Z\.tar\.gz$/);
    const archive = join(
      e2e.stateDir,
      'volumes',
      'default',
      'backup-storage',
      'test-backup',
      '20300101T000100Z.tar.gz',
    );
    t.regex(execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' }), /base\/PG_VERSION/);
    // The seed's docs list its Jobs by label; Cairn's label does the same.
    const jobs = await kubectl(kc, [
      'get',
      'jobs',
      '-l',
      'backup.cairn.dev/policy=test-backup',
      '-o',
      'name',
    ]);
    t.regex(jobs, /job\.batch\/test-backup-203001010001/);
  },
);
