/**
 * The seed behaviours job-launcher owns: seed 002's label queries on backup Jobs, and seed 003's
 * Backup made by hand, which gets what a scheduled one has.
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
