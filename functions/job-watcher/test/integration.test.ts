import test from 'ava';
import { formatAgentResult } from '../../../shared/agent-contract.ts';
import type { Backup, DatabaseBackup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, resourceEvent } from '../../../shared/events.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import { backup, databaseBackup } from '../../../test/builders.ts';
import { apiFetch, apiPutStatus } from '../../../test/fixtures/api.ts';
import { startFunction } from '../../../test/function-harness.ts';
import { plan } from '../handle.ts';

const sha = 'c'.repeat(64);

test('a completed Job event over HTTP completes the Backup, derives the policy status and replies backup.completed', async (t) => {
  const fn = await startFunction('job-watcher', plan);
  t.teardown(() => fn.stop());
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
    { phase: 'Running', jobName: 'pg-nightly-1' },
  );
  const labels = { ...b.metadata.labels, 'job-name': 'pg-nightly-1' };
  const { object: job } = await fn.kube.create<KubeObject>('Job', {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'pg-nightly-1', namespace: 'default', labels },
    spec: {
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'agent', image: 'cairn-agent' }] } },
    },
  });
  // Functions never create Pods, so the access layer cannot: post it as the Job controller would.
  const podRes = await apiFetch(fn.api, '/api/v1/namespaces/default/pods', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'pg-nightly-1-abcde', namespace: 'default', labels },
      spec: { containers: [{ name: 'agent', image: 'cairn-agent' }] },
    }),
  });
  const pod = (await podRes.json()) as KubeObject;
  const message = formatAgentResult({
    ok: true,
    command: 'backup',
    location: 's3://b/k.dump.zst',
    key: 'k.dump.zst',
    manifestKey: 'k.manifest.json',
    sizeBytes: 10,
    rawBytes: 40,
    sha256: sha,
    compression: 'zstd',
    startTime: '2030-01-01T00:00:01Z',
    completionTime: '2030-01-01T00:00:05Z',
    durationMs: 4000,
  });
  await apiPutStatus(fn.api, '/api/v1/namespaces/default/pods/pg-nightly-1-abcde', pod, {
    phase: 'Succeeded',
    containerStatuses: [
      { name: 'agent', state: { terminated: { exitCode: 0, reason: 'Completed', message } } },
    ],
  });
  const done = await apiPutStatus(fn.api, '/apis/batch/v1/namespaces/default/jobs/pg-nightly-1', job, {
    startTime: '2030-01-01T00:00:01Z',
    completionTime: '2030-01-01T00:00:06Z',
    succeeded: 1,
    conditions: [{ type: 'Complete', status: 'True' }],
  });
  const res = await fn.post(
    resourceEvent('update', done as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.is(res.status, 200);
  t.is(res.headers.get('ce-type'), 'dev.cairn.backup.completed');
  t.is(res.headers.get('ce-source'), 'cairn/job-watcher');
  const after = await fn.kube.get<Backup>('Backup', 'default', 'pg-nightly-1');
  t.like(after?.status, { phase: 'Completed', sha256: sha, sizeBytes: 10, location: 's3://b/k.dump.zst' });
  const p = await fn.kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'pg-nightly');
  t.like(p?.status, { lastBackupStatus: 'Succeeded', lastSuccessfulBackup: 'pg-nightly-1' });
  // Times are written as metav1.Time renders them (whole seconds, Z), in Events too.
  t.is(after?.status?.startTime, '2030-01-01T00:00:01Z');
  t.is(after?.status?.completionTime, '2030-01-01T00:00:05Z');
  // As stored (client-node would hand back Dates): the raw JSON the API server serves.
  const raw = (await (await apiFetch(fn.api, '/api/v1/namespaces/default/events')).json()) as {
    items: KubeObject[];
  };
  t.true(raw.items.some((e) => e.reason === 'BackupCompleted'));
  for (const e of raw.items) {
    t.regex(String(e.firstTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    t.regex(String(e.lastTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }

  // The same news again — the Pod's event, or a redelivery after the answer was lost before the
  // Backup's status was seen — replies the same fact with the same id, so consumers can drop it.
  const id = res.headers.get('ce-id');
  t.regex(String(id), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  await apiPutStatus(
    fn.api,
    '/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/pg-nightly-1',
    after as KubeObject,
    { phase: 'Running', jobName: 'pg-nightly-1' },
  );
  const again = await fn.post(
    resourceEvent('update', pod as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.is(again.headers.get('ce-type'), 'dev.cairn.backup.completed');
  t.is(again.headers.get('ce-id'), id);
});
