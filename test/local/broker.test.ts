import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { CloudEvent, HTTP } from 'cloudevents';
import { type LocalBroker, readRecords, startBroker } from '../../local/broker/index.ts';
import { parseManifests } from '../../local/events/manifests.ts';
import {
  type CloudEventLike,
  cairnEvent,
  eventFromStructured,
  functionSource,
  parseResourceEvent,
  pingEvent,
  resourceEvent,
} from '../../shared/events.ts';
import { silentLogger } from '../../shared/log.ts';
import { freePort, type Receiver, startFunction, startReceiver, tempDir } from './_event-helpers.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'eventing');
const NS = 'cairn-system';
const fast = { backoffDelayMs: 5 };

function job(name: string, ns = 'prod') {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'cairn' } },
    spec: {},
  };
}
function backup(name: string, ns = 'prod') {
  return {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Backup',
    metadata: { name, namespace: ns },
    spec: {},
  };
}

async function post(broker: LocalBroker, ev: CloudEvent<unknown>, mode: 'binary' | 'structured' = 'binary') {
  const msg = mode === 'binary' ? HTTP.binary(ev) : HTTP.structured(ev);
  const res = await fetch(broker.ingressUrl(NS, 'default'), {
    method: 'POST',
    headers: Object.fromEntries(Object.entries(msg.headers).map(([k, v]) => [k, String(v)])),
    body: msg.body as string,
  });
  return res.status;
}

function triggerYaml(name: string, filter: string, service: string, extra = ''): string {
  return `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: ${name}, namespace: ${NS}}
spec:
  broker: default
${filter}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: ${service}}}
${extra}
---
`;
}

async function withReceivers(names: string[], answer?: Parameters<typeof startReceiver>[0]) {
  const receivers: Record<string, Receiver> = {};
  for (const n of names) receivers[n] = await startReceiver(answer);
  const services = Object.fromEntries(Object.entries(receivers).map(([k, r]) => [k, r.url]));
  return { receivers, services, close: () => Promise.all(Object.values(receivers).map((r) => r.close())) };
}

test('the Triggers of the eventing manifests route each event only to the subscribers whose filters match', async (t) => {
  const { receivers, services, close } = await withReceivers([
    'schedule-evaluator',
    'job-launcher',
    'job-watcher',
    'results',
  ]);
  const broker = await startBroker({
    manifests: FIXTURES,
    services,
    stateDir: await tempDir(),
    log: silentLogger,
  });
  t.teardown(async () => {
    await broker.close();
    await close();
  });
  const src = 'https://127.0.0.1:6443';
  const events = [
    pingEvent({ namespace: NS, name: 'cairn-tick', data: '{"tick":"minute"}' }),
    resourceEvent('add', backup('b1'), { source: src }),
    resourceEvent('update', backup('b1'), { source: src }),
    resourceEvent('update', job('b1'), { source: src }),
    cairnEvent('dev.cairn.backup.completed', {
      subject: backup('b1'),
      source: functionSource('job-watcher'),
      data: {},
    }),
    cairnEvent('dev.cairn.backup.verification.failed', {
      subject: backup('b1'),
      source: 'cairn/x',
      data: {},
    }),
  ];
  for (const ev of events) t.is(await post(broker, ev), 202);
  await broker.idle();
  const types = (r: Receiver) =>
    r.received.map((x) => `${x.event.type} ${String(x.event.kind ?? '')}`.trim());
  t.deepEqual(types(receivers['schedule-evaluator']!), ['dev.knative.sources.ping']);
  t.deepEqual(types(receivers['job-launcher']!), ['dev.knative.apiserver.resource.add Backup']);
  t.deepEqual(types(receivers['job-watcher']!), ['dev.knative.apiserver.resource.update Job']);
  t.deepEqual(types(receivers.results!), ['dev.cairn.backup.completed Backup']);
});

test('subscribers get the event in binary mode, without the broker TTL, asked for a reply', async (t) => {
  const { receivers, services, close } = await withReceivers(['job-launcher']);
  const broker = await startBroker({
    manifests: FIXTURES,
    services,
    stateDir: await tempDir(),
    log: silentLogger,
  });
  t.teardown(async () => {
    await broker.close();
    await close();
  });
  const ev = resourceEvent('add', backup('b2'), { source: 'https://k:6443', id: 'id-b2' });
  t.is(await post(broker, ev, 'structured'), 202);
  await broker.idle();
  const got = receivers['job-launcher']!.received[0]!;
  t.is(got.headers['content-type'], 'application/json');
  t.is(got.headers['ce-id'], 'id-b2');
  t.is(got.headers['ce-type'], 'dev.knative.apiserver.resource.add');
  t.is(got.headers['ce-subject'], '/apis/backup.cairn.dev/v1alpha1/namespaces/prod/backups/b2');
  t.is(got.headers['ce-kind'], 'Backup');
  t.is(got.headers['ce-knativebrokerttl'], undefined);
  t.is(got.headers.prefer, 'reply');
  t.deepEqual(JSON.parse(got.body), backup('b2'));
});

test('the ingress refuses what is not a CloudEvent and brokers that do not exist', async (t) => {
  const broker = await startBroker({
    manifests: FIXTURES,
    services: {},
    stateDir: await tempDir(),
    log: silentLogger,
  });
  t.teardown(() => broker.close());
  const bad = await fetch(broker.ingressUrl(NS, 'default'), { method: 'POST', body: '{}' });
  t.is(bad.status, 400);
  const missing = await fetch(broker.ingressUrl(NS, 'nope'), { method: 'POST', body: '{}' });
  t.is(missing.status, 404);
});

test('a failing subscriber is retried with backoff until it answers', async (t) => {
  const { receivers, services, close } = await withReceivers(['job-launcher'], (_r, i, res) => {
    res.writeHead(i < 2 ? 503 : 200).end();
  });
  const stateDir = await tempDir();
  const broker = await startBroker({
    manifests: FIXTURES,
    services,
    stateDir,
    retryOverride: { backoffDelayMs: 20 },
    log: silentLogger,
  });
  t.teardown(async () => {
    await broker.close();
    await close();
  });
  await post(broker, resourceEvent('add', backup('b3'), { source: 's' }));
  await broker.idle();
  const at = receivers['job-launcher']!.received.map((r) => r.at);
  t.is(at.length, 3);
  // Exponential: 20 × 2^1, then 20 × 2^2.
  t.true(at[1]! - at[0]! >= 35, `first backoff ${at[1]! - at[0]!} ms`);
  t.true(at[2]! - at[1]! >= 75, `second backoff ${at[2]! - at[1]!} ms`);
  const [rec] = await readRecords(stateDir);
  t.like(rec?.record.deliveries[0], {
    trigger: `${NS}/job-launcher-backup`,
    subscriber: 'job-launcher',
    result: 'delivered',
    status: 200,
    attempts: 3,
  });
});

test('a subscriber that keeps failing is given up after the retries and recorded as failed', async (t) => {
  const { receivers, services, close } = await withReceivers(['job-launcher'], (_r, _i, res) => {
    res.writeHead(500).end('boom');
  });
  const stateDir = await tempDir();
  // The fixture Broker's delivery says retry: 3.
  const broker = await startBroker({
    manifests: FIXTURES,
    services,
    stateDir,
    retryOverride: fast,
    log: silentLogger,
  });
  t.teardown(async () => {
    await broker.close();
    await close();
  });
  const ev = resourceEvent('add', backup('b4'), { source: 's' });
  await post(broker, ev);
  await broker.idle();
  t.is(receivers['job-launcher']!.received.length, 4);
  const records = await readRecords(stateDir);
  t.is(records.length, 1);
  const { record, file } = records[0]!;
  t.is(record.state, 'done');
  t.like(record.deliveries[0], { result: 'failed', status: 500, attempts: 4, error: 'HTTP 500: boom' });
  // The recording is replayable: the same event comes back out of it.
  const again = eventFromStructured(JSON.parse(await readFile(file, 'utf8')));
  t.is(again.id, ev.id);
  t.deepEqual(parseResourceEvent(again).object, backup('b4'));
});

test('a subscriber that refuses the connection is retried, and a 400 is not', async (t) => {
  const { services, receivers, close } = await withReceivers(['job-watcher'], (_r, _i, res) => {
    res.writeHead(400).end('bad event');
  });
  services['job-launcher'] = `http://127.0.0.1:${await freePort()}/`;
  const stateDir = await tempDir();
  const broker = await startBroker({
    manifests: FIXTURES,
    services,
    stateDir,
    retryOverride: fast,
    log: silentLogger,
  });
  t.teardown(async () => {
    await broker.close();
    await close();
  });
  await post(broker, resourceEvent('add', backup('b5'), { source: 's' }));
  await post(broker, resourceEvent('update', job('j5'), { source: 's' }));
  await broker.idle();
  t.is(receivers['job-watcher']!.received.length, 1);
  const deliveries = (await readRecords(stateDir)).flatMap((r) => r.record.deliveries);
  t.like(
    deliveries.find((d) => d.subscriber === 'job-launcher'),
    { result: 'failed', status: 0, attempts: 4 },
  );
  t.like(
    deliveries.find((d) => d.subscriber === 'job-watcher'),
    { result: 'failed', status: 400, attempts: 1 },
  );
});

test('a Trigger whose Service has no local URL is recorded as unresolvable', async (t) => {
  const stateDir = await tempDir();
  const broker = await startBroker({ manifests: FIXTURES, services: {}, stateDir, log: silentLogger });
  t.teardown(() => broker.close());
  await post(broker, resourceEvent('add', backup('b6'), { source: 's' }));
  await broker.idle();
  const [rec] = await readRecords(stateDir);
  t.like(rec?.record.deliveries[0], { result: 'unresolvable', attempts: 0 });
  t.regex(rec?.record.deliveries[0]?.error ?? '', /Service cairn-system\/job-launcher: no local URL/);
});

test("a function's reply goes back into the broker and on to the Triggers that match it", async (t) => {
  const { receivers, services, close } = await withReceivers(['results']);
  const fn = await startFunction((_ctx, ev) => {
    const job = parseResourceEvent(ev).object;
    return cairnEvent('dev.cairn.backup.completed', {
      subject: backup(String(job.metadata?.name)),
      source: functionSource('job-watcher'),
      data: { sizeBytes: 10 },
    });
  });
  services['job-watcher'] = fn.url;
  const stateDir = await tempDir();
  const broker = await startBroker({ manifests: FIXTURES, services, stateDir, log: silentLogger });
  t.teardown(async () => {
    await broker.close();
    await fn.close();
    await close();
  });
  await post(broker, resourceEvent('update', job('b7'), { source: 's' }));
  await broker.idle();
  const [got] = receivers.results!.received;
  t.like(got?.event, {
    type: 'dev.cairn.backup.completed',
    source: 'cairn/job-watcher',
    subject: '/apis/backup.cairn.dev/v1alpha1/namespaces/prod/backups/b7',
  });
  t.deepEqual(JSON.parse(got!.body), { sizeBytes: 10 });
  const records = await readRecords(stateDir);
  t.is(records.length, 2);
  const [first, reply] = records.map((r) => r.record);
  t.like(first?.deliveries[0], {
    subscriber: 'job-watcher',
    result: 'delivered',
    reply: { type: 'dev.cairn.backup.completed' },
  });
  t.is(reply?.event.type, 'dev.cairn.backup.completed');
  t.is(reply?.ttl, 254);
  t.like(reply?.deliveries[0], { subscriber: 'results', result: 'delivered' });
});

test('a function that answers its own Trigger stops when the TTL runs out', async (t) => {
  let calls = 0;
  const fn = await startFunction((_ctx, ev) => {
    calls++;
    return new CloudEvent({ type: 'com.example.echo', source: 'echo', data: { n: calls, from: ev?.id } });
  });
  const stateDir = await tempDir();
  const manifests = parseManifests(
    triggerYaml('echo', '  filter: {attributes: {type: com.example.echo}}', 'echo'),
  );
  const broker = await startBroker({
    manifests,
    services: { echo: fn.url },
    stateDir,
    ttl: 4,
    log: silentLogger,
  });
  t.teardown(async () => {
    await broker.close();
    await fn.close();
  });
  await broker.publish(new CloudEvent({ type: 'com.example.echo', source: 'test' }), {
    namespace: NS,
    name: 'default',
  });
  await broker.idle();
  t.is(calls, 4);
});

test('a 2xx answer with a body that is not a CloudEvent counts as a failed delivery', async (t) => {
  const { services, receivers, close } = await withReceivers(['job-launcher'], (_r, _i, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  const stateDir = await tempDir();
  const broker = await startBroker({
    manifests: FIXTURES,
    services,
    stateDir,
    retryOverride: fast,
    log: silentLogger,
  });
  t.teardown(async () => {
    await broker.close();
    await close();
  });
  await post(broker, resourceEvent('add', backup('b8'), { source: 's' }));
  await broker.idle();
  t.is(receivers['job-launcher']!.received.length, 4);
  const [rec] = await readRecords(stateDir);
  t.like(rec?.record.deliveries[0], { result: 'failed', status: 502 });
  t.regex(rec?.record.deliveries[0]?.error ?? '', /not a valid CloudEvent/);
});

test("one object's events reach a subscriber in the order they arrived, even when the first is slow", async (t) => {
  const { receivers, services, close } = await withReceivers(['job-watcher'], async (r, _i, res) => {
    if (r.event.type === 'dev.knative.apiserver.resource.add')
      await new Promise((ok) => setTimeout(ok, 1000));
    res.writeHead(200).end();
  });
  const broker = await startBroker({
    manifests: FIXTURES,
    services,
    stateDir: await tempDir(),
    concurrency: 4,
    log: silentLogger,
  });
  t.teardown(async () => {
    await broker.close();
    await close();
  });
  await post(broker, resourceEvent('add', job('j9'), { source: 's' }));
  await post(broker, resourceEvent('update', job('j9'), { source: 's' }));
  await post(broker, resourceEvent('delete', job('j9'), { source: 's' }));
  await post(broker, resourceEvent('update', job('other'), { source: 's' }));
  await broker.idle();
  const order = receivers['job-watcher']!.received.map(
    (r) => `${String(r.event.name)} ${r.event.type?.split('.').pop()}`,
  );
  // The other Job's event does not wait behind the slow one; j9's keep their order.
  t.deepEqual(order, ['j9 add', 'other update', 'j9 update', 'j9 delete']);
});

test('a failed delivery goes to the dead letter sink with the error extensions Knative adds', async (t) => {
  const { services, receivers, close } = await withReceivers(['job-launcher', 'dlq'], (r, _i, res) => {
    if (r.headers['ce-knativeerrordest']) res.writeHead(200).end();
    else res.writeHead(500).end('nope');
  });
  const manifests = parseManifests(
    triggerYaml(
      'with-dls',
      '  filter: {attributes: {kind: Backup}}',
      'job-launcher',
      '  delivery: {retry: 1, deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dlq}}}',
    ),
  );
  const stateDir = await tempDir();
  const broker = await startBroker({ manifests, services, stateDir, retryOverride: fast, log: silentLogger });
  t.teardown(async () => {
    await broker.close();
    await close();
  });
  await post(broker, resourceEvent('add', backup('b10'), { source: 's' }));
  await broker.idle();
  t.is(receivers['job-launcher']!.received.length, 2);
  const dl = receivers.dlq!.received[0]!.event as CloudEventLike;
  t.is(dl.knativeerrordest, services['job-launcher']);
  t.is(dl.knativeerrorcode, '500');
  t.is(Buffer.from(String(dl.knativeerrordata), 'base64').toString(), 'HTTP 500: nope');
  const [rec] = await readRecords(stateDir);
  t.like(rec?.record.deliveries[0], { result: 'failed', deadLetter: { url: services.dlq, status: 200 } });
});

test('a Trigger with a CE SQL filter is refused with a clear error', async (t) => {
  const manifests = parseManifests(triggerYaml('sql', '  filters: [{cesql: "kind = \'Job\'"}]', 'x'));
  await t.throwsAsync(
    startBroker({ manifests, services: {}, stateDir: await tempDir(), log: silentLogger }),
    {
      message: /Trigger cairn-system\/sql: spec\.filters\[0\]\.cesql: CE SQL filters are not supported/,
    },
  );
});
