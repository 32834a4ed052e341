/**
 * The seed behaviours job-launcher owns: seed 002's label queries on backup Jobs, and seed 003's
 * Backup made by hand, which gets what a scheduled one has (job-launcher is the first function to
 * see it).
 */
import test from 'ava';
import type { KubeObject } from '../../../shared/kube.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, backupPolicy } from '../../../test/builders.ts';
import { decide, type LaunchState } from '../decide.ts';

const now = new Date('2025-03-20T01:00:05Z');
const bpRef = { kind: 'BackupPolicy' as const, name: 'test-backup' };

function state(over: Partial<LaunchState>): LaunchState {
  return {
    backup: backup('test-backup-202503200100', bpRef, {}, {}, { scheduledTime: '2025-03-20T01:00:00Z' }),
    policy: backupPolicy('test-backup'),
    endpoints: [],
    claims: { 'backup-store': true },
    selectedClaims: ['data-postgres-0'],
    ...over,
  };
}
const jobOf = (plan: Action[]): KubeObject | undefined => {
  const c = plan.find((a) => a.type === 'create' && a.kind === 'Job');
  return c?.type === 'create' ? c.object : undefined;
};

test("seed 002: a backup Job carries the seed's labels backup-policy=<policy> and pvc=<claim> beside Cairn's", (t) => {
  const job = jobOf(decide(state({}), now));
  t.like(job?.metadata.labels, {
    'backup-policy': 'test-backup',
    pvc: 'data-postgres-0',
    'backup.cairn.dev/policy': 'test-backup',
    'app.kubernetes.io/managed-by': 'cairn',
  });
});

test('seed 002: a Job that archives several claims has backup-policy, and no pvc label that would name only one', (t) => {
  const job = jobOf(decide(state({ selectedClaims: ['data-postgres-0', 'data-postgres-1'] }), now));
  t.is(job?.metadata.labels?.['backup-policy'], 'test-backup');
  t.false('pvc' in (job?.metadata.labels ?? {}));
});

const patchOf = (plan: Action[]) => {
  const p = plan.find((a) => a.type === 'patch' && a.kind === 'Backup');
  return p?.type === 'patch' ? (p.patch as { metadata: Record<string, unknown> }) : undefined;
};

test('seed 003: a Backup made by hand gets the owner reference and finalizer a scheduled one has, so retention deletes its artifact too', (t) => {
  const byHand = backup('web-data-manual-1', bpRef, {}, { labels: {}, resourceVersion: '42' });
  const plan = decide(state({ backup: byHand }), now);
  const meta = patchOf(plan)?.metadata;
  t.like(meta?.labels, { 'backup.cairn.dev/policy': 'test-backup', 'app.kubernetes.io/managed-by': 'cairn' });
  t.deepEqual(meta?.finalizers, ['backup.cairn.dev/artifact']);
  t.like((meta?.ownerReferences as unknown[])?.[0], {
    kind: 'BackupPolicy',
    name: 'test-backup',
    uid: 'uid-test-backup',
    controller: true,
  });
  t.is(meta?.resourceVersion, '42', 'the patch applies only to the Backup as read');
  t.true(
    plan.findIndex((a) => a.type === 'patch') < plan.findIndex((a) => a.type === 'create'),
    'adopted before its Job exists',
  );
});

test('seed 003: a Backup made by hand that cannot start is adopted too (deleting the policy deletes it)', (t) => {
  const byHand = backup('web-data-manual-1', bpRef, {}, { labels: {} });
  const plan = decide(state({ backup: byHand, selectedClaims: [] }), now);
  t.truthy(patchOf(plan)?.metadata.ownerReferences);
  t.like(
    plan.find((a) => a.type === 'status'),
    { set: { phase: 'Failed', reason: 'VolumeNotFound' } },
  );
});

test('a scheduled Backup, already owned and finalized, is not patched', (t) => {
  const p = backupPolicy('test-backup');
  const scheduled = backup(
    'test-backup-202503200100',
    bpRef,
    {},
    {
      finalizers: ['backup.cairn.dev/artifact'],
      ownerReferences: [
        {
          apiVersion: p.apiVersion,
          kind: 'BackupPolicy',
          name: 'test-backup',
          uid: 'uid-test-backup',
          controller: true,
        },
      ],
    },
  );
  t.is(patchOf(decide(state({ backup: scheduled }), now)), undefined);
});
