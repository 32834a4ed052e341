/**
 * What DELETE answers, and how times come back, as kube-apiserver does it (issue 18, item 5):
 *
 * - the generic registry (k8s.io/apiserver registry/generic/registry/store.go, finalizeDelete)
 *   answers a deleted object with a `Status` (details: name, group, kind = the resource, uid)
 *   unless the resource's storage sets ReturnDeletedObject (pods, services, service accounts,
 *   PVCs, custom resources: pkg/registry/core/{pod,service,serviceaccount,persistentvolumeclaim}/
 *   storage/storage.go, apiextensions' customresource/etcd.go); a Job's storage does not
 *   (pkg/registry/batch/job/storage/storage.go);
 * - a deletion deferred by finalizers (an orphan or foreground propagation among them) answers
 *   the object, now with its deletionTimestamp, 202 when orphanDependents=false asked for it
 *   (endpoints/handlers/delete.go);
 * - metav1.Time fields come back as RFC 3339 in UTC with whole seconds, MicroTime fields with six
 *   digits (apimachinery meta/v1 time.go and micro_time.go MarshalJSON).
 */
import test from 'ava';
import { type Emulator, startEmulator } from './apiserver-helpers.ts';

let emu: Emulator;
test.before(async () => {
  emu = await startEmulator();
});
test.after.always(async () => {
  await emu?.close();
});

const job = (name: string) => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name },
  spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } },
});

test('deleting a Job at once answers a Status; deferred by its orphan finalizer, the Job', async (t) => {
  const made = await emu.call('POST', '/apis/batch/v1/namespaces/default/jobs', job('now'));
  t.is(made.status, 201);
  const del = await emu.call(
    'DELETE',
    '/apis/batch/v1/namespaces/default/jobs/now?propagationPolicy=Background',
  );
  t.is(del.status, 200);
  t.like(del.body, {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Success',
    details: { name: 'now', group: 'batch', kind: 'jobs', uid: made.body.metadata.uid },
  });
  // Without a policy a batch/v1 Job orphans its pods: the orphan finalizer defers the deletion.
  await emu.call('POST', '/apis/batch/v1/namespaces/default/jobs', job('later'));
  const deferred = await emu.call('DELETE', '/apis/batch/v1/namespaces/default/jobs/later');
  t.is(deferred.status, 200);
  t.is(deferred.body.kind, 'Job');
  t.truthy(deferred.body.metadata.deletionTimestamp);
  t.deepEqual(deferred.body.metadata.finalizers, ['orphan']);
});

test('orphanDependents=false on a deletion that finalizers defer answers 202 with the object', async (t) => {
  const made = await emu.call('POST', '/api/v1/namespaces/default/configmaps', {
    metadata: { name: 'held', finalizers: ['example.com/hold'] },
  });
  t.is(made.status, 201);
  const del = await emu.call('DELETE', '/api/v1/namespaces/default/configmaps/held', {
    kind: 'DeleteOptions',
    apiVersion: 'v1',
    orphanDependents: false,
  });
  t.is(del.status, 202);
  t.is(del.body.kind, 'ConfigMap');
  t.truthy(del.body.metadata.deletionTimestamp);
});

test('pods, PVCs and service accounts answer a deletion with the object; config maps with a Status', async (t) => {
  const cases: [string, unknown, string][] = [
    [
      '/api/v1/namespaces/default/pods',
      { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      'Pod',
    ],
    [
      '/api/v1/namespaces/default/persistentvolumeclaims',
      {
        metadata: { name: 'c' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
      'PersistentVolumeClaim',
    ],
    ['/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'sa' } }, 'ServiceAccount'],
    ['/api/v1/namespaces/default/configmaps', { metadata: { name: 'cm' } }, 'Status'],
  ];
  for (const [path, body, kind] of cases) {
    const made = await emu.call('POST', path, body);
    t.is(made.status, 201, `${path}: ${JSON.stringify(made.body)}`);
    const del = await emu.call('DELETE', `${path}/${made.body.metadata.name}`);
    t.is(del.status, 200, path);
    t.is(del.body.kind, kind, path);
  }
});

test('metav1.Time fields of built-ins come back in UTC with whole seconds, MicroTime with six digits', async (t) => {
  const ev = await emu.call('POST', '/api/v1/namespaces/default/events', {
    metadata: { name: 'e1' },
    involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' },
    reason: 'Tested',
    message: 'times',
    type: 'Normal',
    firstTimestamp: '2026-11-29T10:35:00.123Z',
    lastTimestamp: '2026-11-29T12:35:07+02:00',
    eventTime: '2026-11-29T10:35:00.5Z',
  });
  t.is(ev.status, 201, JSON.stringify(ev.body));
  t.is(ev.body.firstTimestamp, '2026-11-29T10:35:00Z');
  t.is(ev.body.lastTimestamp, '2026-11-29T10:35:07Z');
  t.is(ev.body.eventTime, '2026-11-29T10:35:00.500000Z');
  t.regex(ev.body.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const made = await emu.call('POST', '/apis/batch/v1/namespaces/default/jobs', job('timed'));
  const status = await emu.call(
    'PATCH',
    '/apis/batch/v1/namespaces/default/jobs/timed/status',
    {
      status: {
        startTime: '2026-11-29T10:35:00.000Z',
        conditions: [
          {
            type: 'Complete',
            status: 'True',
            lastTransitionTime: '2026-11-29T10:36:00.999Z',
            lastProbeTime: '2026-11-29T10:36:00.1Z',
          },
        ],
        completionTime: '2026-11-29T10:36:00.999Z',
      },
    },
    { 'Content-Type': 'application/merge-patch+json' },
  );
  t.is(made.status, 201);
  t.is(status.status, 200, JSON.stringify(status.body));
  t.like(status.body.status, {
    startTime: '2026-11-29T10:35:00Z',
    completionTime: '2026-11-29T10:36:00Z',
    conditions: [{ lastTransitionTime: '2026-11-29T10:36:00Z', lastProbeTime: '2026-11-29T10:36:00Z' }],
  });
  // Custom resources keep their strings as written (the CRD schema owns them).
});

test('a MicroTime keeps the microseconds a client sent, in UTC', async (t) => {
  const ev = await emu.call('POST', '/api/v1/namespaces/default/events', {
    metadata: { name: 'e-micro' },
    involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' },
    reason: 'Tested',
    eventTime: '2026-11-29T12:35:00.123456789+02:00',
  });
  t.is(ev.status, 201, JSON.stringify(ev.body));
  t.is(ev.body.eventTime, '2026-11-29T10:35:00.123456Z');
});
