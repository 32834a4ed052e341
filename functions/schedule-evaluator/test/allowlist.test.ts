/**
 * Issue 15.6 and 16.3: a policy whose backupImage or serviceAccountName the cluster admin did not
 * allow is refused where its spec is evaluated — Ready=False with the reason and a Warning — and
 * no Backup is scheduled for it (so no failing Jobs pile up).
 */
import test from 'ava';
import { allowListFromEnv } from '../../../shared/allowlist.ts';
import type { Action } from '../../../shared/plan.ts';
import { backupPolicy, databaseBackup } from '../../../test/builders.ts';
import { decide } from '../decide.ts';

const due = new Date('2025-03-20T01:00:10Z');
const status = (plan: Action[]) =>
  plan.find((a): a is Extract<Action, { type: 'status' }> => a.type === 'status');

test("seed 002's backupImage busybox:latest is refused up front: Ready=False ImageNotAllowed, a Warning, no Backup", (t) => {
  const policy = backupPolicy('volumes', { schedule: '0 1 * * *', backupImage: 'busybox:latest' });
  const plan = decide({ kind: 'BackupPolicy', policy, backups: [] }, due);
  t.false(
    plan.some((a) => a.type === 'create'),
    'nothing is scheduled',
  );
  const c = status(plan)?.conditions?.[0];
  t.like(c, { type: 'Ready', status: 'False', reason: 'ImageNotAllowed' });
  t.regex(c?.message ?? '', /^spec\.backupImage busybox:latest is not an image the cluster admin allows/);
  t.like(
    plan.find((a) => a.type === 'event'),
    { eventType: 'Warning', reason: 'ImageNotAllowed' },
  );
  // Recorded once, the next tick does nothing.
  const recorded = {
    ...policy,
    status: {
      observedGeneration: 1,
      conditions: [{ ...(c as NonNullable<typeof c>), lastTransitionTime: due.toISOString() }],
    },
  };
  t.deepEqual(
    decide({ kind: 'BackupPolicy', policy: recorded, backups: [] }, new Date('2025-03-20T01:01:10Z')),
    [],
  );
});

test('a serviceAccountName the admin did not allow is refused the same way', (t) => {
  const policy = databaseBackup('pg-nightly', { serviceAccountName: 'cluster-admin' });
  const plan = decide({ kind: 'DatabaseBackup', policy, backups: [] }, due);
  t.false(plan.some((a) => a.type === 'create'));
  t.like(status(plan)?.conditions?.[0], { status: 'False', reason: 'ServiceAccountNotAllowed' });
});

test('what the admin allows schedules as usual', (t) => {
  const allow = allowListFromEnv({
    CAIRN_ALLOWED_IMAGES: 'registry.example.com/cairn-agent:*',
    CAIRN_ALLOWED_SERVICE_ACCOUNTS: 'backup-sa',
  });
  const policy = databaseBackup('pg-nightly', {
    backupImage: 'registry.example.com/cairn-agent:0.1.0',
    serviceAccountName: 'backup-sa',
  });
  const plan = decide({ kind: 'DatabaseBackup', policy, backups: [] }, due, allow);
  t.true(plan.some((a) => a.type === 'create' && a.kind === 'Backup'));
  t.like(status(plan)?.conditions?.[0], { status: 'True', reason: 'Scheduled' });
});
