/**
 * Issue 14, item 1: a failing backup says so. A Job retried per backoffLimit has several Pods;
 * @kubernetes/client-node hands their times back as Dates. The run must end Failed with the
 * agent's reason — on the Backup, on the policy (lastBackupStatus, failureReason) and in an Event —
 * through the real runtime over HTTP against the API emulator.
 */
import test from 'ava';
import { formatAgentResult } from '../../../shared/agent-contract.ts';
import type { Backup, DatabaseBackup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, resourceEvent } from '../../../shared/events.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import { backup, databaseBackup } from '../../../test/builders.ts';
import { apiPost, apiPutStatus } from '../../../test/fixtures/api.ts';
import { type Harness, startFunction } from '../../../test/function-harness.ts';
import { plan } from '../handle.ts';

const refused = formatAgentResult({
  ok: false,
  command: 'backup',
  reason: 'SourceFailed',
  message: 'pg_dump: error: connection to server at "127.0.0.1", port 1 failed: Connection refused',
  exitCode: 3,
});

/** A policy, its Running Backup and a Job that ran `attempts` Pods, each failing as the agent reports. */
async function failedRun(fn: Harness, attempts: number): Promise<KubeObject> {
  const policy = databaseBackup('pg-nightly');
  await fn.kube.create('DatabaseBackup', {
    ...policy,
    metadata: { name: 'pg-nightly', namespace: 'default' },
  });
  const b = backup('pg-nightly-1', { kind: 'DatabaseBackup', name: 'pg-nightly' }, undefined);
  const { object: created } = await fn.kube.create('Backup', {
    ...b,
    metadata: { name: b.metadata.name, namespace: 'default', labels: b.metadata.labels ?? {} },
  });
  await apiPutStatus(
    fn.api,
    '/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/pg-nightly-1',
    created,
    {
      phase: 'Running',
      jobName: 'pg-nightly-1',
    },
  );
  const labels = { ...b.metadata.labels, 'job-name': 'pg-nightly-1' };
  const job = await apiPost(fn.api, '/apis/batch/v1/namespaces/default/jobs', {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'pg-nightly-1', namespace: 'default', labels },
    spec: {
      backoffLimit: attempts - 1,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'agent', image: 'cairn-agent' }] } },
    },
  });
  for (let i = 0; i < attempts; i++) {
    // Each retry is a new Pod, created after the previous one failed.
    fn.clock.advance(10_000);
    const pod = await apiPost(fn.api, '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pg-nightly-1-${'abcde'[i]}xyz`, namespace: 'default', labels },
      spec: { containers: [{ name: 'agent', image: 'cairn-agent' }] },
    });
    await apiPutStatus(fn.api, `/api/v1/namespaces/default/pods/${pod.metadata.name}`, pod, {
      phase: 'Failed',
      containerStatuses: [
        { name: 'agent', state: { terminated: { exitCode: 3, reason: 'Error', message: refused } } },
      ],
    });
  }
  const condition = {
    status: 'True',
    reason: 'BackoffLimitExceeded',
    message: 'Job has reached the specified backoff limit',
  };
  return apiPutStatus(fn.api, '/apis/batch/v1/namespaces/default/jobs/pg-nightly-1', job, {
    startTime: '2030-01-01T00:00:01Z',
    failed: attempts,
    conditions: [
      { type: 'FailureTarget', ...condition },
      { type: 'Failed', ...condition },
    ],
  });
}

test('a Job that failed after retries (three Pods) fails its Backup with the agent reason, on the Backup, the policy and in an Event', async (t) => {
  const fn = await startFunction('job-watcher', plan);
  t.teardown(() => fn.stop());
  const job = await failedRun(fn, 3);
  const res = await fn.post(
    resourceEvent('update', job as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.is(res.status, 200, res.body);
  t.is(res.headers.get('ce-type'), 'dev.cairn.backup.failed');
  const after = await fn.kube.get<Backup>('Backup', 'default', 'pg-nightly-1');
  t.is(after?.status?.phase, 'Failed');
  t.is(after?.status?.reason, 'SourceFailed');
  t.regex(after?.status?.message ?? '', /backoff limit; SourceFailed: pg_dump: error: .*Connection refused/);
  const p = await fn.kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-nightly');
  t.is(p?.status?.lastBackupStatus, 'Failed');
  t.regex(p?.status?.failureReason ?? '', /Connection refused/);
  t.is(p?.status?.activeBackupJob, undefined);
  const events = await fn.kube.list<KubeObject>('Event', 'default');
  const failed = events.find((e) => e.reason === 'BackupFailed' && e.involvedObject?.name === 'pg-nightly-1');
  t.is(failed?.type, 'Warning');
  t.regex(String(failed?.message), /Connection refused/);
});
