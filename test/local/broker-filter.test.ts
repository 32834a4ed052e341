import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { triggerPredicate, UnsupportedFilter } from '../../local/broker/filter.ts';
import type { TriggerSpec } from '../../local/events/knative.ts';
import { isApiServerSource, isBroker, isPingSource, isTrigger } from '../../local/events/knative.ts';
import { loadManifests } from '../../local/events/manifests.ts';
import type { CloudEventLike } from '../../shared/events.ts';

const jobUpdate: CloudEventLike = {
  specversion: '1.0',
  id: '1',
  type: 'dev.knative.apiserver.resource.update',
  source: 'https://k:6443',
  subject: '/apis/batch/v1/namespaces/prod/jobs/pg-nightly',
  time: '2025-03-27T01:00:00Z',
  kind: 'Job',
  name: 'pg-nightly',
  namespace: 'prod',
  apiversion: 'batch/v1',
};

type Filters = Pick<TriggerSpec, 'filter' | 'filters'>;

for (const [title, spec, expected] of [
  ['no filter passes everything', {}, true],
  ['attributes: all equal', { filter: { attributes: { type: jobUpdate.type!, kind: 'Job' } } }, true],
  ['attributes: one differs', { filter: { attributes: { type: jobUpdate.type!, kind: 'Pod' } } }, false],
  ['attributes: missing extension', { filter: { attributes: { team: 'x' } } }, false],
  ['attributes: empty value means present', { filter: { attributes: { kind: '' } } }, true],
  ['attributes: empty value and absent attribute', { filter: { attributes: { team: '' } } }, false],
  ['attributes: case matters', { filter: { attributes: { kind: 'job' } } }, false],
  ['exact', { filters: [{ exact: { namespace: 'prod' } }] }, true],
  ['prefix on subject', { filters: [{ prefix: { subject: '/apis/batch/v1/namespaces/prod/jobs/' } }] }, true],
  ['suffix on name', { filters: [{ suffix: { name: '-nightly' } }] }, true],
  ['suffix that does not match', { filters: [{ suffix: { name: '-daily' } }] }, false],
  ['list is ANDed', { filters: [{ exact: { kind: 'Job' } }, { exact: { namespace: 'dev' } }] }, false],
  [
    'any: one matches',
    { filters: [{ any: [{ exact: { kind: 'Pod' } }, { exact: { kind: 'Job' } }] }] },
    true,
  ],
  [
    'any: none match',
    { filters: [{ any: [{ exact: { kind: 'Pod' } }, { exact: { kind: 'Node' } }] }] },
    false,
  ],
  ['all', { filters: [{ all: [{ exact: { kind: 'Job' } }, { prefix: { type: 'dev.knative.' } }] }] }, true],
  ['not', { filters: [{ not: { exact: { namespace: 'kube-system' } } }] }, true],
  ['not of a match', { filters: [{ not: { exact: { namespace: 'prod' } } }] }, false],
  ['exact on time', { filters: [{ exact: { time: '2025-03-27T01:00:00Z' } }] }, true],
  [
    'filters win over filter',
    { filter: { attributes: { kind: 'Pod' } }, filters: [{ exact: { kind: 'Job' } }] },
    true,
  ],
] as [string, Filters, boolean][]) {
  test(`trigger filter: ${title}`, (t) => {
    t.is(triggerPredicate(spec)(jobUpdate), expected);
  });
}

for (const [title, spec, message] of [
  [
    'two dialects in one entry',
    { filters: [{ exact: { a: 'b' }, prefix: { a: 'b' } }] },
    /exactly one dialect/,
  ],
  ['an empty value', { filters: [{ prefix: { subject: '' } }] }, /must not be empty/],
  ['cesql', { filters: [{ cesql: "kind = 'Job'" }] }, /CE SQL filters are not supported/],
] as [string, Filters, RegExp][]) {
  test(`trigger filter: ${title} is refused`, (t) => {
    t.throws(() => triggerPredicate(spec), { instanceOf: UnsupportedFilter, message });
  });
}

test('the eventing fixture loads through its kustomization, with its namespace and labels', async (t) => {
  const objs = await loadManifests(join(import.meta.dirname, 'fixtures', 'eventing'));
  t.is(objs.filter(isBroker).length, 1);
  t.is(objs.filter(isPingSource).length, 1);
  t.is(objs.filter(isApiServerSource).length, 2);
  t.is(objs.filter(isTrigger).length, 4);
  for (const o of objs) {
    t.is(o.metadata.namespace, 'cairn-system');
    t.is(o.metadata.labels?.['app.kubernetes.io/part-of'], 'cairn');
  }
});

test("the project's eventing/ loads: every Trigger compiles, and all-in-one's patch points them at one Service", async (t) => {
  const root = join(import.meta.dirname, '..', '..', 'eventing');
  const base = await loadManifests(join(root, 'base'));
  const triggers = base.filter(isTrigger);
  t.true(triggers.length > 0);
  for (const tr of triggers) t.notThrows(() => triggerPredicate(tr.spec), tr.metadata.name);
  t.true(base.filter(isApiServerSource).every((s) => s.spec.mode === 'Resource'));
  const clusterRoles = base.filter((o) => o.kind === 'ClusterRole');
  t.true(
    clusterRoles.every((o) => o.metadata.namespace === undefined),
    'cluster-scoped kinds get no namespace',
  );
  const allInOne = (await loadManifests(join(root, 'all-in-one'))).filter(isTrigger);
  t.deepEqual([...new Set(allInOne.map((tr) => tr.spec.subscriber.ref?.name))], ['cairn']);
});

test('a kustomization patch with a target applies JSON 6902 ops or a merge patch', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kust-'));
  await writeFile(
    join(dir, 'kustomization.yaml'),
    `resources: [t.yaml]
namespace: ns
patches:
  - target: {kind: Trigger, name: "a|b"}
    patch: |-
      - op: replace
        path: /spec/broker
        value: other
  - target: {kind: Trigger, name: b}
    patch: |-
      spec: {filter: {attributes: {kind: Job}}}
`,
  );
  await writeFile(
    join(dir, 't.yaml'),
    ['a', 'b', 'c']
      .map(
        (n) =>
          `apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: ${n}}\nspec: {broker: default, subscriber: {uri: "http://x/"}}\n`,
      )
      .join('---\n'),
  );
  const ts = (await loadManifests(dir)).filter(isTrigger);
  t.deepEqual(
    ts.map((x) => [x.metadata.name, x.metadata.namespace, x.spec.broker, x.spec.filter?.attributes?.kind]),
    [
      ['a', 'ns', 'other', undefined],
      ['b', 'ns', 'other', 'Job'],
      ['c', 'ns', 'default', undefined],
    ],
  );
});
