import { join } from 'node:path';
import { BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { readRecords, startBroker } from '../../local/broker/index.ts';
import { type EventSources, parseManifests, startEventSources } from '../../local/events/index.ts';
import { type CloudEventLike, parsePingEvent, parseResourceEvent } from '../../shared/events.ts';
import { silentLogger } from '../../shared/log.ts';
import {
  freePort,
  installCrds,
  startEmulator,
  startFunction,
  startReceiver,
  tempDir,
  until,
} from './_event-helpers.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'eventing');
const GROUP = 'backup.cairn.dev';
const VERSION = 'v1alpha1';

async function setup(
  t: import('ava').ExecutionContext,
  manifests: Parameters<typeof startEventSources>[0]['manifests'] = FIXTURES,
) {
  const emu = await startEmulator();
  const receiver = await startReceiver();
  const core = emu.kc.makeApiClient(CoreV1Api);
  for (const ns of ['prod', 'cairn-system']) await core.createNamespace({ body: { metadata: { name: ns } } });
  const started: { sources?: EventSources } = {};
  t.teardown(async () => {
    await started.sources?.close();
    await receiver.close();
    await emu.close();
  });
  const start = async () => {
    started.sources = await startEventSources({
      manifests,
      kube: emu.kc,
      sinks: { brokerIngress: receiver.url },
      ping: { mode: 'manual' },
      log: silentLogger,
    });
    return started.sources;
  };
  return { emu, receiver, core, kc: emu.kc, start };
}

function backup(name: string, namespace = 'prod') {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Backup',
    metadata: { name, namespace },
    spec: { policyRef: { kind: 'DatabaseBackup', name: 'pg-daily' } },
  };
}

function createBackup(kc: KubeConfig, name: string, namespace = 'prod') {
  return kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: 'backups',
    body: backup(name, namespace),
  }) as Promise<{ metadata: { resourceVersion: string; uid: string } }>;
}

function cairnJob(
  name: string,
  labels: Record<string, string> = { 'app.kubernetes.io/managed-by': 'cairn' },
) {
  return {
    metadata: { name, labels },
    spec: {
      template: {
        spec: { restartPolicy: 'Never', containers: [{ name: 'agent', image: 'ghcr.io/x/cairn-agent:1' }] },
      },
    },
  };
}

const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

test('an object created through the API produces exactly one add event, as ApiServerSource sends it', async (t) => {
  const { receiver, kc, emu, start } = await setup(t);
  await createBackup(kc, 'before-start');
  const sources = await start();
  t.deepEqual(sources.apiServerSources.sort(), ['cairn-system/cairn-jobs', 'cairn-system/cairn-resources']);
  const created = await createBackup(kc, 'pg-daily-202503270100');
  const [got] = await receiver.waitFor(1);
  await settle();
  t.is(receiver.received.length, 1, 'nothing for the object that existed before the source started');
  t.regex(got!.headers['content-type'] ?? '', /^application\/json/);
  t.like(got!.event, {
    specversion: '1.0',
    type: 'dev.knative.apiserver.resource.add',
    source: emu.url,
    subject: '/apis/backup.cairn.dev/v1alpha1/namespaces/prod/backups/pg-daily-202503270100',
    kind: 'Backup',
    apiversion: 'backup.cairn.dev/v1alpha1',
    name: 'pg-daily-202503270100',
    namespace: 'prod',
    datacontenttype: 'application/json',
  });
  t.truthy(got!.event.time);
  const parsed = parseResourceEvent(got!.event);
  t.is(parsed.object.metadata?.uid, created.metadata.uid);
  t.is(parsed.object.metadata?.resourceVersion, created.metadata.resourceVersion);
  t.like(parsed.object, { spec: backup('x').spec });
});

test('updates and deletes produce update and delete events carrying the new and the last state', async (t) => {
  const { receiver, kc, start } = await setup(t);
  await start();
  const co = kc.makeApiClient(CustomObjectsApi);
  const ref = { group: GROUP, version: VERSION, namespace: 'prod', plural: 'backups', name: 'b1' };
  await createBackup(kc, 'b1');
  await receiver.waitFor(1);
  await co.patchNamespacedCustomObjectStatus({
    ...ref,
    body: [{ op: 'add', path: '/status', value: { phase: 'Running' } }],
  });
  await receiver.waitFor(2);
  await co.deleteNamespacedCustomObject(ref);
  const events = await receiver.waitFor(3);
  await settle();
  const parsed = events.map((r) => parseResourceEvent(r.event));
  t.deepEqual(
    parsed.map((p) => p.action),
    ['add', 'update', 'delete'],
  );
  t.like(parsed[1]?.object, { status: { phase: 'Running' } });
  t.like(parsed[2]?.object, { status: { phase: 'Running' }, metadata: { name: 'b1' } });
  t.is(receiver.received.length, 3);
});

test('the Jobs source sends only objects that match its label selector, Pods too', async (t) => {
  const { receiver, kc, core, start } = await setup(t);
  await start();
  const batch = kc.makeApiClient(BatchV1Api);
  await batch.createNamespacedJob({ namespace: 'prod', body: cairnJob('not-ours', { app: 'other' }) });
  await batch.createNamespacedJob({ namespace: 'prod', body: cairnJob('ours') });
  await core.createNamespacedPod({
    namespace: 'prod',
    body: {
      metadata: { name: 'ours-pod', labels: { 'app.kubernetes.io/managed-by': 'cairn' } },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    },
  });
  await receiver.waitFor(2);
  await settle();
  const got = receiver.received.map(
    (r) => `${String(r.event.kind)} ${String(r.event.name)} ${r.event.subject}`,
  );
  t.deepEqual(got.sort(), [
    'Job ours /apis/batch/v1/namespaces/prod/jobs/ours',
    'Pod ours-pod /apis/v1/namespaces/prod/pods/ours-pod',
  ]);
});

test('owner, namespaceSelector, filters and ceOverrides apply as in the adapter', async (t) => {
  // spec.filters needs Knative's Alpha feature new-apiserversource-filters (off by default).
  const manifests = parseManifests(`
apiVersion: v1
kind: ConfigMap
metadata: {name: config-features, namespace: knative-eventing}
data: {new-apiserversource-filters: enabled}
---
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: {name: owned-pods, namespace: cairn-system}
spec:
  mode: Resource
  namespaceSelector: {matchLabels: {backups: enabled}}
  owner: {apiVersion: batch/v1, kind: Job}
  filters:
    - not: {exact: {type: dev.knative.apiserver.resource.update}}
  ceOverrides: {extensions: {team: storage}}
  resources:
    - {apiVersion: v1, kind: Pod}
  sink: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}}
`);
  const { receiver, core, kc, start } = await setup(t, manifests);
  await core.createNamespace({ body: { metadata: { name: 'labelled', labels: { backups: 'enabled' } } } });
  await start();
  // Real owners: the emulator's garbage collector deletes dependents of owners that do not exist.
  const batch = kc.makeApiClient(BatchV1Api);
  const owners: Record<string, { apiVersion: string; kind: string; name: string; uid: string }> = {};
  for (const ns of ['labelled', 'prod']) {
    const job = await batch.createNamespacedJob({ namespace: ns, body: cairnJob('owner', { app: 'x' }) });
    owners[`${ns}/Job`] = { apiVersion: 'batch/v1', kind: 'Job', name: 'owner', uid: job.metadata!.uid! };
  }
  const cm = await core.createNamespacedConfigMap({
    namespace: 'labelled',
    body: { metadata: { name: 'owner' } },
  });
  owners['labelled/ConfigMap'] = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name: 'owner',
    uid: cm.metadata!.uid!,
  };
  const pod = (ns: string, name: string, owner?: { kind: string; controller: boolean }) => ({
    metadata: {
      name,
      ...(owner
        ? { ownerReferences: [{ ...owners[`${ns}/${owner.kind}`]!, controller: owner.controller }] }
        : {}),
    },
    spec: { containers: [{ name: 'c', image: 'x' }] },
  });
  await core.createNamespacedPod({ namespace: 'labelled', body: pod('labelled', 'no-owner') });
  await core.createNamespacedPod({
    namespace: 'labelled',
    body: pod('labelled', 'not-controller', { kind: 'Job', controller: false }),
  });
  await core.createNamespacedPod({
    namespace: 'labelled',
    body: pod('labelled', 'other-kind', { kind: 'ConfigMap', controller: true }),
  });
  await core.createNamespacedPod({
    namespace: 'prod',
    body: pod('prod', 'wrong-namespace', { kind: 'Job', controller: true }),
  });
  await core.createNamespacedPod({
    namespace: 'labelled',
    body: pod('labelled', 'job-pod', { kind: 'Job', controller: true }),
  });
  await core.patchNamespacedPod({
    namespace: 'labelled',
    name: 'job-pod',
    body: [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }],
  });
  await core.deleteNamespacedPod({ namespace: 'labelled', name: 'job-pod' });
  await receiver.waitFor(2);
  await settle();
  t.deepEqual(
    receiver.received.map((r) => `${r.event.type} ${String(r.event.name)} ${String(r.event.team)}`),
    [
      'dev.knative.apiserver.resource.add job-pod storage',
      'dev.knative.apiserver.resource.delete job-pod storage',
    ],
  );
});

test('a kind whose CRD is installed after the source started is watched once it is served', async (t) => {
  const emu = await startEmulator({ crds: false });
  const receiver = await startReceiver();
  await emu.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'prod' } } });
  const sources = await startEventSources({
    manifests: FIXTURES,
    kube: emu.kc,
    sinks: { brokerIngress: receiver.url },
    ping: { mode: 'manual' },
    discoveryRetryMs: 50,
    log: silentLogger,
  });
  t.teardown(async () => {
    await sources.close();
    await receiver.close();
    await emu.close();
  });
  await installCrds(emu.kc);
  await until(async () => {
    try {
      await createBackup(emu.kc, 'late');
      return true;
    } catch {
      return undefined;
    }
  }, 'the Backup CRD to be served');
  // Whether the Backup was created before or after the watch opened, a change of it now is seen.
  const co = emu.kc.makeApiClient(CustomObjectsApi);
  let n = 0;
  await until(async () => {
    if (receiver.received.length > 0) return true;
    await co.patchNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'prod',
      plural: 'backups',
      name: 'late',
      body: [{ op: 'add', path: '/metadata/labels', value: { n: String(++n) } }],
    });
    await settle(100);
    return undefined;
  }, 'an event about the late Backup');
  t.like(receiver.received[0]!.event, { source: emu.url, kind: 'Backup', name: 'late' });
});

test('a PingSource tick sends dev.knative.sources.ping with its data to its sink', async (t) => {
  const { receiver, start } = await setup(t);
  const sources = await start();
  t.deepEqual(sources.pingSources, ['cairn-system/cairn-tick']);
  await sources.firePing('cairn-tick');
  const [got] = await receiver.waitFor(1);
  t.is(new URL(receiver.url).pathname, '/');
  t.like(got!.event, {
    type: 'dev.knative.sources.ping',
    source: '/apis/v1/namespaces/cairn-system/pingsources/cairn-tick',
    datacontenttype: 'application/json',
  });
  t.is(got!.event.subject, undefined);
  t.like(parsePingEvent(got!.event), {
    namespace: 'cairn-system',
    name: 'cairn-tick',
    data: { tick: 'minute' },
  });
});

test('a PingSource on its schedule ticks at the minute of the injected clock', async (t) => {
  const receiver = await startReceiver();
  t.teardown(() => receiver.close());
  // A clock 300 ms before a minute boundary.
  const boundary = Date.parse('2025-03-27T00:59:00Z');
  const offset = boundary + 59_700 - Date.now();
  const clock = { now: () => new Date(Date.now() + offset) };
  const manifests = parseManifests(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: tick, namespace: cairn-system}
spec:
  schedule: "* * * * *"
  sink: {uri: ${receiver.url}}
`);
  const sources = await startEventSources({
    manifests,
    kube: 'http://127.0.0.1:1',
    sinks: {},
    clock,
    log: silentLogger,
  });
  t.teardown(() => sources.close());
  const [got] = await receiver.waitFor(1, 3000);
  const at = Date.parse(got!.event.time!);
  t.true(
    at >= Date.parse('2025-03-27T01:00:00Z') && at < Date.parse('2025-03-27T01:00:01Z'),
    got!.event.time,
  );
  t.is(got!.event.datacontenttype, undefined, 'no data, no content type');
  await settle(200);
  t.is(receiver.received.length, 1, 'one tick per minute');
});

test('an interval PingSource ticks repeatedly', async (t) => {
  const receiver = await startReceiver();
  t.teardown(() => receiver.close());
  const sources = await startEventSources({
    manifests: parseManifests(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: fast, namespace: n}
spec: {schedule: "0 0 1 1 *", contentType: text/plain, data: hello, sink: {uri: ${receiver.url}}}
`),
    kube: 'http://127.0.0.1:1',
    sinks: {},
    ping: { mode: 'interval', intervalMs: 40 },
    log: silentLogger,
  });
  t.teardown(() => sources.close());
  const got = await receiver.waitFor(3, 2000);
  t.true(got.every((r) => r.body === 'hello' && r.headers['content-type'] === 'text/plain'));
});

test('end to end: an object created through the API reaches the function its Trigger names, through the broker', async (t) => {
  const { kc } = await setup(t);
  const seen: CloudEventLike[] = [];
  const fn = await startFunction((_ctx, ev) => {
    if (ev) seen.push(ev);
    return undefined;
  });
  const stateDir = await tempDir();
  const broker = await startBroker({
    manifests: FIXTURES,
    services: { 'job-launcher': fn.url },
    stateDir,
    log: silentLogger,
  });
  const sources = await startEventSources({
    manifests: FIXTURES,
    kube: kc,
    sinks: { brokerIngress: broker.url },
    ping: { mode: 'manual' },
    log: silentLogger,
  });
  t.teardown(async () => {
    await sources.close();
    await broker.close();
    await fn.close();
  });
  await createBackup(kc, 'e2e');
  await until(() => seen.length >= 1 || undefined, 'the function to get the event');
  await sources.flushed();
  await broker.idle();
  t.is(seen.length, 1);
  const ev = parseResourceEvent(seen[0]);
  t.is(ev.action, 'add');
  t.is(ev.name, 'e2e');
  const records = await readRecords(stateDir);
  t.is(records.length, 1);
  t.like(records[0]?.record.deliveries[0], { subscriber: 'job-launcher', result: 'delivered', status: 204 });
});

test('the sources keep sending after the API server restarts (the watch resumes, or lists again on 410)', async (t) => {
  const state = await tempDir('cairn-emu-');
  const port = await freePort();
  const { startApiServer } = await import('../../local/apiserver/index.ts');
  let api = await startApiServer({ port, stateDir: state });
  const receiver = await startReceiver();
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  await installCrds(kc);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'prod' } } });
  const sources = await startEventSources({
    manifests: FIXTURES,
    // The same port and state folder after the restart: the same URL and token.
    kube: kc,
    sinks: { brokerIngress: receiver.url },
    ping: { mode: 'manual' },
    log: silentLogger,
  });
  t.teardown(async () => {
    await sources.close();
    await receiver.close();
    await api.close();
  });
  await createBackup(kc, 'before-restart');
  await receiver.waitFor(1);
  await api.close();
  api = await startApiServer({ port, stateDir: state });
  // Whenever the watch is back, a change is seen.
  let n = 0;
  await until(
    async () => {
      if (receiver.received.some((r) => r.event.name === 'after-restart')) return true;
      await createBackup(kc, 'after-restart').catch(() => {});
      await kc
        .makeApiClient(CustomObjectsApi)
        .patchNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: 'prod',
          plural: 'backups',
          name: 'after-restart',
          body: [{ op: 'add', path: '/metadata/labels', value: { n: String(++n) } }],
        })
        .catch(() => {});
      await settle(200);
      return undefined;
    },
    'an event after the restart',
    10_000,
  );
  t.is(receiver.received[0]?.event.name, 'before-restart');
  t.is(
    receiver.received.filter((r) => r.event.name === 'before-restart').length,
    1,
    'no replay of old objects',
  );
});
