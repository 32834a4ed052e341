/**
 * Seed 003's example applied as a whole (policy, manual Backup, Restore at once): the Restore waits
 * for a Backup that is still running, and starts when it completes — on the dev.cairn.backup.*
 * event job-watcher replies with, or on the tick if that event is lost.
 */
import test from 'ava';
import type { Backup, Restore } from '../../../shared/api/index.ts';
import { CAIRN_EVENT_TYPES } from '../../../shared/event-types.ts';
import { cairnEvent, functionSource, pingEvent } from '../../../shared/events.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, backupPolicy } from '../../../test/builders.ts';
import { apiPutStatus } from '../../../test/fixtures/api.ts';
import { type Harness, startFunction } from '../../../test/function-harness.ts';
import { decide, type RestoreState } from '../decide.ts';
import { plan } from '../handle.ts';

const now = new Date('2025-03-21T10:00:00Z');
const ref = { kind: 'BackupPolicy' as const, name: 'web-data' };
const done = {
  phase: 'Completed' as const,
  manifestKey: 'web/web-data/x.manifest.json',
  key: 'web/web-data/x.tar.zst',
  sha256: 'b'.repeat(64),
  destination: { type: 'pvc' as const, claimName: 'backup-store', path: 'web' },
};
const restore = (status?: Restore['status']): Restore => ({
  apiVersion: 'backup.cairn.dev/v1alpha1',
  kind: 'Restore',
  metadata: { name: 'web-data-restore-1', namespace: 'default', uid: 'uid-r' },
  spec: { backupRef: { name: 'web-data-manual-1' }, target: { pvc: { claimName: 'data-restore' } } },
  ...(status ? { status } : {}),
});
const state = (b: Backup | undefined, r = restore()): RestoreState => ({
  restore: r,
  backup: b,
  policy: backupPolicy('web-data', { storageDestination: done.destination }),
  claims: { 'data-restore': true, 'backup-store': true },
});
const statusOf = (plan: Action[]) =>
  plan.find((a): a is Extract<Action, { type: 'status' }> => a.type === 'status');

test('seed 003: a Restore of a Backup that is still running waits, Pending with a reason, and says so once', (t) => {
  const running = backup('web-data-manual-1', ref, { phase: 'Running', jobName: 'web-data-manual-1' });
  const plan = decide(state(running), now);
  t.false(plan.some((a) => a.type === 'create'));
  const s = statusOf(plan);
  t.like(s?.set, { phase: 'Pending', reason: 'WaitingForBackup' });
  t.regex(String(s?.set.message), /Backup web-data-manual-1 is Running/);
  t.like(s?.conditions?.[0], { type: 'Ready', status: 'False', reason: 'WaitingForBackup' });
  t.deepEqual(
    plan
      .filter((a) => a.type === 'event')
      .map((a) => (a.type === 'event' ? `${a.eventType}:${a.reason}` : '')),
    ['Normal:WaitingForBackup'],
  );
  // Looked at again (the tick, its own status event): nothing new to say.
  const waiting = restore({ phase: 'Pending', reason: 'WaitingForBackup', message: String(s?.set.message) });
  t.deepEqual(decide(state(running, waiting), now), []);
});

test('seed 003: a waiting Restore starts once its Backup completed', (t) => {
  const waiting = restore({ phase: 'Pending', reason: 'WaitingForBackup', message: 'x' });
  const plan = decide(state(backup('web-data-manual-1', ref, done), waiting), now);
  t.true(plan.some((a) => a.type === 'create' && a.kind === 'Job'));
  t.like(statusOf(plan)?.set, { phase: 'Pending', jobName: 'web-data-restore-1-restore', reason: null });
});

test("seed 003: a Restore fails only on a Failed or missing Backup, with the Backup's reason", (t) => {
  const failed = backup('web-data-manual-1', ref, {
    phase: 'Failed',
    reason: 'VolumeNotFound',
    message: 'no PersistentVolumeClaim matches',
  });
  const s = statusOf(decide(state(failed), now));
  t.like(s?.set, { phase: 'Failed', reason: 'RestoreRefused' });
  t.regex(
    String(s?.set.message),
    /Backup web-data-manual-1 failed \(VolumeNotFound\): no PersistentVolumeClaim matches/,
  );
  t.like(statusOf(decide(state(undefined), now))?.set, { phase: 'Failed', reason: 'RestoreRefused' });
});

const backupPath = (b: KubeObject) =>
  `/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/${b.metadata.name}`;

async function world(fn: Harness): Promise<{ backup: KubeObject }> {
  const p = backupPolicy('web-data', { storageDestination: done.destination });
  await fn.kube.create('BackupPolicy', { ...p, metadata: { name: 'web-data', namespace: 'default' } });
  for (const claim of ['backup-store', 'data-restore'])
    await fn.kube.create('PersistentVolumeClaim', {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claim, namespace: 'default' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
  const { object } = await fn.kube.create('Backup', {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Backup',
    metadata: { name: 'web-data-manual-1', namespace: 'default' },
    spec: { policyRef: ref },
  });
  await apiPutStatus(fn.api, backupPath(object), object, { phase: 'Running', jobName: 'web-data-manual-1' });
  const { object: r } = await fn.kube.create('Restore', {
    ...restore(),
    metadata: { name: 'web-data-restore-1', namespace: 'default' },
  });
  // restore-runner saw the Restore while the Backup ran: it waits.
  await fn.post(pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: {} }));
  const waiting = await fn.kube.get<Restore>('Restore', 'default', r.metadata.name);
  if (waiting?.status?.reason !== 'WaitingForBackup')
    throw new Error(`not waiting: ${JSON.stringify(waiting?.status)}`);
  const current = (await fn.kube.get<Backup>('Backup', 'default', 'web-data-manual-1')) as KubeObject;
  await apiPutStatus(fn.api, backupPath(current), current, { ...done, jobName: 'web-data-manual-1' });
  return { backup: current };
}

test('seed 003: dev.cairn.backup.completed starts the Restore waiting for that Backup', async (t) => {
  const fn = await startFunction('restore-runner', plan);
  t.teardown(() => fn.stop());
  await world(fn);
  const res = await fn.post(
    cairnEvent(CAIRN_EVENT_TYPES.backupCompleted, {
      subject: '/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/web-data-manual-1',
      source: functionSource('job-watcher'),
      data: { name: 'web-data-manual-1', namespace: 'default' },
    }),
  );
  t.is(res.status, 204);
  const r = await fn.kube.get<Restore>('Restore', 'default', 'web-data-restore-1');
  t.is(r?.status?.jobName, 'web-data-restore-1-restore');
  t.truthy(await fn.kube.get('Job', 'default', 'web-data-restore-1-restore'));
});

test('seed 003: the tick starts a waiting Restore whose Backup completed (the event was lost)', async (t) => {
  const fn = await startFunction('restore-runner', plan);
  t.teardown(() => fn.stop());
  await world(fn);
  await fn.post(pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: {} }));
  const r = await fn.kube.get<Restore>('Restore', 'default', 'web-data-restore-1');
  t.is(r?.status?.jobName, 'web-data-restore-1-restore');
});
