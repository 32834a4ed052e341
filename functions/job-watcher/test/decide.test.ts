import test from 'ava';
import { formatAgentResult } from '../../../shared/agent-contract.ts';
import { AGENT_CONTAINER } from '../../../shared/jobs.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup } from '../../../test/builders.ts';
import { decideRun } from '../outcome.ts';
import { decidePolicy, HISTORY_LIMIT, policyStatus } from '../policy-status.ts';

const ref = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };
const now = new Date('2025-03-20T01:02:00Z');
const sha = 'a'.repeat(64);

function job(
  status: Record<string, unknown>,
  spec: Record<string, unknown> = { activeDeadlineSeconds: 3600 },
): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'b1', namespace: 'default', creationTimestamp: '2025-03-20T01:00:01Z' },
    spec,
    status,
  };
}
function pod(phase: string, terminated?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'b1-x', namespace: 'default' },
    status: {
      phase,
      ...(terminated ? { containerStatuses: [{ name: AGENT_CONTAINER, state: { terminated } }] } : {}),
    },
  };
}
const okMessage = formatAgentResult({
  ok: true,
  command: 'backup',
  location: 's3://bkt/pg/20250320T010000Z.dump.zst',
  key: 'pg/20250320T010000Z.dump.zst',
  manifestKey: 'pg/20250320T010000Z.manifest.json',
  sizeBytes: 2048,
  rawBytes: 8192,
  sha256: sha,
  compression: 'zstd',
  startTime: '2025-03-20T01:00:02Z',
  completionTime: '2025-03-20T01:00:08Z',
  durationMs: 6000,
});
const pending = () => backup('b1', ref, { phase: 'Pending', jobName: 'b1' });
const statusOf = (plan: Action[]) => {
  const s = plan.find((a) => a.type === 'status');
  return s?.type === 'status' ? s.set : undefined;
};
const events = (plan: Action[]) =>
  plan.flatMap((a) => (a.type === 'event' ? [`${a.eventType}:${a.reason}`] : []));

test('an active Job moves the Backup to Running with its start time, once', (t) => {
  const state = { job: job({ active: 1, startTime: '2025-03-20T01:00:02Z' }), pods: [pod('Running')] };
  const d = decideRun('Backup', pending(), state, now, false);
  t.like(statusOf(d.plan), { phase: 'Running', startTime: '2025-03-20T01:00:02Z' });
  t.deepEqual(events(d.plan), ['Normal:BackupStarted']);
  t.is(d.reply, undefined);
  // The same state delivered again changes nothing.
  const again = decideRun(
    'Backup',
    backup('b1', ref, { phase: 'Running', jobName: 'b1' }),
    state,
    now,
    false,
  );
  t.deepEqual(again.plan, []);
});

test('a complete Job with the agent result makes the Backup Completed with location, size and sha256', (t) => {
  const state = {
    job: job({ startTime: '2025-03-20T01:00:02Z', conditions: [{ type: 'Complete', status: 'True' }] }),
    pods: [pod('Succeeded', { exitCode: 0, reason: 'Completed', message: okMessage })],
  };
  const d = decideRun('Backup', pending(), state, now, false);
  t.like(statusOf(d.plan), {
    phase: 'Completed',
    location: 's3://bkt/pg/20250320T010000Z.dump.zst',
    manifestKey: 'pg/20250320T010000Z.manifest.json',
    sizeBytes: 2048,
    sha256: sha,
    completionTime: '2025-03-20T01:00:08Z',
    durationSeconds: 6,
  });
  t.deepEqual(events(d.plan), ['Normal:BackupCompleted']);
  t.is(d.reply?.type, 'dev.cairn.backup.completed');
  t.like(d.reply?.data, { name: 'b1', sha256: sha });
});

test('a completed Backup says its size and duration as kubectl users read them (binary units, kubectl’s durations), beside the numbers', (t) => {
  const long = formatAgentResult({
    ok: true,
    command: 'backup',
    location: 's3://bkt/pg/x.dump.zst',
    key: 'pg/x.dump.zst',
    manifestKey: 'pg/x.manifest.json',
    sizeBytes: 269_790_003,
    rawBytes: 1_000_000_000,
    sha256: sha,
    compression: 'zstd',
    startTime: '2025-03-20T01:00:02Z',
    completionTime: '2025-03-20T01:03:12.600Z',
    durationMs: 190_600,
  });
  const state = {
    job: job({ startTime: '2025-03-20T01:00:02Z', conditions: [{ type: 'Complete', status: 'True' }] }),
    pods: [pod('Succeeded', { exitCode: 0, reason: 'Completed', message: long })],
  };
  const d = decideRun('Backup', pending(), state, new Date('2025-03-20T01:04:00Z'), false);
  t.like(statusOf(d.plan), {
    sizeBytes: 269_790_003,
    size: '257 MiB',
    durationSeconds: 190.6,
    duration: '3m10s',
  });
  const short = decideRun(
    'Backup',
    pending(),
    {
      job: job({ startTime: '2025-03-20T01:00:02Z', conditions: [{ type: 'Complete', status: 'True' }] }),
      pods: [pod('Succeeded', { exitCode: 0, reason: 'Completed', message: okMessage })],
    },
    now,
    false,
  );
  t.like(statusOf(short.plan), { sizeBytes: 2048, size: '2.0 KiB', durationSeconds: 6, duration: '6s' });
});

test('a complete Job whose Succeeded pod is not visible yet waits for the pod, then fails without a result', (t) => {
  const complete = job({
    completionTime: '2025-03-20T01:01:50Z',
    conditions: [{ type: 'Complete', status: 'True' }],
  });
  const early = decideRun('Backup', pending(), { job: complete, pods: [pod('Running')] }, now, false);
  t.not(statusOf(early.plan)?.phase, 'Failed');
  const late = decideRun(
    'Backup',
    pending(),
    { job: complete, pods: [pod('Running')] },
    new Date('2025-03-20T01:10:00Z'),
    false,
  );
  t.like(statusOf(late.plan), { phase: 'Failed', reason: 'NoResult' });
});

test('a complete Job without a readable result is a failure, never a Completed backup', (t) => {
  const state = {
    job: job({ conditions: [{ type: 'Complete', status: 'True' }] }),
    pods: [pod('Succeeded', { exitCode: 0, message: 'oops' })],
  };
  const d = decideRun('Backup', pending(), state, now, false);
  t.like(statusOf(d.plan), { phase: 'Failed', reason: 'NoResult' });
});

test('a failed Job fails the Backup with the agent reason and message', (t) => {
  const failure = formatAgentResult({
    ok: false,
    command: 'backup',
    reason: 'SourceFailed',
    message: 'pg_dump exited 1: connection refused; check spec.database.host',
    exitCode: 3,
  });
  const state = {
    job: job({
      conditions: [
        {
          type: 'Failed',
          status: 'True',
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
        },
      ],
    }),
    pods: [pod('Failed', { exitCode: 3, reason: 'Error', message: failure })],
  };
  const d = decideRun('Backup', pending(), state, now, false);
  t.like(statusOf(d.plan), { phase: 'Failed', reason: 'SourceFailed' });
  t.regex(
    String(statusOf(d.plan)?.message),
    /backoff limit; SourceFailed: pg_dump exited 1: connection refused/,
  );
  t.deepEqual(events(d.plan), ['Warning:BackupFailed']);
  t.is(d.reply?.type, 'dev.cairn.backup.failed');
});

test('a Job deleted from under a running Backup fails it with JobDeleted', (t) => {
  const d = decideRun(
    'Backup',
    backup('b1', ref, { phase: 'Running', jobName: 'b1' }),
    { job: undefined, pods: [] },
    now,
    true,
  );
  t.like(statusOf(d.plan), { phase: 'Failed', reason: 'JobDeleted' });
});

test('a Backup stuck Running past its Job deadline is failed', (t) => {
  const state = {
    job: job({ active: 1, startTime: '2025-03-20T00:00:00Z' }, { activeDeadlineSeconds: 600 }),
    pods: [pod('Running')],
  };
  const d = decideRun('Backup', backup('b1', ref, { phase: 'Running', jobName: 'b1' }), state, now, false);
  t.like(statusOf(d.plan), { phase: 'Failed', reason: 'DeadlineExceeded' });
});

test('a Backup that never got a Job is failed after the grace period, not before', (t) => {
  const fresh = backup('b1', ref, {}, { creationTimestamp: '2025-03-20T01:00:00Z' });
  t.deepEqual(decideRun('Backup', fresh, { job: undefined, pods: [] }, now, false).plan, []);
  const d = decideRun('Backup', fresh, { job: undefined, pods: [] }, new Date('2025-03-20T01:30:00Z'), false);
  t.like(statusOf(d.plan), { phase: 'Failed', reason: 'NoJob' });
});

test('a finished Backup is never changed again by late Job events', (t) => {
  const done = backup('b1', ref, { phase: 'Completed', jobName: 'b1', sha256: sha });
  t.deepEqual(decideRun('Backup', done, { job: job({ active: 1 }), pods: [] }, now, false).plan, []);
  t.deepEqual(decideRun('Backup', done, { job: undefined, pods: [] }, now, true).plan, []);
});

test('a Restore completes with RestoreCompleted and the restore reply', (t) => {
  const restore = {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore' as const,
    metadata: { name: 'r1', namespace: 'default' },
    spec: { backupRef: { name: 'b1' }, target: { pvc: { claimName: 'x' } } },
    status: { phase: 'Running' as const, jobName: 'r1-restore' },
  };
  const state = {
    job: job({ conditions: [{ type: 'Complete', status: 'True' }] }),
    pods: [
      pod('Succeeded', {
        exitCode: 0,
        message: okMessage.replace('"command":"backup"', '"command":"restore"'),
      }),
    ],
  };
  const d = decideRun('Restore', restore, state, now, false);
  t.like(statusOf(d.plan), { phase: 'Completed', restoredBytes: 8192, sha256: sha });
  t.deepEqual(events(d.plan), ['Normal:RestoreCompleted']);
  t.is(d.reply?.type, 'dev.cairn.restore.completed');
});

test('the policy status is derived from its Backups with the seed fields', (t) => {
  const backups = [
    backup(
      'p-1',
      ref,
      { phase: 'Completed', completionTime: '2025-03-18T01:00:09Z', sizeBytes: 10, durationSeconds: 8 },
      {},
      { scheduledTime: '2025-03-18T01:00:00Z' },
    ),
    backup(
      'p-2',
      ref,
      { phase: 'Failed', message: 'pg_dump failed', jobName: 'p-2' },
      {},
      { scheduledTime: '2025-03-19T01:00:00Z' },
    ),
    backup('p-3', ref, { phase: 'Running', jobName: 'p-3' }, {}, { scheduledTime: '2025-03-20T01:00:00Z' }),
  ];
  t.like(policyStatus(backups), {
    lastBackup: 'p-3',
    lastBackupStatus: 'Running',
    activeBackupJob: 'p-3',
    lastSuccessfulBackup: 'p-1',
    lastSuccessfulTime: '2025-03-18T01:00:09Z',
    lastSizeBytes: 10,
    failureReason: null,
  });
  const withoutRunning = policyStatus(backups.slice(0, 2));
  t.like(withoutRunning, {
    lastBackupStatus: 'Failed',
    failureReason: 'pg_dump failed',
    activeBackupJob: null,
  });
  t.deepEqual(
    (withoutRunning.backupHistory as { backup: string; status: string }[]).map(
      (h) => `${h.backup}:${h.status}`,
    ),
    ['p-2:Failed', 'p-1:Succeeded'],
  );
});

test('backupHistory keeps the newest ten', (t) => {
  const many = Array.from({ length: 14 }, (_, i) =>
    backup(
      `p-${String(i).padStart(2, '0')}`,
      ref,
      { phase: 'Completed' },
      {},
      { scheduledTime: `2025-03-${String(i + 1).padStart(2, '0')}T01:00:00Z` },
    ),
  );
  const h = policyStatus(many).backupHistory as { backup: string }[];
  t.is(h.length, HISTORY_LIMIT);
  t.is(h[0]?.backup, 'p-13');
});

test('an unchanged derived status writes nothing', (t) => {
  const backups = [backup('p-1', ref, { phase: 'Completed', completionTime: '2025-03-18T01:00:09Z' })];
  const policy = {
    apiVersion: 'x',
    kind: 'DatabaseBackup',
    metadata: { name: 'pg-nightly', namespace: 'default' },
    status: {},
  } as KubeObject;
  const first = decidePolicy('DatabaseBackup', policy, backups);
  t.is(first.length, 1);
  const written = first[0]?.type === 'status' ? first[0].set : {};
  const stored = Object.fromEntries(Object.entries(written).filter(([, v]) => v !== null));
  t.deepEqual(decidePolicy('DatabaseBackup', { ...policy, status: stored }, backups), []);
});
