/**
 * The local CSI snapshot machinery, driven with the real kubectl against the API emulator: the
 * upstream snapshot.storage.k8s.io/v1 CRDs, and the controller that turns a VolumeSnapshot of a
 * claim into a copy of its folder and fills a claim whose dataSource names a snapshot.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { escapeCelProperty, validateCel } from '../../local/apiserver/schema/cel.ts';
import { startEventSources } from '../../local/events/index.ts';
import { applyYaml, REPO_ROOT } from '../../local/runtime.ts';
import { FAIL_PARAMETER, installSnapshotCrds, startSnapshotController } from '../../local/snapshots/index.ts';
import { createLogger, silentLogger } from '../../shared/log.ts';
import { waitFor } from '../e2e/helpers.ts';
import { startReceiver } from './_event-helpers.ts';
import { type Emulator, type JsonAny, startEmulator } from './apiserver-helpers.ts';

interface World {
  emu: Emulator;
  state: string;
  close(): Promise<void>;
  get(what: string, ns?: string): Promise<JsonAny>;
  apply(yaml: string): Promise<void>;
}

async function world(): Promise<World> {
  const emu = await startEmulator();
  await installSnapshotCrds((texts) => applyYaml(emu.kubeconfig, texts));
  const state = join(emu.dir, 'state');
  const ctl = await startSnapshotController({
    kube: emu.kubeconfig,
    stateDir: state,
    log: createLogger(
      {},
      {
        level: process.env.SNAP_DEBUG ? 'debug' : 'error',
        write: (l) => {
          if (process.env.SNAP_DEBUG) process.stderr.write(`${l}\n`);
        },
      },
    ),
  });
  await ctl.ready;
  return {
    emu,
    state,
    async close() {
      await ctl.close();
      await emu.close();
    },
    async get(what, ns = 'default') {
      const r = await emu.kubectl(['get', what, '-n', ns, '-o', 'json']);
      if (r.code !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout);
    },
    async apply(yaml) {
      const r = await emu.kubectl(['apply', '-f', '-'], yaml);
      if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
    },
  };
}

const claim = (name: string, extra = '') => `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: ${name}, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
${extra}`;

const snapshot = (name: string, claimName: string, cls?: string) => `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: ${name}, namespace: default}
spec:
  ${cls ? `volumeSnapshotClassName: ${cls}\n  ` : ''}source: {persistentVolumeClaimName: ${claimName}}
`;

const ready = (w: World, name: string) =>
  waitFor(`VolumeSnapshot ${name} ready or failed`, async () => {
    const vs = await w.get(`volumesnapshot/${name}`);
    return vs.status?.readyToUse === true || vs.status?.error ? vs : undefined;
  });

test('a VolumeSnapshot of a claim is a copy of its folder, bound to a content, with the status the real controller sets', async (t) => {
  const w = await world();
  t.teardown(() => w.close());
  await w.apply(claim('data'));
  const src = join(w.state, 'volumes', 'default', 'data');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'sub', 'a.txt'), 'first');
  await w.apply(snapshot('snap-1', 'data'));
  const vs = await ready(w, 'snap-1');
  t.is(vs.status.readyToUse, true);
  t.is(vs.status.error, undefined);
  t.is(vs.status.restoreSize, '1Gi');
  t.is(vs.status.boundVolumeSnapshotContentName, `snapcontent-${vs.metadata.uid}`);
  t.regex(vs.status.creationTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.is(vs.spec.volumeSnapshotClassName, 'local', 'the default class is written into the spec');
  t.true(vs.metadata.finalizers.includes('snapshot.storage.kubernetes.io/volumesnapshot-bound-protection'));

  const content = await w.get(`volumesnapshotcontent/${vs.status.boundVolumeSnapshotContentName}`);
  t.is(content.spec.volumeSnapshotRef.uid, vs.metadata.uid, 'content and snapshot point at each other');
  t.is(content.spec.deletionPolicy, 'Delete');
  t.is(content.status.readyToUse, true);
  t.is(content.status.restoreSize, 1024 ** 3);

  // A point in time: a later write to the claim is not in the snapshot.
  await writeFile(join(src, 'sub', 'a.txt'), 'second');
  const copy = join(w.state, 'snapshots', vs.status.boundVolumeSnapshotContentName, 'sub', 'a.txt');
  t.is(await readFile(copy, 'utf8'), 'first');

  // kubectl's own columns read the same status.
  const table = await w.emu.kubectl(['get', 'vs', 'snap-1', '--no-headers']);
  t.regex(table.stdout, /snap-1\s+true\s+data\s+1Gi\s+local\s+snapcontent-/);
});

test('a claim whose dataSource is a ready VolumeSnapshot is filled from the copy and becomes Bound', async (t) => {
  const w = await world();
  t.teardown(() => w.close());
  await w.apply(claim('data'));
  const src = join(w.state, 'volumes', 'default', 'data');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'db.bin'), 'payload');
  await w.apply(snapshot('snap-1', 'data'));
  await ready(w, 'snap-1');
  await w.apply(
    claim(
      'restored',
      '  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: snap-1}\n',
    ),
  );
  const pvc = await waitFor('claim restored Bound', async () => {
    const c = await w.get('pvc/restored');
    return c.status?.phase === 'Bound' ? c : undefined;
  });
  t.is(pvc.status.capacity.storage, '1Gi');
  t.is(await readFile(join(w.state, 'volumes', 'default', 'restored', 'db.bin'), 'utf8'), 'payload');
});

test('a claim from a snapshot that is not ready yet waits, and is filled once the snapshot is taken', async (t) => {
  const w = await world();
  t.teardown(() => w.close());
  await w.apply(
    claim(
      'restored',
      '  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: later}\n',
    ),
  );
  const events = await waitFor('a ProvisioningFailed event', async () => {
    const ev = await w.get('events');
    return ev.items.find((e: JsonAny) => e.reason === 'ProvisioningFailed');
  });
  t.regex(events.message, /snapshot later not bound or not ready/);
  t.is((await w.get('pvc/restored')).status.phase, 'Pending');
  await w.apply(claim('data'));
  const src = join(w.state, 'volumes', 'default', 'data');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'x'), 'x');
  await w.apply(snapshot('later', 'data'));
  await waitFor('claim restored Bound', async () => (await w.get('pvc/restored')).status?.phase === 'Bound');
  t.is(await readFile(join(w.state, 'volumes', 'default', 'restored', 'x'), 'utf8'), 'x');
});

test('a class made to fail, a missing class and a missing claim set status.error and never readyToUse', async (t) => {
  const w = await world();
  t.teardown(() => w.close());
  await w.apply(`apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: broken}
driver: local.cairn.dev
deletionPolicy: Delete
parameters:
  ${FAIL_PARAMETER}: disk array offline
`);
  await w.apply(claim('data'));
  await w.apply(snapshot('fails', 'data', 'broken'));
  await w.apply(snapshot('no-class', 'data', 'nope'));
  await w.apply(snapshot('no-claim', 'ghost'));
  const failed = await ready(w, 'fails');
  t.is(failed.status.readyToUse, false);
  t.regex(failed.status.error.message, /disk array offline/);
  t.regex(failed.status.error.time, /Z$/);
  t.regex((await ready(w, 'no-class')).status.error.message, /volumesnapshotclass.*"nope.*not found/);
  t.regex((await ready(w, 'no-claim')).status.error.message, /persistentvolumeclaim .*ghost.* not found/);
  const ev = await w.get('events');
  t.true(
    ev.items.some((e: JsonAny) => e.reason === 'SnapshotCreationFailed' && e.involvedObject.name === 'fails'),
  );

  // The claim appearing later lets the failed snapshot be taken, as the real controller retries.
  await w.apply(claim('ghost'));
  const taken = await waitFor('VolumeSnapshot no-claim taken once its claim exists', async () => {
    const vs = await w.get('volumesnapshot/no-claim');
    return vs.status?.readyToUse === true ? vs : undefined;
  });
  t.is(taken.status.error, undefined, 'success clears the error');
});

test('deleting a snapshot removes its content and copy under Delete, and keeps both under Retain', async (t) => {
  const w = await world();
  t.teardown(() => w.close());
  await w.apply(`apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: keep}
driver: local.cairn.dev
deletionPolicy: Retain
`);
  await w.apply(claim('data'));
  await mkdir(join(w.state, 'volumes', 'default', 'data'), { recursive: true });
  await writeFile(join(w.state, 'volumes', 'default', 'data', 'f'), 'f');
  await w.apply(snapshot('gone', 'data'));
  await w.apply(snapshot('kept', 'data', 'keep'));
  const gone = (await ready(w, 'gone')).status.boundVolumeSnapshotContentName;
  const kept = (await ready(w, 'kept')).status.boundVolumeSnapshotContentName;
  const del = await w.emu.kubectl(['delete', 'vs', 'gone', 'kept', '--wait=true', '--timeout=30s']);
  t.is(del.code, 0, del.stderr);
  const contents = await w.get('volumesnapshotcontents');
  const names = contents.items.map((c: JsonAny) => c.metadata.name);
  t.false(names.includes(gone));
  t.true(names.includes(kept));
  await t.throwsAsync(stat(join(w.state, 'snapshots', gone)));
  t.is(await readFile(join(w.state, 'snapshots', kept, 'f'), 'utf8'), 'f');
});

test('CEL rules reach escaped property names as Kubernetes escapes them (the snapshot CRDs use self.__namespace__)', (t) => {
  // The escaping table of kubernetes/website content/en/docs/reference/using-api/cel.md ("Escaping").
  const cases: [string, string][] = [
    ['namespace', '__namespace__'],
    ['x-prop', 'x__dash__prop'],
    ['redact__d', 'redact__underscores__d'],
    ['string', 'string'],
    ['a.b/c', 'a__dot__b__slash__c'],
  ];
  for (const [name, escaped] of cases) t.is(escapeCelProperty(name), escaped, name);
  const schema = {
    type: 'object',
    properties: {
      namespace: { type: 'string' },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
    },
    'x-kubernetes-validations': [
      { rule: 'has(self.__namespace__)', message: 'namespace required' },
      { rule: "!has(self.labels) || self.labels.all(k, k != 'x-y')", message: 'map keys are not escaped' },
    ],
  };
  t.deepEqual(validateCel({ namespace: 'default' }, undefined, schema), []);
  const errs = JSON.stringify(validateCel({ labels: { 'x-y': 'z' } }, undefined, schema));
  t.regex(errs, /namespace required/);
  t.regex(errs, /map keys are not escaped/);
});

test("eventing/'s cairn-snapshots ApiServerSource, run locally, delivers Cairn's VolumeSnapshots and not others", async (t) => {
  const w = await world();
  t.teardown(() => w.close());
  const receiver = await startReceiver();
  t.teardown(() => receiver.close());
  await w.apply('apiVersion: v1\nkind: Namespace\nmetadata: {name: cairn-system}\n');
  const sources = await startEventSources({
    manifests: join(REPO_ROOT, 'eventing', 'base'),
    kube: w.emu.kubeconfig,
    sinks: { brokerIngress: receiver.url },
    ping: { mode: 'manual' },
    log: silentLogger,
  });
  t.teardown(() => sources.close());
  t.true(sources.apiServerSources.includes('cairn-system/cairn-snapshots'));
  await w.apply(claim('data'));
  await w.apply(snapshot('not-ours', 'data'));
  await w.apply(
    snapshot('ours', 'data').replace(
      'namespace: default}',
      'namespace: default, labels: {app.kubernetes.io/managed-by: cairn}}',
    ),
  );
  await ready(w, 'ours');
  await sources.flushed();
  const snapshots = receiver.received.filter((r) => r.event.kind === 'VolumeSnapshot');
  t.true(snapshots.length >= 2, 'the add and the status update');
  t.true(snapshots.every((r) => r.event.subject?.includes('/volumesnapshots/ours')));
  t.true(snapshots.some((r) => r.event.type === 'dev.knative.apiserver.resource.add'));
  t.true(snapshots.some((r) => (r.event.data as JsonAny)?.status?.readyToUse === true));
});
