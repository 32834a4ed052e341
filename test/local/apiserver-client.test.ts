/**
 * @kubernetes/client-node 2.x against the emulator: what Cairn's functions do through it
 * (typed and custom-object APIs, merge patches, the status subresource, watches, conflicts)
 * behaves as kube-apiserver behaves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { type Emulator, eventually, fixtures, type JsonAny, startEmulator } from './apiserver-helpers.ts';

const g = { group: 'fixtures.cairn.dev', version: 'v1alpha1', plural: 'backupschedules' };
let emu: Emulator;
let kc: KubeConfig;
let co: CustomObjectsApi;
let core: CoreV1Api;
let batch: BatchV1Api;

test.before(async () => {
  emu = await startEmulator({ bookmarkIntervalMs: 100 });
  kc = new KubeConfig();
  kc.loadFromString(emu.server.kubeconfig());
  co = kc.makeApiClient(CustomObjectsApi);
  core = kc.makeApiClient(CoreV1Api);
  batch = kc.makeApiClient(BatchV1Api);
  for (const f of ['backupschedules.yaml', 'backupruns.yaml']) {
    const crd = parseAllDocuments(readFileSync(join(fixtures, 'crds', f), 'utf8'))[0]!.toJS();
    const r = await emu.call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  }
});
test.after.always(async () => {
  await emu?.close();
});

async function makeNamespace(name: string) {
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

const schedule = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'fixtures.cairn.dev/v1alpha1',
  kind: 'BackupSchedule',
  metadata: { name, labels: { app: 'pg' } },
  spec: {
    databaseType: 'postgres',
    schedule: '0 1 * * *',
    database: { host: 'pg' },
    storageDestination: { type: 's3', bucket: 'b' },
    ...spec,
  },
});

async function apiError(p: Promise<unknown>): Promise<{ code: number; status: JsonAny }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiException) return { code: e.code, status: JSON.parse(e.body as string) };
    throw e;
  }
  throw new Error('expected the call to fail');
}

test('create, get, list with a label selector; AlreadyExists on a second create', async (t) => {
  const namespace = await makeNamespace('crud');
  const created = await co.createNamespacedCustomObject({ ...g, namespace, body: schedule('a') });
  t.is(created.metadata.generation, 1);
  t.regex(created.metadata.uid, /^[0-9a-f-]{36}$/);
  t.is(created.spec.concurrencyPolicy, 'Forbid', 'schema defaults are applied');
  await co.createNamespacedCustomObject({
    ...g,
    namespace,
    body: { ...schedule('b'), metadata: { name: 'b', labels: { app: 'mysql' } } },
  });
  const list = await co.listNamespacedCustomObject({ ...g, namespace, labelSelector: 'app in (pg)' });
  t.deepEqual(
    list.items.map((i: JsonAny) => i.metadata.name),
    ['a'],
  );
  t.is(list.items[0].kind, 'BackupSchedule', 'custom resources in lists keep their kind');
  const again = await apiError(co.createNamespacedCustomObject({ ...g, namespace, body: schedule('a') }));
  t.is(again.code, 409);
  t.is(again.status.reason, 'AlreadyExists');
  t.is(again.status.message, 'backupschedules.fixtures.cairn.dev "a" already exists');
  const missing = await apiError(co.getNamespacedCustomObject({ ...g, namespace, name: 'nope' }));
  t.is(missing.code, 404);
  t.is(missing.status.reason, 'NotFound');
});

test('merge patch, status subresource, generation and a 409 on a stale resourceVersion', async (t) => {
  const namespace = await makeNamespace('status');
  const c = await co.createNamespacedCustomObject({ ...g, namespace, body: schedule('s') });
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const p = await co.patchNamespacedCustomObject(
    { ...g, namespace, name: 's', body: { spec: { suspend: true } } },
    merge,
  );
  t.is(p.metadata.generation, 2);
  const st = await co.patchNamespacedCustomObjectStatus(
    {
      ...g,
      namespace,
      name: 's',
      body: { status: { lastBackupStatus: 'Succeeded', observedGeneration: 2 }, spec: { suspend: false } },
    },
    merge,
  );
  t.is(st.status.lastBackupStatus, 'Succeeded');
  t.is(st.spec.suspend, true, 'a status write changes nothing but status');
  t.is(st.metadata.generation, 2, 'a status write does not bump generation');
  t.true(Number(st.metadata.resourceVersion) > Number(p.metadata.resourceVersion));
  const stale = await apiError(
    co.replaceNamespacedCustomObjectStatus({
      ...g,
      namespace,
      name: 's',
      body: { ...c, status: { lastBackupStatus: 'Failed' } },
    }),
  );
  t.is(stale.code, 409);
  t.is(stale.status.reason, 'Conflict');
  t.regex(stale.status.message, /the object has been modified/);
  const jsonPatch = await co.patchNamespacedCustomObject({
    ...g,
    namespace,
    name: 's',
    body: [{ op: 'replace', path: '/spec/schedule', value: '5 5 * * *' }],
  });
  t.is(jsonPatch.spec.schedule, '5 5 * * *', 'JSON patch is client-node’s default');
  const invalid = await apiError(
    co.patchNamespacedCustomObject(
      { ...g, namespace, name: 's', body: { spec: { concurrencyPolicy: 'Sometimes' } } },
      merge,
    ),
  );
  t.is(invalid.code, 422);
  t.is(invalid.status.reason, 'Invalid');
  t.deepEqual(invalid.status.details.causes, [
    {
      reason: 'FieldValueNotSupported',
      message: 'Unsupported value: "Sometimes": supported values: "Forbid", "Allow", "Replace"',
      field: 'spec.concurrencyPolicy',
    },
  ]);
});

test('watch: ADDED, MODIFIED, DELETED and BOOKMARK in order, resuming from a resourceVersion', async (t) => {
  const namespace = await makeNamespace('watch');
  const list = await co.listNamespacedCustomObject({ ...g, namespace });
  const seen: Array<[string, string]> = [];
  const w = await new Watch(kc).watch(
    `/apis/${g.group}/${g.version}/namespaces/${namespace}/${g.plural}`,
    { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true },
    (phase, obj: JsonAny) => {
      seen.push([phase, obj.metadata?.name ?? '']);
    },
    () => {},
  );
  try {
    await co.createNamespacedCustomObject({ ...g, namespace, body: schedule('w') });
    await co.patchNamespacedCustomObject(
      { ...g, namespace, name: 'w', body: { spec: { suspend: true } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await co.deleteNamespacedCustomObject({ ...g, namespace, name: 'w' });
    await eventually(() => seen.some(([p]) => p === 'DELETED') && seen.some(([p]) => p === 'BOOKMARK'));
    t.deepEqual(
      seen.filter(([p]) => p !== 'BOOKMARK'),
      [
        ['ADDED', 'w'],
        ['MODIFIED', 'w'],
        ['DELETED', 'w'],
      ],
    );
  } finally {
    w.abort();
  }
});

test('watch from a resourceVersion older than the history gets 410 Expired', async (t) => {
  const small = await startEmulator({ watchHistory: 4 });
  try {
    const skc = new KubeConfig();
    skc.loadFromString(small.server.kubeconfig());
    const scm = skc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 12; i++)
      await scm.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `cm${i}` } } });
    const events: JsonAny[] = [];
    const w = await new Watch(skc).watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: '2' },
      (phase, obj) => events.push({ phase, obj }),
      () => {},
    );
    await eventually(() => events.length > 0);
    w.abort();
    t.is(events[0].phase, 'ERROR');
    t.is(events[0].obj.code, 410);
    t.is(events[0].obj.reason, 'Expired');
    t.regex(events[0].obj.message, /^too old resource version: 2 \(\d+\)$/);
  } finally {
    await small.close();
  }
});

test('limit and continue page through a list; resourceVersion only grows', async (t) => {
  const namespace = await makeNamespace('pages');
  let last = 0;
  for (let i = 0; i < 7; i++) {
    const o = await co.createNamespacedCustomObject({ ...g, namespace, body: schedule(`p${i}`) });
    t.true(Number(o.metadata.resourceVersion) > last);
    last = Number(o.metadata.resourceVersion);
  }
  const names: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await co.listNamespacedCustomObject({
      ...g,
      namespace,
      limit: 3,
      ...(token ? { _continue: token } : {}),
    });
    names.push(...page.items.map((i: JsonAny) => i.metadata.name));
    token = page.metadata.continue || undefined;
    if (token) t.is(typeof page.metadata.remainingItemCount, 'number');
    pages++;
  } while (token);
  t.is(pages, 3);
  t.deepEqual(names, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
});

test('core kinds: a Secret from stringData, pods by field selector, list items without kind', async (t) => {
  const namespace = await makeNamespace('core');
  const s = await core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'creds' }, stringData: { AWS_ACCESS_KEY_ID: 'abc' } },
  });
  t.is(s.data?.AWS_ACCESS_KEY_ID, Buffer.from('abc').toString('base64'));
  t.is(s.type, 'Opaque');
  t.is((s as JsonAny).stringData, undefined);
  for (const [name, phase] of [
    ['run', 'Running'],
    ['done', 'Succeeded'],
  ]) {
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: name! }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
    });
    await core.patchNamespacedPodStatus(
      { namespace, name: name!, body: { status: { phase } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
  const running = await core.listNamespacedPod({ namespace, fieldSelector: 'status.phase=Running' });
  t.deepEqual(
    running.items.map((p) => p.metadata?.name),
    ['run'],
  );
  t.is(running.items[0]!.kind, undefined, 'built-in list items carry no kind, as on a cluster');
  t.is(running.items[0]!.spec?.containers[0]?.imagePullPolicy, 'Always');
  const bad = await apiError(core.listNamespacedPod({ namespace, fieldSelector: 'spec.image=x' }));
  t.is(bad.code, 400);
  t.is(bad.status.message, 'field label not supported: spec.image');
  const missingNs = await apiError(
    core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'x' } } }),
  );
  t.is(missingNs.code, 404);
  t.is(missingNs.status.message, 'namespaces "nowhere" not found');
});

test('a Job deleted without a propagation policy orphans its pods (with a warning); Background takes them', async (t) => {
  const namespace = await makeNamespace('jobs');
  for (const name of ['orphaning', 'cascading']) {
    const job = await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name },
        spec: {
          template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } },
        },
      },
    });
    t.is(job.spec?.template.metadata?.labels?.['batch.kubernetes.io/job-name'], name);
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name: `${name}-pod`,
          ownerReferences: [
            {
              apiVersion: 'batch/v1',
              kind: 'Job',
              name,
              uid: job.metadata!.uid!,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] },
      },
    });
  }
  const raw = await emu.call('DELETE', `/apis/batch/v1/namespaces/${namespace}/jobs/orphaning`);
  t.is(raw.status, 200);
  t.regex(raw.headers.get('warning') ?? '', /child pods are preserved by default/);
  await batch.deleteNamespacedJob({ namespace, name: 'cascading', propagationPolicy: 'Background' });
  await eventually(async () => (await core.listNamespacedPod({ namespace })).items.length === 1);
  await emu.server.settled();
  const pods = await core.listNamespacedPod({ namespace });
  t.deepEqual(
    pods.items.map((p) => p.metadata?.name),
    ['orphaning-pod'],
  );
  t.is(
    pods.items[0]!.metadata?.ownerReferences,
    undefined,
    'the orphan lost its reference to the deleted Job',
  );
});

test('finalizers hold an object with a deletionTimestamp until they are removed', async (t) => {
  const namespace = await makeNamespace('finalizers');
  await co.createNamespacedCustomObject({
    ...g,
    namespace,
    body: { ...schedule('f'), metadata: { name: 'f', finalizers: ['backup.cairn.dev/artifacts'] } },
  });
  const deleting = await co.deleteNamespacedCustomObject({ ...g, namespace, name: 'f' });
  t.truthy(deleting.metadata.deletionTimestamp);
  const still = await co.getNamespacedCustomObject({ ...g, namespace, name: 'f' });
  t.deepEqual(still.metadata.finalizers, ['backup.cairn.dev/artifacts']);
  const add = await apiError(
    co.patchNamespacedCustomObject(
      {
        ...g,
        namespace,
        name: 'f',
        body: { metadata: { finalizers: ['backup.cairn.dev/artifacts', 'another'] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    ),
  );
  t.is(add.code, 422);
  t.regex(add.status.message, /no new finalizers can be added if the object is being deleted/);
  await co.patchNamespacedCustomObject(
    { ...g, namespace, name: 'f', body: { metadata: { finalizers: null } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const gone = await apiError(co.getNamespacedCustomObject({ ...g, namespace, name: 'f' }));
  t.is(gone.code, 404);
});

test('deleting a namespace empties it, then it goes', async (t) => {
  const namespace = await makeNamespace('doomed');
  await co.createNamespacedCustomObject({ ...g, namespace, body: schedule('x') });
  await co.createNamespacedCustomObject({
    ...g,
    namespace,
    body: { ...schedule('held'), metadata: { name: 'held', finalizers: ['test/hold'] } },
  });
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'cm' } } });
  const ns: JsonAny = await core.deleteNamespace({ name: namespace });
  t.is(ns.status?.phase, 'Terminating');
  await eventually(async () => (await core.listNamespacedConfigMap({ namespace })).items.length === 0);
  const refused = await apiError(
    core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'late' } } }),
  );
  t.is(refused.code, 403);
  t.regex(refused.status.message, /because it is being terminated/);
  const held = await co.getNamespacedCustomObject({ ...g, namespace, name: 'held' });
  t.truthy(held.metadata.deletionTimestamp, 'the namespace controller deletes what is inside');
  t.is((await core.readNamespace({ name: namespace })).status?.phase, 'Terminating');
  await co.patchNamespacedCustomObject(
    { ...g, namespace, name: 'held', body: { metadata: { finalizers: null } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await eventually(async () => {
    try {
      await core.readNamespace({ name: namespace });
      return undefined;
    } catch (e) {
      return e instanceof ApiException && e.code === 404;
    }
  });
  const left = await co.listClusterCustomObject({ ...g });
  t.false(left.items.some((i: JsonAny) => i.metadata.namespace === namespace));
});

test('generateName, dryRun and the Table representation', async (t) => {
  const namespace = await makeNamespace('misc');
  const gen = await co.createNamespacedCustomObject({
    ...g,
    namespace,
    body: { ...schedule(''), metadata: { generateName: 'nightly-' } },
  });
  t.regex(gen.metadata.name, /^nightly-[a-z0-9]{5}$/);
  const dry = await co.createNamespacedCustomObject({
    ...g,
    namespace,
    body: schedule('dry'),
    dryRun: 'All',
  });
  t.is(dry.metadata.name, 'dry');
  const none = await apiError(co.getNamespacedCustomObject({ ...g, namespace, name: 'dry' }));
  t.is(none.code, 404);
  const table = await emu.call(
    'GET',
    `/apis/${g.group}/${g.version}/namespaces/${namespace}/${g.plural}`,
    undefined,
    {
      Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    },
  );
  t.is(table.body.kind, 'Table');
  t.deepEqual(
    table.body.columnDefinitions.map((c: JsonAny) => c.name),
    ['Name', 'Schedule', 'Suspend', 'Last', 'Ready', 'Policy', 'Age'],
  );
  t.is(table.body.rows[0].cells[0], gen.metadata.name);
  t.is(table.body.rows[0].object.kind, 'PartialObjectMetadata');
});
