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
