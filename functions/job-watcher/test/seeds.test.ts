/**
 * The seed behaviours job-watcher owns: the policy's status as the seeds' users read it (seed 004's
 * Pending, seed 002's backupHistory jobName) and the run Events on the policy (seed 003).
 */
import test from 'ava';
import type { KubeObject } from '../../../shared/kube.ts';
import { backup, databaseBackup } from '../../../test/builders.ts';
import { decidePolicy, policyStatus } from '../policy-status.ts';

const ref = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };

test('seed 004: a policy with no Backup yet derives lastBackupStatus Pending, so the tick does not erase the first evaluation', (t) => {
  t.is(policyStatus([]).lastBackupStatus, 'Pending');
  const evaluated = databaseBackup('pg-nightly', {}, { status: { lastBackupStatus: 'Pending' } });
  const plan = decidePolicy('DatabaseBackup', evaluated as KubeObject, []);
  const write = plan.find((a) => a.type === 'status');
  t.not(write?.type === 'status' ? write.set.lastBackupStatus : 'Pending', null);
  t.is(write?.type === 'status' ? write.set.lastBackupStatus : 'Pending', 'Pending');
  // A Backup that exists says what it is.
  t.is(
    policyStatus([backup('pg-nightly-1', ref, { phase: 'Running', jobName: 'x' })]).lastBackupStatus,
    'Running',
  );
});

test("seed 002: backupHistory entries say jobName, as the seed's BackupRecord does", (t) => {
  const h = policyStatus([backup('pg-nightly-1', ref, { phase: 'Completed', jobName: 'pg-nightly-1' })])
    .backupHistory as Record<string, unknown>[];
  t.is(h[0]?.jobName, 'pg-nightly-1');
  t.false('job' in (h[0] ?? {}), 'the old name is not written any more');
});

test('seed 002: a history an older Cairn wrote with job is rewritten with jobName on the next derivation', (t) => {
  const backups = [backup('pg-nightly-1', ref, { phase: 'Completed', jobName: 'pg-nightly-1' })];
  const old = databaseBackup(
    'pg-nightly',
    {},
    {
      status: {
        ...(policyStatus(backups) as object),
        backupHistory: [{ backup: 'pg-nightly-1', job: 'pg-nightly-1', status: 'Succeeded' }],
      },
    },
  );
  const write = decidePolicy('DatabaseBackup', old as KubeObject, backups).find((a) => a.type === 'status');
  const history = write?.type === 'status' ? (write.set.backupHistory as Record<string, unknown>[]) : [];
  t.deepEqual(history, [{ backup: 'pg-nightly-1', jobName: 'pg-nightly-1', status: 'Succeeded' }]);
});
