/**
 * Issue 14: the failure paths end to end on the local runtime (real PostgreSQL, s3rver, the agent,
 * the job runner, the Broker and the five functions over HTTP), with the default retries
 * (backoffLimit 2: three Pods per run):
 *
 * - a database that refuses connections;
 * - an agent killed (SIGKILL) in the middle of its upload;
 * - a Pod evicted by kubelet (the job runner's node-pressure eviction) in the middle of its upload;
 * - a Pod that never starts: the key its password comes from is not in the Secret
 *   (CreateContainerConfigError, as a missing Secret gives).
 *
 * Each ends in a Failed Backup with its reason on the Backup, on the policy (lastBackupStatus,
 * failureReason) and in a Warning Event — while a healthy policy in another namespace keeps its
 * schedule, minute after minute. Uploads of the broken policies go through a proxy in front of
 * s3rver that holds them, so the kill and the eviction land while the upload is open.
 */
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import test from 'ava';
import type { Backup, DatabaseBackup } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { startPostgres } from '../fixtures/postgres.ts';
import { type S3Server, startS3 } from '../fixtures/s3.ts';
import { postgresToS3, startE2E, waitFor } from './helpers.ts';

const PASSWORD = 'pg-e2e-failures-31d7';

/**
 * In front of s3rver: requests pass, except an upload into `hold/<policy>/…`, which is kept open
 * (never answered) while `onUpload(policy)` runs, then cut.
 */
async function holdingProxy(s3: S3Server, onUpload: (policy: string) => Promise<void>) {
  const target = new URL(s3.endpoint);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/[^/]+\/hold\/([^/]+)\//.exec(req.url ?? '');
    if (m && (req.method === 'PUT' || req.method === 'POST') && !req.url?.includes('.manifest.json')) {
      void onUpload(m[1] as string).finally(() => req.socket.destroy());
      return;
    }
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const secret = (namespace: string, name: string, stringData: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  stringData,
});

test('a refused connection, a killed agent, an evicted Pod and a missing Secret each end in a Failed Backup with the reason on the Backup, the policy and an Event; a healthy policy elsewhere keeps its schedule', async (t) => {
  const [pg, s3] = await Promise.all([startPostgres({ password: PASSWORD }), startS3({ buckets: ['e2e'] })]);
  const e2e = await startE2E('2030-03-01T00:00:30Z');
  const kube = e2e.runtime.kube;
  const jobs = e2e.runtime.jobs;
  if (!jobs) throw new Error('the local runtime runs no job runner');
  const stopped: string[] = [];
  const proxy = await holdingProxy(s3, async (policy) => {
    // The Pod of this policy that is uploading right now.
    const pods = await kube.list<KubeObject>('Pod', 'default', {
      labelSelector: `backup.cairn.dev/policy=${policy}`,
    });
    for (const p of pods.filter((x) => x.status?.phase === 'Running')) {
      if (policy === 'evicted') {
        if (await jobs.evict('default', p.metadata.name)) stopped.push(`evicted ${p.metadata.name}`);
      } else {
        const id = String(p.status?.containerStatuses?.[0]?.containerID ?? '');
        const pid = Number(id.replace('local://', ''));
        if (pid > 0) {
          process.kill(pid, 'SIGKILL');
          stopped.push(`killed ${p.metadata.name}`);
        }
      }
    }
  });
  t.teardown(async () => {
    await e2e.stop();
    await proxy.close();
    await Promise.all([pg.stop(), s3.stop()]);
  });
  await pg.createDatabase('app');
  await pg.psql('CREATE TABLE t (id int primary key); INSERT INTO t SELECT generate_series(1, 100);', 'app');

  const s3Keys = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  // Another tenant's namespace, made as a person would.
  await promisify(execFile)('kubectl', [
    '--kubeconfig',
    e2e.runtime.kubeconfig,
    'create',
    'namespace',
    'healthy',
  ]);
  for (const ns of ['default', 'healthy']) {
    await kube.create('Secret', secret(ns, 'pg', { password: PASSWORD }));
    await kube.create('Secret', secret(ns, 's3', s3Keys));
  }
  const every = { pg, s3, bucket: 'e2e', schedule: '* * * * *' };
  const broken: [string, DatabaseBackup][] = [
    // Nothing listens on port 1: pg_dump's connection is refused, on every retry.
    ['refused', postgresToS3('refused', { ...every, path: 'refused' })],
    ['killed', postgresToS3('killed', { ...every, path: 'hold' })],
    ['evicted', postgresToS3('evicted', { ...every, path: 'hold' })],
    ['no-secret', postgresToS3('no-secret', { ...every, path: 'nosecret' })],
  ];
  const [refused, killed, evicted, noSecret] = broken.map(([, p]) => p) as DatabaseBackup[];
  if (!refused?.spec.database || !killed || !evicted || !noSecret?.spec.database)
    throw new Error('unreachable');
  refused.spec.database.port = 1;
  for (const p of [killed, evicted])
    p.spec.storageDestination = { ...p.spec.storageDestination, endpoint: proxy.endpoint };
  noSecret.spec.database.passwordSecretRef = { name: 'pg', key: 'not-there' };
  for (const [, p] of broken) await kube.create('DatabaseBackup', p);
  const healthy = postgresToS3('steady', { ...every, path: 'steady' });
  healthy.metadata.namespace = 'healthy';
  await kube.create('DatabaseBackup', healthy);
  await waitFor('the schedules to be evaluated', async () => {
    const all = [
      ...(await kube.list<DatabaseBackup>('DatabaseBackup', 'default')),
      ...(await kube.list<DatabaseBackup>('DatabaseBackup', 'healthy')),
    ];
    return all.length === 5 && all.every((p) => p.status?.nextScheduledBackup);
  });

  const finished = (b: Backup | undefined) =>
    b?.status?.phase === 'Completed' || b?.status?.phase === 'Failed';
  /** Moves the clock to 30 s past the next minute, ticks, and waits for that minute's runs to end. */
  const minute = async () => {
    const at = (Math.floor(e2e.clock.now().getTime() / 60_000) + 1) * 60_000;
    e2e.clock.set(new Date(at + 30_000));
    await e2e.runtime.tick();
    const stamp = new Date(at).toISOString().slice(0, 16).replace(/[-T:]/g, '');
    return waitFor(
      `the runs of ${stamp} to end`,
      async () => {
        // The job runner's retry back-off runs on the runtime's clock: let it pass.
        e2e.clock.advance(250);
        const healthyRun = await kube.get<Backup>('Backup', 'healthy', `steady-${stamp}`);
        const runs = await Promise.all(
          ['refused', 'killed', 'evicted'].map((p) => kube.get<Backup>('Backup', 'default', `${p}-${stamp}`)),
        );
        return finished(healthyRun) && runs.every(finished) ? { healthyRun, runs } : undefined;
      },
      110_000,
    );
  };

  const first = await minute();
  t.is(first.healthyRun?.status?.phase, 'Completed', first.healthyRun?.status?.message);
  const [refusedRun, killedRun, evictedRun] = first.runs;
  t.like(refusedRun?.status, { phase: 'Failed', reason: 'SourceFailed' });
  t.regex(refusedRun?.status?.message ?? '', /backoff limit; SourceFailed: .*(refused|connect)/i);
  t.like(killedRun?.status, { phase: 'Failed', reason: 'BackoffLimitExceeded' });
  t.regex(killedRun?.status?.message ?? '', /exit 137/);
  t.truthy(killedRun?.status?.key, 'a killed run records where it may have written');
  t.like(evictedRun?.status, { phase: 'Failed', reason: 'Evicted' });
  t.regex(evictedRun?.status?.message ?? '', /The node was low on resource: memory/);
  t.is(
    stopped.filter((s) => s.startsWith('killed')).length,
    3,
    'each of the three attempts was killed mid-upload',
  );
  t.is(
    stopped.filter((s) => s.startsWith('evicted')).length,
    3,
    'each of the three attempts was evicted mid-upload',
  );
  const evictedPods = await kube.list<KubeObject>('Pod', 'default', {
    labelSelector: 'backup.cairn.dev/policy=evicted',
  });
  t.true(
    evictedPods.some(
      (p) =>
        p.status?.reason === 'Evicted' &&
        p.status?.conditions?.some(
          (c: { type: string; reason?: string }) =>
            c.type === 'DisruptionTarget' && c.reason === 'TerminationByKubelet',
        ),
    ),
    'the runner reports the eviction as kubelet does',
  );

  // The Pod whose Secret is missing never starts; after the grace period its run fails with kubelet's reason.
  const waitingRun = await waitFor('the no-secret run to wait in CreateContainerConfigError', async () => {
    const pods = await kube.list<KubeObject>('Pod', 'default', {
      labelSelector: 'backup.cairn.dev/policy=no-secret',
    });
    return pods.some(
      (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError',
    );
  });
  t.true(waitingRun);

  // Minutes later: the broken ones fail again, the healthy one completes again, and the grace for
  // the missing key has passed (the clock moves; kubelet's retries do not bring the key).
  e2e.clock.advance(5 * 60_000);
  const second = await minute();
  t.is(second.healthyRun?.status?.phase, 'Completed', 'the healthy policy keeps its schedule');
  t.true(second.runs.slice(0, 3).every((b) => b?.status?.phase === 'Failed'));
  const noSecretFirst = await waitFor('the first no-secret run to fail', async () => {
    const b = await kube.get<Backup>('Backup', 'default', 'no-secret-203003010001');
    return b?.status?.phase === 'Failed' ? b : undefined;
  });
  t.is(noSecretFirst.status?.reason, 'CreateContainerConfigError');
  t.regex(
    noSecretFirst.status?.message ?? '',
    /CreateContainerConfigError: couldn't find key not-there in Secret default\/pg/,
  );

  // On each policy and in an Event.
  for (const [name, reason] of [
    ['refused', /connection|refused/i],
    ['killed', /exit 137/],
    ['evicted', /low on resource/],
  ] as const) {
    const p = await waitFor(`${name}'s status to say Failed`, async () => {
      const x = await kube.get<DatabaseBackup>('DatabaseBackup', 'default', name);
      return x?.status?.lastBackupStatus === 'Failed' ? x : undefined;
    });
    t.regex(p.status?.failureReason ?? '', reason, `${name}: failureReason`);
  }
  // no-secret's newest run waits for its key again: its failed run is in the history.
  const noSecretPolicy = await waitFor("no-secret's history to show the failure", async () => {
    const x = await kube.get<DatabaseBackup>('DatabaseBackup', 'default', 'no-secret');
    const h = x?.status?.backupHistory?.find((e) => e.backup === 'no-secret-203003010001');
    return h?.status === 'Failed' ? h : undefined;
  });
  t.regex(noSecretPolicy.message ?? '', /not-there/);
  const events = await kube.list<KubeObject>('Event', 'default');
  for (const name of [
    'refused-203003010001',
    'killed-203003010001',
    'evicted-203003010001',
    'no-secret-203003010001',
  ])
    t.true(
      events.some(
        (e) => e.involvedObject?.name === name && e.reason === 'BackupFailed' && e.type === 'Warning',
      ),
      `a BackupFailed Event on ${name}`,
    );
  const steady = await kube.get<DatabaseBackup>('DatabaseBackup', 'healthy', 'steady');
  t.is(steady?.status?.lastBackupStatus, 'Succeeded');
});
