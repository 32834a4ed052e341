/**
 * The seed behaviours job-watcher owns: the policy's status as the seeds' users read it (seed 004's
 * Pending, seed 002's backupHistory jobName) and the run Events on the policy (seed 003).
 */
import test from 'ava';
import { formatAgentResult } from '../../../shared/agent-contract.ts';
import type { Backup, Restore } from '../../../shared/api/index.ts';
import { pingEvent } from '../../../shared/events.ts';
import { AGENT_CONTAINER } from '../../../shared/jobs.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, backupPolicy, databaseBackup } from '../../../test/builders.ts';
import { apiPutStatus } from '../../../test/fixtures/api.ts';
import { startFunction } from '../../../test/function-harness.ts';
import { decideEvent, decideTick } from '../decide.ts';
import type { PolicyState, RunState } from '../gather.ts';
import { plan } from '../handle.ts';
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

// ---------------------------------------------------------------------------------------------
// Seed 003: `kubectl describe backuppolicy` shows the run Events of its Backups.

const bpRef = { kind: 'BackupPolicy' as const, name: 'web-data' };
const START = '2025-03-20T02:00:01Z';
const jobOf = (status: Record<string, unknown>): KubeObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'web-data-1', namespace: 'default', creationTimestamp: START },
  spec: { activeDeadlineSeconds: 3600 },
  status: { startTime: START, ...status },
});
const podOf = (phase: string, message?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-data-1-x', namespace: 'default', creationTimestamp: START },
  status: {
    phase,
    ...(message
      ? { containerStatuses: [{ name: AGENT_CONTAINER, state: { terminated: { exitCode: 0, message } } }] }
      : {}),
  },
});
const result = formatAgentResult({
  ok: true,
  command: 'backup',
  location: 'pvc://backup-store/web/web-data/1.tar.zst',
  key: 'web/web-data/1.tar.zst',
  manifestKey: 'web/web-data/1.manifest.json',
  sizeBytes: 254,
  rawBytes: 1024,
  sha256: 'a'.repeat(64),
  compression: 'zstd',
  startTime: '2025-03-20T02:00:02Z',
  completionTime: '2025-03-20T02:00:08Z',
  durationMs: 6000,
});
const policyEvents = (p: Action[]) =>
  p.flatMap((a) =>
    a.type === 'event' && a.involved.kind === 'BackupPolicy'
      ? [`${a.eventType}:${a.reason}:${a.message}`]
      : [],
  );
function eventState(run: Backup, job: KubeObject, pods: KubeObject[]) {
  const policy = backupPolicy('web-data');
  const p: PolicyState = { kind: 'BackupPolicy', policy, backups: [run], restores: [] };
  const r: RunState = { kind: 'Backup', run, job, pods, jobDeleted: false };
  return { run: r, policy: p };
}

test("seed 003: a run's started, completed and failed Events are on its policy too, with the policy's uid (what kubectl describe selects)", (t) => {
  const pending = backup('web-data-1', bpRef, { phase: 'Pending', jobName: 'web-data-1' });
  const started = decideEvent(
    eventState(pending, jobOf({ active: 1 }), [podOf('Running')]),
    new Date(START),
  ).plan;
  t.deepEqual(policyEvents(started), ['Normal:BackupStarted:Backup execution started']);
  const onPolicy = started.find((a) => a.type === 'event' && a.involved.kind === 'BackupPolicy');
  t.like(onPolicy?.type === 'event' ? onPolicy.involved : {}, { name: 'web-data', uid: 'uid-web-data' });

  const running = backup('web-data-1', bpRef, { phase: 'Running', jobName: 'web-data-1' });
  const completed = decideEvent(
    eventState(running, jobOf({ conditions: [{ type: 'Complete', status: 'True' }] }), [
      podOf('Succeeded', result),
    ]),
    new Date('2025-03-20T02:00:10Z'),
  ).plan;
  t.is(policyEvents(completed).length, 1);
  t.regex(
    policyEvents(completed)[0] ?? '',
    /^Normal:BackupCompleted:Backup web-data-1 completed in 7s: 254 B to pvc:\/\/backup-store/,
  );

  const failed = decideEvent(
    eventState(
      running,
      jobOf({ conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] }),
      [podOf('Failed')],
    ),
    new Date('2025-03-20T02:00:10Z'),
  ).plan;
  t.regex(policyEvents(failed)[0] ?? '', /^Warning:BackupFailed:Backup web-data-1 failed: /);
});

test('seed 003: the tick that finishes a run (its events lost) says so on the policy as well', (t) => {
  const running = backup('web-data-1', bpRef, { phase: 'Running', jobName: 'web-data-1' });
  const s = eventState(running, jobOf({ conditions: [{ type: 'Complete', status: 'True' }] }), [
    podOf('Succeeded', result),
  ]);
  const parts = decideTick(
    { runs: [s.run], policies: [s.policy], backups: [running], restores: [] },
    new Date('2025-03-20T02:00:10Z'),
  );
  t.is(policyEvents(parts.flatMap((p) => p.plan)).length, 1);
});

// ---------------------------------------------------------------------------------------------
// Seed 003: a Restore that waits for its Backup is restore-runner's, not a run without a Job.

test('seed 003: the tick does not fail a Restore that waits for its Backup, however long it waits', async (t) => {
  const fn = await startFunction('job-watcher', plan, '2030-01-01T00:00:30Z');
  t.teardown(() => fn.stop());
  const { object } = await fn.kube.create<Restore>('Restore', {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'web-data-restore-1', namespace: 'default' },
    spec: { backupRef: { name: 'web-data-manual-1' }, target: { pvc: { claimName: 'data-restore' } } },
  });
  await t.notThrowsAsync(
    apiPutStatus(
      fn.api,
      '/apis/backup.cairn.dev/v1alpha1/namespaces/default/restores/web-data-restore-1',
      object,
      {
        phase: 'Pending',
        reason: 'WaitingForBackup',
        message: 'Backup web-data-manual-1 is Running',
      },
    ),
  );
  fn.clock.set('2030-01-01T01:00:30Z');
  await fn.post(pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: {} }));
  const r = await fn.kube.get<Restore>('Restore', 'default', 'web-data-restore-1');
  t.like(r?.status, { phase: 'Pending', reason: 'WaitingForBackup' });
});
