/**
 * Bad input (issue 9): a catalogue of malformed and hostile resources and events. Each gets a
 * schema error (the API server's validation, test/api-validation.ts, or real kubectl against the API emulator with the
 * project's CRDs), a 4xx from the function over HTTP, or — when it passes the schema — a refusal by
 * the function: Ready=False / phase Failed with a reason, and a Warning Event. Never a crash, never
 * a command built from user text.
 *
 * test/shared/validation.test.ts holds 57 more bad specs (wrong types, enums, ranges, path
 * traversal in destination paths, shell metacharacters in hosts and schemas, namespaced secret
 * references, CEL rules); this file covers the classes it does not.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CloudEvent, HTTP } from 'cloudevents';
import { type LaunchState, decide as launch } from '../../functions/job-launcher/decide.ts';
import { plan as launcherPlan } from '../../functions/job-launcher/handle.ts';
import { plan as watcherPlan } from '../../functions/job-watcher/handle.ts';
import { type RestoreState, decide as restoreDecide } from '../../functions/restore-runner/decide.ts';
import { plan as restorePlan } from '../../functions/restore-runner/handle.ts';
import { plan as prunerPlan } from '../../functions/retention-pruner/handle.ts';
import { decide as schedule } from '../../functions/schedule-evaluator/decide.ts';
import { plan as evaluatorPlan } from '../../functions/schedule-evaluator/handle.ts';
import { startApiServer } from '../../local/apiserver/index.ts';
import { installCrds } from '../../local/runtime.ts';
import { API_VERSION, type Restore } from '../../shared/api/index.ts';
import type { Planner } from '../../shared/function.ts';
import type { Action, Plan } from '../../shared/plan.ts';
import { fieldErrors } from '../api-validation.ts';
import { backup, backupPolicy, databaseBackup } from '../builders.ts';
import { type Harness, startFunction } from '../function-harness.ts';
import { kubectlPath } from '../local/apiserver-helpers.ts';

// ---------------------------------------------------------------------------------------------
// 1. Resources the schema refuses (the API server's validation of the CRDs: test/api-validation.ts)

const dbb = (spec: Record<string, unknown>, meta: Record<string, unknown> = {}) => ({
  apiVersion: API_VERSION,
  kind: 'DatabaseBackup',
  metadata: { name: 'db', ...meta },
  spec: {
    schedule: '0 1 * * *',
    database: { host: 'pg', name: 'app', user: 'backup', passwordSecretRef: { name: 'pg', key: 'password' } },
    storageDestination: { type: 's3', bucket: 'bkt' },
    ...spec,
  },
});
const db = (d: Record<string, unknown>) => dbb({ database: { host: 'pg', name: 'app', user: 'u', ...d } });

/** [title, object, the field the error must name] */
const schemaCases: [string, object, string][] = [
  ['database name with a shell command', db({ name: 'app; rm -rf /' }), 'spec.database.name'],
  ['database name with $( )', db({ name: '$(reboot)' }), 'spec.database.name'],
  ['database name that is an option', db({ name: '-Fp' }), 'spec.database.name'],
  ['database name with a NUL byte', db({ name: 'a\u0000b' }), 'spec.database.name'],
  ['user with backticks', db({ user: '`id`' }), 'spec.database.user'],
  ['user that is an option', db({ user: '--help' }), 'spec.database.user'],
  ['host that is an option', db({ host: '-oProxyCommand=x' }), 'spec.database.host'],
  ['host with a newline', db({ host: 'pg\n-c' }), 'spec.database.host'],
  ['schema with SQL', db({ schemas: ['public; DROP TABLE x'] }), 'spec.database.schemas[0]'],
  [
    'secret key with path traversal',
    db({ passwordSecretRef: { name: 'pg', key: '../../x' } }),
    'spec.database.passwordSecretRef.key',
  ],
  ['a 100,000-character schedule', dbb({ schedule: '*'.repeat(100_000) }), 'spec.schedule'],
  [
    'a 100,000-character bucket',
    dbb({ storageDestination: { type: 's3', bucket: 'a'.repeat(100_000) } }),
    'spec.storageDestination.bucket',
  ],
  [
    'storage path climbing out with ..',
    dbb({ storageDestination: { type: 's3', bucket: 'bkt', path: 'a/../../b' } }),
    'spec.storageDestination.path',
  ],
  [
    'claim name with path traversal',
    dbb({ storageDestination: { type: 'pvc', claimName: '../etc' } }),
    'spec.storageDestination.claimName',
  ],
  [
    'endpoint that is a local file',
    dbb({ storageDestination: { type: 's3', bucket: 'bkt', endpoint: 'file:///etc/passwd' } }),
    'spec.storageDestination.endpoint',
  ],
  ['time zone with path traversal', dbb({ timeZone: '../../etc/passwd' }), 'spec.timeZone'],
  ['backupImage with a shell command', dbb({ backupImage: 'img; rm -rf /' }), 'spec.backupImage'],
  [
    'serviceAccountName of another namespace',
    dbb({ serviceAccountName: 'system:serviceaccount:kube-system:admin' }),
    'spec.serviceAccountName',
  ],
  ['spec that is a string', { ...dbb({}), spec: 'x' }, 'spec'],
  [
    'startingDeadlineSeconds beyond int64',
    dbb({ startingDeadlineSeconds: 1e20 }),
    'spec.startingDeadlineSeconds',
  ],
  ['backupRetention of a hundred million years', dbb({ backupRetention: 1e12 }), 'spec.backupRetention'],
  ['negative activeDeadlineSeconds', dbb({ activeDeadlineSeconds: -1 }), 'spec.activeDeadlineSeconds'],
];

for (const [title, obj, field] of schemaCases) {
  test(`schema refuses: ${title}`, async (t) => {
    const errors = await fieldErrors('DatabaseBackup', obj);
    t.true(
      errors.some((e) => e.field === field),
      `expected an error naming ${field}, got ${JSON.stringify(errors).slice(0, 300)}`,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// 2. The same refusals through real kubectl apply against the API emulator

const kubectlCases: [string, object, RegExp][] = [
  ['database name with a shell command', db({ name: 'app; rm -rf /' }), /spec\.database\.name/],
  [
    'unknown storage type',
    dbb({ storageDestination: { type: 'ftp', bucket: 'bkt' } }),
    /spec\.storageDestination\.type/,
  ],
  [
    'password reference into another namespace',
    db({ passwordSecretRef: { name: 'pg', namespace: 'kube-system' } }),
    /spec\.database\.passwordSecretRef\.namespace/,
  ],
  ['a label value of 1,000 characters', dbb({}, { labels: { team: 'x'.repeat(1000) } }), /metadata\.labels/],
];

test('kubectl apply of hostile resources is refused with the field named, and nothing is stored', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bad-'));
  const api = await startApiServer();
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  t.teardown(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });
  await installCrds(kubeconfig);
  const kubectl = (args: string[], input: string) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      const child = execFile(
        kubectlPath(),
        ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
        { encoding: 'utf8', timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr }),
      );
      child.stdin?.end(input);
    });
  for (const [title, obj, field] of kubectlCases) {
    const r = await kubectl(['apply', '-n', 'default', '-f', '-'], JSON.stringify(obj));
    t.not(r.code, 0, `${title}: ${r.out}`);
    t.regex(r.out, field, title);
  }
  const list = await kubectl(['get', 'databasebackups', '-A', '-o', 'name'], '');
  t.false(list.out.includes('databasebackup.'), list.out);
});

// ---------------------------------------------------------------------------------------------
// 3. Resources that pass the schema but a function must refuse: Ready=False / Failed, reason, Event

const now = new Date('2025-03-20T01:00:05Z');
const dbRef = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };
const bpRef = { kind: 'BackupPolicy' as const, name: 'volumes' };
const launchState = (over: Partial<LaunchState>): LaunchState => ({
  backup: backup('pg-nightly-202503200100', dbRef, {}, {}, { scheduledTime: '2025-03-20T01:00:00Z' }),
  policy: databaseBackup(),
  endpoints: [],
  claims: { 'backup-store': true },
  selectedClaims: [],
  ...over,
});
const completed = {
  phase: 'Completed' as const,
  manifestKey: 'm.json',
  key: 'a.tar.zst',
  sha256: 'b'.repeat(64),
};
const restoreOf = (spec: Partial<Restore['spec']> = {}, namespace = 'default'): Restore => ({
  apiVersion: API_VERSION,
  kind: 'Restore',
  metadata: { name: 'r1', namespace, uid: 'uid-r1' },
  spec: { backupRef: { name: 'volumes-1' }, target: { pvc: { claimName: 'data-restore' } }, ...spec },
});
const restoreState = (over: Partial<RestoreState>): RestoreState => ({
  restore: restoreOf(),
  backup: backup('volumes-1', bpRef, completed),
  policy: backupPolicy(),
  claims: { 'data-restore': true, 'backup-store': true },
  ...over,
});
const bad = (name: string) => ({ ...databaseBackup('pg-nightly', { schedule: name }) });

/** [title, the plan, the reason the status and the Warning Event must carry] */
const refusals: [string, () => Plan, string][] = [
  [
    'a schedule that never fires (0 0 31 2 *)',
    () => schedule({ kind: 'DatabaseBackup', policy: bad('0 0 31 2 *'), backups: [] }, now),
    'InvalidSchedule',
  ],
  [
    'a schedule out of range (61 * * * *)',
    () => schedule({ kind: 'DatabaseBackup', policy: bad('61 * * * *'), backups: [] }, now),
    'InvalidSchedule',
  ],
  [
    'an unknown macro (@reboot)',
    () => schedule({ kind: 'DatabaseBackup', policy: bad('@reboot'), backups: [] }, now),
    'InvalidSchedule',
  ],
  [
    'a time zone that does not exist',
    () =>
      schedule(
        {
          kind: 'DatabaseBackup',
          policy: databaseBackup('pg-nightly', { timeZone: 'Mars/Olympus' }),
          backups: [],
        },
        now,
      ),
    'InvalidSchedule',
  ],
  // (A Secret that does not exist is no refusal: functions may not read Secrets; the Pod reports it.)
  [
    'a backupImage the cluster admin did not allow',
    () =>
      launch(launchState({ policy: databaseBackup('pg-nightly', { backupImage: 'busybox:latest' }) }), now),
    'ImageNotAllowed',
  ],
  [
    'a serviceAccountName the cluster admin did not allow',
    () => launch(launchState({ policy: databaseBackup('pg-nightly', { serviceAccountName: 'admin' }) }), now),
    'ServiceAccountNotAllowed',
  ],
  [
    'a Backup of a policy that does not exist',
    () => launch(launchState({ policy: undefined }), now),
    'PolicyNotFound',
  ],
  [
    'a databaseSelector that matches nothing',
    () =>
      launch(
        launchState({
          policy: databaseBackup('pg-nightly', {
            database: { name: 'app' },
            databaseSelector: { matchLabels: { app: 'nothing' } },
          }),
        }),
        now,
      ),
    'SourceNotFound',
  ],
  [
    'a pvcSelector that matches nothing',
    () =>
      launch(
        launchState({
          backup: backup('volumes-202503200100', bpRef),
          policy: backupPolicy(),
          selectedClaims: [],
        }),
        now,
      ),
    'VolumeNotFound',
  ],
  [
    'a destination claim that does not exist',
    () =>
      launch(
        launchState({
          backup: backup('volumes-202503200100', bpRef),
          policy: backupPolicy(),
          selectedClaims: ['data'],
          claims: {},
        }),
        now,
      ),
    'VolumeNotFound',
  ],
  [
    'backupStrategy snapshot with a pvcSelector that matches nothing',
    () =>
      launch(
        launchState({
          backup: backup('volumes-202503200100', bpRef),
          policy: backupPolicy('volumes', { backupStrategy: 'snapshot' }),
          selectedClaims: [],
        }),
        now,
      ),
    'VolumeNotFound',
  ],
  [
    'a Restore of a Backup in another namespace (it is looked up only in its own)',
    () => restoreDecide(restoreState({ restore: restoreOf({}, 'team-b'), backup: undefined }), now),
    'RestoreRefused',
  ],
  [
    // One still running is waited for (seed 003: functions/restore-runner/test/seeds.test.ts).
    'a Restore of a Backup that failed',
    () => restoreDecide(restoreState({ backup: backup('volumes-1', bpRef, { phase: 'Failed' }) }), now),
    'RestoreRefused',
  ],
  [
    'a Restore of a Backup without a manifest',
    () =>
      restoreDecide(
        restoreState({ backup: backup('volumes-1', bpRef, { phase: 'Completed', sha256: 'b'.repeat(64) }) }),
        now,
      ),
    'RestoreRefused',
  ],
  [
    'a Restore of a database Backup into a PVC',
    () =>
      restoreDecide(
        restoreState({ backup: backup('pg-1', dbRef, completed), policy: databaseBackup() }),
        now,
      ),
    'RestoreRefused',
  ],
  [
    'a Restore into a claim that does not exist',
    () => restoreDecide(restoreState({ claims: { 'backup-store': true } }), now),
    'RestoreRefused',
  ],
];

for (const [title, run, reason] of refusals) {
  test(`a function refuses: ${title}`, (t) => {
    const plan = run();
    const status = plan.find((a): a is Extract<Action, { type: 'status' }> => a.type === 'status');
    t.truthy(status, 'a status is written');
    const ready = status?.conditions?.find((c) => c.type === 'Ready');
    t.like(ready, { status: 'False', reason });
    t.true((ready?.message ?? '').length > 0, 'the condition says why');
    t.true(
      plan.some((a) => a.type === 'event' && a.eventType === 'Warning'),
      'a Warning Event is recorded',
    );
    t.false(
      plan.some((a) => a.type === 'create'),
      'nothing is created',
    );
  });
}

test('user text reaches the agent only as separate arguments, never through a shell', (t) => {
  // The most hostile text each field's schema still allows.
  const policy = databaseBackup('pg-nightly', {
    database: {
      host: 'a-b.c',
      name: 'a$b',
      user: 'u.$-x',
      passwordSecretRef: { name: 'pg', key: 'pass.word' },
      schemas: ['s$1'],
    },
    storageDestination: { type: 's3', bucket: 'bkt', path: 'x y/$(id)', secretName: 's3' },
  });
  const plan = launch(launchState({ policy }), now);
  const job =
    plan.find((a) => a.type === 'create')?.type === 'create'
      ? (plan.find((a) => a.type === 'create') as Extract<Action, { type: 'create' }>).object
      : undefined;
  const container = job?.spec.template.spec.containers[0];
  t.truthy(container);
  const argv: string[] = [...(container.command ?? []), ...(container.args ?? [])];
  t.false(
    argv.some((a) => a === 'sh' || a === '/bin/sh' || a === 'bash' || a === '-c'),
    argv.join(' '),
  );
  t.true(argv.includes('x y/$(id)'), 'the path is one argument, as written');
});

// ---------------------------------------------------------------------------------------------
// 4. Events over HTTP to each function: malformed or foreign ones get a 4xx and change nothing;
//    the function then still answers a good event.

const FUNCTIONS: [string, Planner, string, string][] = [
  ['schedule-evaluator', evaluatorPlan, 'DatabaseBackup', 'add'],
  ['job-launcher', launcherPlan, 'Backup', 'add'],
  ['job-watcher', watcherPlan, 'Job', 'update'],
  ['retention-pruner', prunerPlan, 'Backup', 'update'],
  ['restore-runner', restorePlan, 'Restore', 'add'],
];

type Raw = { headers: Record<string, string>; body: string };
const binary = (attrs: Record<string, string>, data: unknown): Raw => ({
  headers: {
    'content-type': 'application/json',
    ...Object.fromEntries(Object.entries(attrs).map(([k, v]) => [`ce-${k}`, v])),
  },
  body: typeof data === 'string' ? data : JSON.stringify(data),
});
const base = { specversion: '1.0', id: 'e1', source: '/apis/v1/namespaces/default/x' };
const R = 'dev.knative.apiserver.resource.';
const obj = (kind: string, name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: kind === 'Job' ? 'batch/v1' : API_VERSION,
  kind,
  metadata: { name, namespace: 'default', labels: { 'backup.cairn.dev/backup': name } },
  ...extra,
});
const ext = (kind: string, name: string, namespace = 'default') => ({
  kind,
  apiversion: kind === 'Job' ? 'batch/v1' : API_VERSION,
  name,
  namespace,
});

/**
 * [title, the request for a function (its kind and action), the answer]: `refused` is a 4xx from
 * Cairn (the Broker does not retry it); `runtime` is faas-js-runtime refusing a request that is not
 * a valid CloudEvent before Cairn's handler runs — it answers 500 (so a Broker would retry it),
 * which Cairn cannot change; `ignored` is a 2xx that changes nothing.
 */
const eventCases: [string, (kind: string, action: string) => Raw, 'refused' | 'runtime' | 'ignored'][] = [
  [
    'a body that is not a CloudEvent',
    () => ({ headers: { 'content-type': 'application/json' }, body: '{"hello":1}' }),
    'refused',
  ],
  ['a binary event without ce-type', (k) => binary({ ...base, ...ext(k, 'a') }, obj(k, 'a')), 'runtime'],
  [
    'a binary event without ce-source',
    (k) => binary({ specversion: '1.0', id: 'e1', type: `${R}add`, ...ext(k, 'a') }, obj(k, 'a')),
    'runtime',
  ],
  [
    'a binary event without ce-id',
    (k) => binary({ specversion: '1.0', source: 's', type: `${R}add`, ...ext(k, 'a') }, obj(k, 'a')),
    'runtime',
  ],
  [
    'an unknown specversion',
    (k, a) => binary({ ...base, specversion: '0.1', type: `${R}${a}`, ...ext(k, 'a') }, obj(k, 'a')),
    'ignored',
  ],
  ['a foreign event type', () => binary({ ...base, type: 'com.example.exploit' }, {}), 'refused'],
  [
    'a Reference-mode ApiServerSource event',
    (k, a) => binary({ ...base, type: `dev.knative.apiserver.ref.${a}`, ...ext(k, 'a') }, obj(k, 'a')),
    'refused',
  ],
  [
    'a resource event about a Secret',
    (_k, a) =>
      binary(
        { ...base, type: `${R}${a}`, ...ext('Secret', 'creds') },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'creds', namespace: 'default' },
          data: { password: 'aHVudGVyMg==' },
        },
      ),
    'refused',
  ],
  [
    'a resource event without the kind extension',
    (k, a) =>
      binary(
        { ...base, type: `${R}${a}`, apiversion: API_VERSION, name: 'a', namespace: 'default' },
        obj(k, 'a'),
      ),
    'refused',
  ],
  [
    'a resource event whose data is a string',
    (k, a) => binary({ ...base, type: `${R}${a}`, ...ext(k, 'a') }, '"just text"'),
    'refused',
  ],
  [
    'a resource event whose data is not JSON',
    (k, a) => binary({ ...base, type: `${R}${a}`, ...ext(k, 'a') }, '{not json'),
    'refused',
  ],
  [
    'a resource event whose data names another object',
    (k, a) => binary({ ...base, type: `${R}${a}`, ...ext(k, 'a') }, obj(k, 'b')),
    'refused',
  ],
  [
    'a resource event whose data is of another kind',
    (k, a) => binary({ ...base, type: `${R}${a}`, ...ext(k, 'a') }, obj(k === 'Job' ? 'Pod' : 'Job', 'a')),
    'refused',
  ],
  [
    'a backup.completed event without data.name',
    () =>
      binary(
        { ...base, type: 'dev.cairn.backup.completed', source: '/cairn/job-watcher' },
        { namespace: 'default' },
      ),
    'refused',
  ],
  [
    'a resource event naming a 100 KB name with shell metacharacters',
    (k, a) => {
      const name = `$(reboot);${'x'.repeat(100_000)}`;
      return binary({ ...base, type: `${R}${a}`, ...ext(k, name) }, obj(k, name));
    },
    'refused',
  ],
  [
    'a resource event in a namespace named ../../etc',
    (k, a) =>
      binary(
        { ...base, type: `${R}${a}`, ...ext(k, 'a', '../../etc') },
        {
          ...obj(k, 'a'),
          metadata: { name: 'a', namespace: '../../etc', labels: { 'backup.cairn.dev/backup': 'a' } },
        },
      ),
    'ignored',
  ],
  [
    'a resource event about an object that does not exist',
    (k, a) => binary({ ...base, type: `${R}${a}`, ...ext(k, 'ghost') }, obj(k, 'ghost')),
    'ignored',
  ],
];

test('malformed, foreign and hostile events over HTTP: each function answers 4xx or ignores them, changes nothing, and keeps serving', async (t) => {
  const harnesses: Harness[] = await Promise.all(FUNCTIONS.map(([name, p]) => startFunction(name, p)));
  t.teardown(() => Promise.all(harnesses.map((h) => h.stop())));
  const snapshot = async (h: Harness) =>
    JSON.stringify(
      await Promise.all(
        ['DatabaseBackup', 'BackupPolicy', 'Backup', 'Restore', 'Job'].map((k) => h.kube.list(k, undefined)),
      ),
    ) + JSON.stringify(await h.kube.list('Event', 'default'));
  await Promise.all(
    FUNCTIONS.map(async ([name, , kind, action], i) => {
      const h = harnesses[i] as Harness;
      const before = await snapshot(h);
      for (const [title, build, expect] of eventCases) {
        const req = build(kind, action);
        const res = await fetch(h.url, { method: 'POST', headers: req.headers, body: req.body });
        await res.text();
        const ok =
          expect === 'refused'
            ? res.status >= 400 && res.status < 500
            : expect === 'runtime'
              ? res.status >= 400
              : res.status >= 200 && res.status < 300;
        t.true(ok, `${name}, ${title}: HTTP ${res.status}, expected ${expect}`);
      }
      t.is(await snapshot(h), before, `${name}: the API holds what it held`);
      // Still alive: a PingSource tick is answered.
      const { headers, body } = HTTP.binary(
        new CloudEvent({
          type: 'dev.knative.sources.ping',
          source: '/apis/v1/namespaces/cairn-system/pingsources/cairn-tick',
          data: {},
        }),
      );
      const ok = await fetch(h.url, {
        method: 'POST',
        headers: headers as Record<string, string>,
        body: body as string,
      });
      await ok.text();
      t.true(
        ok.status >= 200 && ok.status < 300,
        `${name} answers a tick after the bad events: ${ok.status}`,
      );
    }),
  );
});

test('the catalogue holds at least 50 cases besides the 57 of test/shared/validation.test.ts', (t) => {
  const total = schemaCases.length + kubectlCases.length + refusals.length + 1 + eventCases.length;
  t.true(total >= 50, `${total} cases`);
});
