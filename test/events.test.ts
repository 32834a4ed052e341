import { createRequire } from 'node:module';
import test from 'ava';
import { type CloudEvent, HTTP } from 'cloudevents';
import { InvalidEvent } from '../shared/errors.ts';
import {
  cairnEvent,
  eventFromStructured,
  eventKind,
  functionSource,
  guessPlural,
  parseCairnEvent,
  parsePingEvent,
  parseResourceEvent,
  pingEvent,
  resourceEvent,
  selfLink,
  toStructured,
} from '../shared/events.ts';

// The cloudevents 8 that faas-js-runtime builds handler events with.
const requireFromRuntime = createRequire(createRequire(import.meta.url).resolve('faas-js-runtime'));
const v8 = requireFromRuntime('cloudevents') as typeof import('cloudevents');

const SERVER = 'https://10.96.0.1:443';

function backup(name = 'pg-daily-202503270100', namespace = 'prod') {
  return {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Backup',
    metadata: { name, namespace, uid: 'u-1', resourceVersion: '7' },
    spec: { policyRef: { kind: 'DatabaseBackup', name: 'pg-daily' } },
    status: { phase: 'Running' },
  };
}

/** What a function sees: the event sent over HTTP in binary mode, read back by cloudevents 8. */
function overTheWire(ev: CloudEvent<unknown>): unknown {
  return v8.HTTP.toEvent(HTTP.binary(ev));
}

for (const [kind, plural] of [
  ['Pod', 'pods'],
  ['Job', 'jobs'],
  ['Backup', 'backups'],
  ['BackupPolicy', 'backuppolicies'],
  ['DatabaseBackup', 'databasebackups'],
  ['Restore', 'restores'],
  ['Ingress', 'ingresses'],
  ['Endpoints', 'endpoints'],
] as const) {
  test(`the subject's plural of ${kind} is ${plural}, as apimachinery guesses it`, (t) => {
    t.is(guessPlural(kind), plural);
  });
}

for (const [ref, subject] of [
  [{ apiVersion: 'v1', kind: 'Pod', namespace: 'ns', name: 'p' }, '/apis/v1/namespaces/ns/pods/p'],
  [
    { apiVersion: 'batch/v1', kind: 'Job', namespace: 'ns', name: 'j' },
    '/apis/batch/v1/namespaces/ns/jobs/j',
  ],
  [
    { apiVersion: 'backup.cairn.dev/v1alpha1', kind: 'BackupPolicy', namespace: 'ns', name: 'p' },
    '/apis/backup.cairn.dev/v1alpha1/namespaces/ns/backuppolicies/p',
  ],
  [{ apiVersion: 'v1', kind: 'Namespace', name: 'prod' }, '/apis/v1/namespaces//namespaces/prod'],
  [
    { apiVersion: 'example.com', kind: 'Thing', namespace: 'a', name: 'b' },
    '/apis/example.com/versionUnknown/namespaces/a/things/b',
  ],
] as const) {
  test(`the subject of ${ref.apiVersion} ${ref.kind} is ${subject}`, (t) => {
    t.is(selfLink(ref), subject);
  });
}

for (const action of ['add', 'update', 'delete'] as const) {
  test(`a resource ${action} event has the ApiServerSource attributes and the whole object`, (t) => {
    const obj = backup();
    const ev = resourceEvent(action, obj, {
      source: SERVER,
      id: 'e-1',
      time: new Date('2025-03-27T01:00:00Z'),
    });
    t.like(ev, {
      specversion: '1.0',
      id: 'e-1',
      time: '2025-03-27T01:00:00.000Z',
      type: `dev.knative.apiserver.resource.${action}`,
      source: SERVER,
      subject: '/apis/backup.cairn.dev/v1alpha1/namespaces/prod/backups/pg-daily-202503270100',
      datacontenttype: 'application/json',
      kind: 'Backup',
      apiversion: 'backup.cairn.dev/v1alpha1',
      name: 'pg-daily-202503270100',
      namespace: 'prod',
    });
    t.deepEqual(ev.data, obj);
    const parsed = parseResourceEvent(overTheWire(ev));
    t.like(parsed, {
      action,
      kind: 'Backup',
      apiVersion: 'backup.cairn.dev/v1alpha1',
      name: 'pg-daily-202503270100',
      namespace: 'prod',
      id: 'e-1',
      source: SERVER,
    });
    t.deepEqual(parsed.object, obj);
  });
}

test('a resource event without an id gets a UUID, as the adapter gives', (t) => {
  const ev = resourceEvent('add', backup(), { source: SERVER });
  t.regex(ev.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('a resource event needs an object with apiVersion, kind and name', (t) => {
  const err = t.throws(
    () => resourceEvent('add', { kind: 'Backup', metadata: { name: 'x' } }, { source: SERVER }),
    {
      instanceOf: InvalidEvent,
    },
  );
  t.is(err?.field, 'apiVersion');
});

const good = () => HTTP.binary(resourceEvent('update', backup(), { source: SERVER }));

for (const [what, mutate, field] of [
  ['without a type', (h: Record<string, string>) => delete h['ce-type'], 'type'],
  ['of another type', (h: Record<string, string>) => (h['ce-type'] = 'com.example.other'), 'type'],
  [
    'in Reference mode',
    (h: Record<string, string>) => (h['ce-type'] = 'dev.knative.apiserver.ref.add'),
    'type',
  ],
  ['without the kind extension', (h: Record<string, string>) => delete h['ce-kind'], 'kind'],
  [
    'without the apiversion extension',
    (h: Record<string, string>) => delete h['ce-apiversion'],
    'apiversion',
  ],
  ['without the name extension', (h: Record<string, string>) => delete h['ce-name'], 'name'],
  ['without the namespace extension', (h: Record<string, string>) => delete h['ce-namespace'], 'namespace'],
  [
    'whose name differs from the data',
    (h: Record<string, string>) => (h['ce-name'] = 'other'),
    'data.metadata.name',
  ],
  [
    'whose kind differs from the data',
    (h: Record<string, string>) => (h['ce-kind'] = 'Restore'),
    'data.kind',
  ],
] as const) {
  test(`a resource event ${what} is refused naming ${field}`, (t) => {
    const msg = good();
    const headers = { ...msg.headers } as Record<string, string>;
    mutate(headers);
    // A missing type fails in the SDK's own validation, so build the event loosely, as JSON would.
    const loose = Object.fromEntries(
      Object.entries(headers)
        .filter(([k]) => k.startsWith('ce-'))
        .map(([k, v]) => [k.slice(3), v]),
    );
    const ev = { ...loose, datacontenttype: 'application/json', data: JSON.parse(String(msg.body)) };
    const err = t.throws(() => parseResourceEvent(ev), { instanceOf: InvalidEvent });
    t.is(err?.field, field);
    t.is(err?.code, 400);
  });
}

test('resource event data that is not a JSON object is refused naming data', (t) => {
  const ev = resourceEvent('add', backup(), { source: SERVER });
  const broken = { ...toStructured(ev), datacontenttype: 'text/plain', data: 'hello' };
  const err = t.throws(() => parseResourceEvent(broken), { instanceOf: InvalidEvent });
  t.is(err?.field, 'data');
});

test('resource event data that arrives as JSON text or bytes is parsed', (t) => {
  const ev = toStructured(resourceEvent('add', backup(), { source: SERVER }));
  t.is(parseResourceEvent({ ...ev, data: JSON.stringify(backup()) }).name, 'pg-daily-202503270100');
  t.is(
    parseResourceEvent({ ...ev, data: Buffer.from(JSON.stringify(backup())) }).name,
    'pg-daily-202503270100',
  );
});

test('a ping event has the PingSource attributes and JSON data', (t) => {
  const ev = pingEvent({ namespace: 'cairn', name: 'minute', data: '{"tick":true}', id: 'p-1' });
  t.like(ev, {
    type: 'dev.knative.sources.ping',
    source: '/apis/v1/namespaces/cairn/pingsources/minute',
    datacontenttype: 'application/json',
    id: 'p-1',
  });
  t.is(ev.subject, undefined);
  t.deepEqual(ev.data, { tick: true });
  t.deepEqual(parsePingEvent(overTheWire(ev)), {
    namespace: 'cairn',
    name: 'minute',
    data: { tick: true },
    id: 'p-1',
    time: ev.time,
  });
});

test('a ping event without data has no datacontenttype, and text data stays text', (t) => {
  const bare = pingEvent({ namespace: 'n', name: 'p' });
  t.is(bare.datacontenttype, undefined);
  t.is(parsePingEvent(overTheWire(bare)).data, undefined);
  const text = pingEvent({ namespace: 'n', name: 'p', data: 'hello', contentType: 'text/plain' });
  t.is(parsePingEvent(overTheWire(text)).data, 'hello');
});

for (const [what, ev, field] of [
  ['of another type', { type: 'x', source: '/apis/v1/namespaces/n/pingsources/p', id: '1' }, 'type'],
  [
    'from another source',
    { type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/n/cronjobs/p', id: '1' },
    'source',
  ],
  [
    'without an id',
    { type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/n/pingsources/p' },
    'id',
  ],
  [
    'with bad JSON data',
    {
      type: 'dev.knative.sources.ping',
      source: '/apis/v1/namespaces/n/pingsources/p',
      id: '1',
      datacontenttype: 'application/json',
      data: '{',
    },
    'data',
  ],
] as const) {
  test(`a ping event ${what} is refused naming ${field}`, (t) => {
    const err = t.throws(() => parsePingEvent(ev), { instanceOf: InvalidEvent });
    t.is(err?.field, field);
  });
}

test('a Cairn event about an object carries its subject and extensions, sourced from the function', (t) => {
  const ev = cairnEvent('dev.cairn.backup.completed', {
    subject: backup(),
    source: functionSource('job-watcher'),
    data: { backup: 'pg-daily-202503270100', sizeBytes: 42 },
    time: '2025-03-27T01:05:00Z',
  });
  t.like(ev, {
    type: 'dev.cairn.backup.completed',
    source: 'cairn/job-watcher',
    subject: '/apis/backup.cairn.dev/v1alpha1/namespaces/prod/backups/pg-daily-202503270100',
    kind: 'Backup',
    namespace: 'prod',
    name: 'pg-daily-202503270100',
    datacontenttype: 'application/json',
    time: '2025-03-27T01:05:00Z',
  });
  const parsed = parseCairnEvent(overTheWire(ev));
  t.deepEqual(parsed.ref, {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Backup',
    name: 'pg-daily-202503270100',
    namespace: 'prod',
  });
  t.deepEqual(parsed.data, { backup: 'pg-daily-202503270100', sizeBytes: 42 });
});

test('a Cairn event refuses a type outside dev.cairn.*', (t) => {
  const err = t.throws(
    // biome-ignore lint/suspicious/noExplicitAny: the point is a type the compiler would refuse
    () => cairnEvent('com.example.x' as any, { subject: 's', source: 'cairn/x', data: {} }),
    { instanceOf: InvalidEvent },
  );
  t.is(err?.field, 'type');
});

for (const [type, kind] of [
  ['dev.knative.apiserver.resource.add', 'resource'],
  ['dev.knative.apiserver.resource.delete', 'resource'],
  ['dev.knative.apiserver.ref.add', 'unknown'],
  ['dev.knative.sources.ping', 'ping'],
  ['dev.cairn.restore.failed', 'cairn'],
  ['com.example', 'unknown'],
] as const) {
  test(`eventKind of ${type} is ${kind}`, (t) => {
    t.is(eventKind({ type, source: 's', id: '1' }), kind);
  });
}

test('eventKind of something that is not an event is unknown', (t) => {
  t.is(eventKind(undefined), 'unknown');
  t.is(eventKind({ source: 's' }), 'unknown');
});

test('structured JSON round-trips an event, bare or inside a broker recording', (t) => {
  const ev = resourceEvent('delete', backup(), { source: SERVER });
  const json = JSON.parse(JSON.stringify(toStructured(ev)));
  for (const input of [json, { event: json, deliveries: [] }]) {
    const back = eventFromStructured(input);
    t.is(back.id, ev.id);
    t.is(back.kind, 'Backup');
    t.deepEqual(parseResourceEvent(back).object, backup());
  }
});

test('structured JSON of binary data uses data_base64 and comes back as bytes', (t) => {
  const ev = pingEvent({ namespace: 'n', name: 'p', data: 'AQI=', contentType: 'application/octet-stream' });
  const bin = eventFromStructured({ ...toStructured(ev), data: undefined, data_base64: 'AQI=' });
  t.deepEqual(Buffer.from(bin.data as Uint8Array), Buffer.from([1, 2]));
});

test('structured JSON that is not a CloudEvent is refused', (t) => {
  t.throws(() => eventFromStructured({ type: 't' }), { instanceOf: InvalidEvent });
  t.throws(() => eventFromStructured([1]), { instanceOf: InvalidEvent });
});
