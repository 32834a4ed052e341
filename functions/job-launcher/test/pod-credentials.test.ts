/**
 * Issue 16 item 2: a DatabaseBackup with only a databaseSelector (seed 000's sample) connects
 * with the credentials the selected Pod's image was configured with, and says in the Backup's
 * ConnectionResolved condition what it found or what is missing. Variables as the official
 * postgres, mysql and mariadb images document them.
 */
import test from 'ava';
import { parseAgentArgs } from '../../../shared/agent-contract.ts';
import type { DatabaseBackup } from '../../../shared/api/index.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, databaseBackup } from '../../../test/builders.ts';
import { CONNECTION_RESOLVED, decide, type LaunchState } from '../decide.ts';
import type { PodEnvVar, PodInfo } from '../pod-credentials.ts';

const now = new Date('2030-01-01T01:00:05Z');

/** Seed 000's sample spec under Cairn's group: a selector, no connection fields. */
function seed000(spec: Partial<DatabaseBackup['spec']> = {}): DatabaseBackup {
  const p = databaseBackup('postgres-daily-backup', {
    databaseSelector: { matchLabels: { app: 'postgres', role: 'primary' } },
    storageDestination: {
      type: 's3',
      bucket: 'my-database-backups',
      path: 'postgres/daily',
      secretName: 's3-credentials',
    },
    ...spec,
  });
  delete p.spec.database;
  if (spec.database) p.spec.database = spec.database;
  return p;
}

const secretRef = (name: string, key: string) => ({ valueFrom: { secretKeyRef: { name, key } } });

function pod(image: string, env: PodEnvVar[], ports?: { name?: string; containerPort: number }[]): PodInfo {
  return {
    name: 'postgres-0',
    containers: [
      { name: 'exporter', image: 'prometheuscommunity/postgres-exporter', env: [{ name: 'X', value: 'y' }] },
      { name: 'db', image, env, ...(ports ? { ports } : {}) },
    ].filter((c) => c.image !== 'prometheuscommunity/postgres-exporter' || image.includes('postgres:')),
  };
}

function run(
  policy: DatabaseBackup,
  pods: PodInfo[],
  endpoints = [{ host: '10.0.0.5', what: 'Pod postgres-0' }],
) {
  const state: LaunchState = {
    backup: backup('postgres-daily-backup-203001010100', {
      kind: 'DatabaseBackup',
      name: policy.metadata.name,
    }),
    policy,
    endpoints,
    claims: {},
    selectedClaims: [],
    selectedPods: pods,
  };
  return decide(state, now);
}

const statusOf = (plan: Action[]) => {
  const s = plan.find((a) => a.type === 'status');
  return s?.type === 'status' ? s : undefined;
};
const conditionOf = (plan: Action[]) =>
  statusOf(plan)?.conditions?.find((c) => c.type === CONNECTION_RESOLVED);
// biome-ignore lint/suspicious/noExplicitAny: reaching into the Job's container.
const containerOf = (plan: Action[]): any => {
  const c = plan.find((a) => a.type === 'create' && a.kind === 'Job');
  return c?.type === 'create' ? c.object.spec.template.spec.containers[0] : undefined;
};
const envOf = (plan: Action[], name: string) =>
  containerOf(plan)?.env.find((e: { name: string }) => e.name === name);
// biome-ignore lint/suspicious/noExplicitAny: the parsed source's fields differ by kind.
const sourceOf = (plan: Action[]): any =>
  (parseAgentArgs(containerOf(plan).args) as { source: unknown }).source;

test("seed 000's sample: user, database and the password's secretKeyRef come from the selected Pod (postgres image)", (t) => {
  const plan = run(seed000(), [
    pod('postgres:16', [
      { name: 'POSTGRES_USER', value: 'app' },
      { name: 'POSTGRES_DB', value: 'appdb' },
      { name: 'POSTGRES_PASSWORD', ...secretRef('pg-secret', 'password') },
    ]),
  ]);
  t.like(sourceOf(plan), { kind: 'postgres', host: '10.0.0.5', port: 5432, user: 'app', database: 'appdb' });
  t.deepEqual(envOf(plan, 'PGPASSWORD'), {
    name: 'PGPASSWORD',
    valueFrom: { secretKeyRef: { name: 'pg-secret', key: 'password' } },
  });
  const c = conditionOf(plan);
  t.like(c, { status: 'True', reason: 'FromPod' });
  t.regex(
    c?.message ?? '',
    /Pod postgres-0 \(container db, image postgres:16\): user app \(POSTGRES_USER\), database appdb \(POSTGRES_DB\), password from Secret pg-secret key password \(POSTGRES_PASSWORD\)/,
  );
});

test('the postgres image defaults: user postgres, database = the user, and a plain value password is passed as a value', (t) => {
  // Seed 002's StatefulSet sets POSTGRES_PASSWORD as a plain value.
  const plan = run(seed000(), [
    pod('postgres:15', [{ name: 'POSTGRES_PASSWORD', value: 'mysecretpassword' }]),
  ]);
  t.like(sourceOf(plan), { user: 'postgres', database: 'postgres' });
  t.deepEqual(envOf(plan, 'PGPASSWORD'), { name: 'PGPASSWORD', value: 'mysecretpassword' });
  t.regex(
    conditionOf(plan)?.message ?? '',
    /user postgres \(image default\), database postgres \(POSTGRES_DB unset: the image uses the user name\), password from the plain value of POSTGRES_PASSWORD/,
  );
  t.notRegex(conditionOf(plan)?.message ?? '', /mysecretpassword/, 'the condition never shows a value');

  const onlyUser = run(seed000(), [pod('postgres:15', [{ name: 'POSTGRES_USER', value: 'team03' }])]);
  t.like(sourceOf(onlyUser), { user: 'team03', database: 'team03' });
  t.is(envOf(onlyUser, 'PGPASSWORD'), undefined);
  t.regex(conditionOf(onlyUser)?.message ?? '', /no password/);
});

test('the port is the container port (a port named like the engine first), else PGPORT, else 5432; a Service port wins', (t) => {
  const env = [{ name: 'POSTGRES_PASSWORD', value: 'x' }];
  const named = run(seed000(), [
    pod('postgres:16', env, [
      { name: 'metrics', containerPort: 9187 },
      { name: 'postgresql', containerPort: 6543 },
    ]),
  ]);
  t.is(sourceOf(named).kind === 'postgres' && sourceOf(named).port, 6543);
  const pgport = run(seed000(), [pod('postgres:16', [...env, { name: 'PGPORT', value: '7777' }])]);
  t.is(sourceOf(pgport).kind === 'postgres' && sourceOf(pgport).port, 7777);
  const svc = run(
    seed000(),
    [pod('postgres:16', env, [{ containerPort: 6543 }])],
    [{ host: 'pg.default.svc', port: 5433, what: 'Service pg' } as never],
  );
  t.like(sourceOf(svc), { host: 'pg.default.svc', port: 5433 });
});

test('spec.database wins over the Pod: its user takes no password meant for another user; its passwordSecretRef is used', (t) => {
  const env = [
    { name: 'POSTGRES_USER', value: 'app' },
    { name: 'POSTGRES_PASSWORD', ...secretRef('pg-secret', 'password') },
  ];
  const other = run(seed000({ database: { user: 'backup' } }), [pod('postgres:16', env)]);
  t.like(sourceOf(other), { user: 'backup', database: 'app' });
  t.is(envOf(other, 'PGPASSWORD'), undefined);
  const explicit = run(
    seed000({ database: { user: 'backup', name: 'x', passwordSecretRef: { name: 'explicit', key: 'pw' } } }),
    [pod('postgres:16', env)],
  );
  t.deepEqual(envOf(explicit, 'PGPASSWORD')?.valueFrom, { secretKeyRef: { name: 'explicit', key: 'pw' } });
  t.regex(conditionOf(explicit)?.message ?? '', /password from spec\.database\.passwordSecretRef/);
});

test('a user or database name that only a Secret holds fails the Backup and names what to set', (t) => {
  const plan = run(seed000(), [
    pod('postgres:16', [
      { name: 'POSTGRES_USER', ...secretRef('pg-secret', 'username') },
      { name: 'POSTGRES_PASSWORD', ...secretRef('pg-secret', 'password') },
    ]),
  ]);
  t.false(plan.some((a) => a.type === 'create'));
  t.like(statusOf(plan)?.set, { phase: 'Failed', reason: 'CredentialsNotFound' });
  t.like(conditionOf(plan), { status: 'False', reason: 'CredentialsNotFound' });
  t.regex(
    conditionOf(plan)?.message ?? '',
    /POSTGRES_USER comes from Secret pg-secret \(key username\), which Cairn does not read .*: set spec\.database\.user/,
  );
  // …and with the user given, the database (which defaults to the user) is still unknown.
  const stillNo = run(seed000({ database: { user: 'app' } }), [
    pod('postgres:16', [{ name: 'POSTGRES_USER', ...secretRef('s', 'u') }]),
  ]);
  t.like(statusOf(stillNo)?.set, { reason: 'CredentialsNotFound' });
  const enough = run(seed000({ database: { user: 'app', name: 'app' } }), [
    pod('postgres:16', [{ name: 'POSTGRES_USER', ...secretRef('s', 'u') }]),
  ]);
  t.like(sourceOf(enough), { user: 'app', database: 'app' });
  const file = run(seed000(), [
    pod('postgres:16', [{ name: 'POSTGRES_PASSWORD_FILE', value: '/run/secrets/pw' }]),
  ]);
  t.regex(conditionOf(file)?.message ?? '', /POSTGRES_PASSWORD_FILE names a file inside the Pod/);
});

test('mariadb image: MARIADB_* wins over MYSQL_*, the app user with its password, its database', (t) => {
  const p = seed000({ databaseType: 'mariadb' });
  const plan = run(p, [
    pod('mariadb:11', [
      { name: 'MYSQL_USER', value: 'old' },
      { name: 'MARIADB_USER', value: 'shop' },
      { name: 'MARIADB_PASSWORD', ...secretRef('maria', 'user-password') },
      { name: 'MARIADB_ROOT_PASSWORD', ...secretRef('maria', 'root-password') },
      { name: 'MARIADB_DATABASE', value: 'shop' },
    ]),
  ]);
  t.like(sourceOf(plan), { kind: 'mariadb', port: 3306, user: 'shop', database: 'shop' });
  t.deepEqual(envOf(plan, 'MYSQL_PWD')?.valueFrom, { secretKeyRef: { name: 'maria', key: 'user-password' } });
});

test('mysql image: root with MYSQL_ROOT_PASSWORD and every database; a random root password is missing', (t) => {
  const p = seed000({ databaseType: 'mysql' });
  const root = run(p, [pod('mysql:8.4', [{ name: 'MYSQL_ROOT_PASSWORD', ...secretRef('mysql', 'root') }])]);
  t.like(sourceOf(root), { kind: 'mysql', user: 'root', allDatabases: true });
  t.deepEqual(envOf(root, 'MYSQL_PWD')?.valueFrom, { secretKeyRef: { name: 'mysql', key: 'root' } });
  const rand = run(p, [pod('mysql:8.4', [{ name: 'MYSQL_RANDOM_ROOT_PASSWORD', value: 'yes' }])]);
  t.like(statusOf(rand)?.set, { phase: 'Failed', reason: 'CredentialsNotFound' });
  t.regex(conditionOf(rand)?.message ?? '', /random/);
});

test('a Service with no running Pod behind it says so in the condition and keeps the engine defaults', (t) => {
  const plan = run(
    seed000(),
    [],
    [{ host: 'postgres.default.svc', port: 5432, what: 'Service postgres' } as never],
  );
  t.like(conditionOf(plan), { status: 'False', reason: 'NoPodFound' });
  t.regex(conditionOf(plan)?.message ?? '', /Service postgres selects no running Pod/);
  t.like(sourceOf(plan), { user: 'postgres', database: 'postgres' });
});
