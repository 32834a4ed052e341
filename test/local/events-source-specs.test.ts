/**
 * What Knative's webhook and adapters make of a source's spec, checked locally (issue 18, item 4):
 * ApiServerSource defaults (a missing `mode` is Reference) and validation (an invalid mode is
 * refused; `spec.filters` needs the `new-apiserversource-filters` feature), and a PingSource with
 * `data` but no `contentType` sending no `datacontenttype`, through the Broker too.
 *
 * The validation table is ported from TestAPIServerValidation and TestAPIServerFiltersValidation
 * in knative/eventing (pkg/apis/sources/v1/apiserver_validation_test.go); the messages are
 * knative.dev/pkg FieldError texts. Not ported: the ceOverrides key row and the row that checks
 * filter attribute names (the local Trigger filter compiler words those differently).
 */
import test from 'ava';
import { startBroker } from '../../local/broker/index.ts';
import { parseManifests, startEventSources } from '../../local/events/index.ts';
import type { ApiServerSourceSpec } from '../../local/events/knative.ts';
import { validateApiServerSourceSpec } from '../../local/events/validation.ts';
import { silentLogger } from '../../shared/log.ts';
import { apiFetch } from '../fixtures/api.ts';
import { installCrds, startEmulator, startReceiver, tempDir } from './_event-helpers.ts';

const sink = { ref: { apiVersion: 'v1', kind: 'broker', name: 'default' } };
const foo = [{ apiVersion: 'v1', kind: 'Foo' }];

// [name, spec, features, expected error (undefined: valid)]
const rows: [string, Partial<ApiServerSourceSpec>, Record<string, string>, string | undefined][] = [
  ['valid spec', { mode: 'Resource', resources: foo, sink }, {}, undefined],
  [
    'empty sink',
    { mode: 'Resource', resources: foo },
    {},
    'expected at least one, got none: sink.ref, sink.uri',
  ],
  ['invalid mode', { mode: 'Test' as 'Resource', resources: foo, sink }, {}, 'invalid value: Test: mode'],
  [
    'invalid apiVersion',
    { mode: 'Resource', resources: [{ apiVersion: 'v1/v2/v3', kind: 'Foo' }], sink },
    {},
    'invalid value: v1/v2/v3: resources[0].apiVersion',
  ],
  [
    'missing kind',
    { mode: 'Resource', resources: [{ apiVersion: 'v1' } as { apiVersion: string; kind: string }], sink },
    {},
    'missing field(s): resources[0].kind',
  ],
  [
    'owner - invalid apiVersion',
    {
      mode: 'Resource',
      resources: [{ apiVersion: 'v1', kind: 'Bar' }],
      sink,
      owner: { apiVersion: 'v1/v2/v3', kind: 'Foo' },
    },
    {},
    'invalid value: v1/v2/v3: owner.apiVersion',
  ],
  [
    'owner - missing kind',
    { mode: 'Resource', resources: [{ apiVersion: 'v1', kind: 'Bar' }], sink, owner: { apiVersion: 'v1' } },
    {},
    'missing field(s): owner.kind',
  ],
  ['empty resources', { mode: 'Resource', resources: [], sink }, {}, 'missing field(s): resources'],
  ['nil resources', { mode: 'Resource', sink }, {}, 'missing field(s): resources'],
  [
    'an error is raised if the feature is disabled but filters are specified',
    { mode: 'Resource', resources: foo, sink, filters: [{ prefix: { invALID: 'abc' } }] },
    { 'new-apiserversource-filters': 'disabled' },
    'Filters is not empty but the NewAPIServerFilters feature is disabled.: filters',
  ],
  [
    'validation works for valid filters',
    { mode: 'Resource', resources: foo, sink, filters: [{ exact: { myattr: 'myval' } }] },
    { 'new-apiserversource-filters': 'enabled' },
    undefined,
  ],
  [
    'validation works for empty filters',
    { mode: 'Resource', resources: foo, sink, filters: [] },
    { 'new-apiserversource-filters': 'enabled' },
    undefined,
  ],
  [
    'validation does not work for empty filters',
    { mode: 'Resource', resources: foo, sink, filters: [] },
    {},
    undefined,
  ],
  // The flag is off by default (Alpha).
  [
    'filters without the flag at all',
    { mode: 'Resource', resources: foo, sink, filters: [{ exact: { a: 'b' } }] },
    {},
    'Filters is not empty but the NewAPIServerFilters feature is disabled.: filters',
  ],
];
for (const [name, spec, features, want] of rows) {
  test(`ApiServerSource validation: ${name}`, (t) => {
    const errs = validateApiServerSourceSpec(spec as ApiServerSourceSpec, features);
    t.is(errs.length === 0 ? undefined : errs.join('\n'), want);
  });
}

const source = (spec: string) =>
  parseManifests(`apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: {name: src, namespace: cairn-system}
spec:
  resources: [{apiVersion: backup.cairn.dev/v1alpha1, kind: Backup}]
  sink: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}}
${spec}`);

async function setup(t: import('ava').ExecutionContext) {
  const emu = await startEmulator({ crds: false });
  await installCrds(emu.kc);
  const ns = await apiFetch(emu.api, '/api/v1/namespaces', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ metadata: { name: 'cairn-system' } }),
  });
  if (ns.status !== 201) throw new Error(`namespace: ${ns.status}`);
  const receiver = await startReceiver();
  t.teardown(async () => {
    await receiver.close();
    await emu.close();
  });
  return { emu, receiver };
}

test('an ApiServerSource without mode sends Reference events, as Knative defaults it', async (t) => {
  const { emu, receiver } = await setup(t);
  const sources = await startEventSources({
    manifests: source(''),
    kube: emu.kc,
    sinks: { brokerIngress: receiver.url },
    ping: { mode: 'manual' },
    log: silentLogger,
  });
  t.teardown(() => sources.close());
  const r = await apiFetch(emu.api, '/apis/backup.cairn.dev/v1alpha1/namespaces/cairn-system/backups', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      metadata: { name: 'b1' },
      spec: { policyRef: { kind: 'BackupPolicy', name: 'p' } },
    }),
  });
  t.is(r.status, 201);
  const [got] = await receiver.waitFor(1);
  t.is(got!.event.type, 'dev.knative.apiserver.ref.add');
  t.deepEqual(got!.event.data, {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Backup',
    name: 'b1',
    namespace: 'cairn-system',
  });
});

test('an ApiServerSource with an invalid mode, or filters without the feature, is refused at start', async (t) => {
  const { emu, receiver } = await setup(t);
  const start = (spec: string, features?: Record<string, string>) =>
    startEventSources({
      manifests: source(spec),
      kube: emu.kc,
      sinks: { brokerIngress: receiver.url },
      ping: { mode: 'manual' },
      log: silentLogger,
      ...(features ? { features } : {}),
    });
  await t.throwsAsync(start('  mode: resource\n'), {
    message: /ApiServerSource cairn-system\/src: invalid value: resource: spec.mode/,
  });
  const filters = '  mode: Resource\n  filters: [{exact: {type: dev.knative.apiserver.resource.add}}]\n';
  await t.throwsAsync(start(filters), {
    message: /Filters is not empty but the NewAPIServerFilters feature is disabled.: spec.filters/,
  });
  const ok = await start(filters, { 'new-apiserversource-filters': 'enabled' });
  await ok.close();
  t.pass();
});

test('a PingSource with data and no contentType sends no datacontenttype, through the Broker too', async (t) => {
  const receiver = await startReceiver();
  const manifests = parseManifests(`apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: plain, namespace: cairn-system}
spec:
  schedule: "* * * * *"
  data: 'hello'
  sink: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default, namespace: cairn-system}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: all, namespace: cairn-system}
spec:
  broker: default
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: sub}}
`);
  const broker = await startBroker({
    manifests,
    services: { sub: receiver.url },
    stateDir: await tempDir(),
    record: false,
    log: silentLogger,
  });
  const emu = await startEmulator({ crds: false });
  t.teardown(async () => {
    await broker.close();
    await receiver.close();
    await emu.close();
  });
  const direct = await startReceiver();
  t.teardown(() => direct.close());
  for (const [sinks, to] of [
    [{ brokerIngress: broker.url }, receiver],
    [{ brokerIngress: direct.url }, direct],
  ] as const) {
    const sources = await startEventSources({
      manifests: manifests.filter((m) => m.kind === 'PingSource'),
      kube: emu.kc,
      sinks,
      ping: { mode: 'manual' },
      log: silentLogger,
    });
    await sources.firePing('plain');
    await sources.close();
    await broker.idle();
    const [got] = await to.waitFor(1);
    t.is(got!.event.type, 'dev.knative.sources.ping');
    t.is(got!.event.datacontenttype, undefined);
    t.is(got!.headers['content-type'], undefined);
    t.is(got!.body, 'hello');
  }
});
