import test from 'ava';
import { parseAgentArgs } from '../../../shared/agent-contract.ts';
import { allowListFromEnv } from '../../../shared/allowlist.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, backupPolicy, databaseBackup } from '../../../test/builders.ts';
import { decide, type LaunchState } from '../decide.ts';

const now = new Date('2025-03-20T01:00:05Z');
const dbRef = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };
const bpRef = { kind: 'BackupPolicy' as const, name: 'volumes' };

/** A scheduled Backup: labelled, owned and finalized as schedule-evaluator creates it. */
const scheduled = () =>
  backup(
    'pg-nightly-202503200100',
    dbRef,
    {},
    {
      labels: {
        ...backup('pg-nightly-202503200100', dbRef).metadata.labels,
        'backup.cairn.dev/database-type': 'postgres',
      },
      ownerReferences: [
        {
          apiVersion: 'backup.cairn.dev/v1alpha1',
          kind: 'DatabaseBackup',
          name: 'pg-nightly',
          uid: 'uid-pg-nightly',
          controller: true,
        },
      ],
      finalizers: ['backup.cairn.dev/artifact'],
    },
    { scheduledTime: '2025-03-20T01:00:00Z' },
  );

function state(over: Partial<LaunchState>): LaunchState {
  return {
    backup: scheduled(),
    policy: databaseBackup(),
    endpoints: [],
    claims: { 'backup-store': true },
    selectedClaims: [],
    ...over,
  };
}

const jobOf = (plan: Action[]) => {
  const c = plan.find((a) => a.type === 'create' && a.kind === 'Job');
  return c?.type === 'create' ? c.object : undefined;
};
// biome-ignore lint/suspicious/noExplicitAny: reaching into a Job's pod template in assertions.
const podOf = (job: KubeObject | undefined): any => job?.spec.template.spec;
const failure = (plan: Action[]) => {
  const s = plan.find((a) => a.type === 'status');
  return s?.type === 'status' ? s.set : undefined;
};

test('a DatabaseBackup run becomes an agent Job: args, secretKeyRef env, owner, labels', (t) => {
  const plan = decide(state({}), now);
  t.deepEqual(
    plan.map((a) => a.type),
    ['create', 'status', 'event'],
  );
  const job = jobOf(plan);
  t.is(job?.metadata.name, 'pg-nightly-202503200100');
  t.like(job?.metadata.ownerReferences?.[0], {
    kind: 'Backup',
    name: 'pg-nightly-202503200100',
    controller: true,
  });
  t.like(job?.metadata.labels, {
    'app.kubernetes.io/managed-by': 'cairn',
    'backup.cairn.dev/backup': 'pg-nightly-202503200100',
  });
  const pod = podOf(job);
  const opts = parseAgentArgs(pod.containers[0].args);
  t.like(opts, {
    command: 'backup',
    source: { kind: 'postgres', host: 'pg', port: 5432, user: 'backup', database: 'app', format: 'custom' },
    destination: { type: 's3', bucket: 'bkt', region: 'us-east-1' },
    policy: 'pg-nightly',
    scheduledTime: '2025-03-20T01:00:00Z',
    compression: 'zstd',
  });
  t.deepEqual(
    pod.containers[0].env.map((e: { name: string; valueFrom: unknown }) => [e.name, e.valueFrom]),
    [
      ['PGPASSWORD', { secretKeyRef: { name: 'pg', key: 'password' } }],
      ['AWS_ACCESS_KEY_ID', { secretKeyRef: { name: 's3', key: 'AWS_ACCESS_KEY_ID' } }],
      ['AWS_SECRET_ACCESS_KEY', { secretKeyRef: { name: 's3', key: 'AWS_SECRET_ACCESS_KEY' } }],
      [
        'CAIRN_CPU_REQUEST',
        { resourceFieldRef: { containerName: 'agent', resource: 'requests.cpu', divisor: '1' } },
      ],
    ],
  );
  t.like(failure(plan), { phase: 'Pending', jobName: 'pg-nightly-202503200100' });
});

test('the pod passes the restricted Pod Security profile', (t) => {
  const pod = podOf(jobOf(decide(state({}), now)));
  t.like(pod.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  t.true(pod.securityContext.runAsUser > 0);
  const c = pod.containers[0];
  t.like(c.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  });
  t.is(pod.restartPolicy, 'Never');
  t.false(pod.automountServiceAccountToken);
});

test('databaseSelector resolves to the matching Service and its port', (t) => {
  const policy = databaseBackup('pg-nightly', {
    database: { user: 'postgres' },
    databaseSelector: { matchLabels: { app: 'pg' } },
  });
  const plan = decide(
    state({ policy, endpoints: [{ host: 'postgres.default.svc', port: 6432, what: 'Service postgres' }] }),
    now,
  );
  t.like(parseAgentArgs(podOf(jobOf(plan)).containers[0].args), {
    source: {
      host: 'postgres.default.svc',
      port: 6432,
    },
  });
});

const refusals: [string, Partial<LaunchState>, string, RegExp][] = [
  [
    'a databaseSelector that matches nothing',
    {
      policy: databaseBackup('pg-nightly', {
        database: {},
        databaseSelector: { matchLabels: { app: 'pg', role: 'primary' } },
      }),
    },
    'SourceNotFound',
    /no Service or running Pod in namespace default matches databaseSelector app=pg,role=primary/,
  ],
  [
    'a backupImage the admin did not allow (seed 002’s busybox:latest)',
    {
      backup: backup('volumes-1', bpRef),
      policy: backupPolicy('volumes', { backupImage: 'busybox:latest' }),
      selectedClaims: ['data'],
    },
    'ImageNotAllowed',
    /^spec\.backupImage busybox:latest is not an image the cluster admin allows Cairn's Jobs to run/,
  ],
  [
    'a ServiceAccount the admin did not allow',
    { policy: databaseBackup('pg-nightly', { serviceAccountName: 'cluster-admin' }) },
    'ServiceAccountNotAllowed',
    /^spec\.serviceAccountName cluster-admin is not a ServiceAccount the cluster admin allows .* in namespace default/,
  ],
  [
    'a policy that is gone',
    { policy: undefined },
    'PolicyNotFound',
    /DatabaseBackup pg-nightly does not exist in namespace default/,
  ],
  [
    'a pvcSelector that matches nothing',
    { backup: backup('volumes-1', bpRef), policy: backupPolicy() },
    'VolumeNotFound',
    /no PersistentVolumeClaim in namespace default matches pvcSelector app=web/,
  ],
  [
    'a destination claim that does not exist',
    { backup: backup('volumes-1', bpRef), policy: backupPolicy(), selectedClaims: ['data'], claims: {} },
    'VolumeNotFound',
    /PersistentVolumeClaim backup-store \(spec\.storageDestination\.claimName\)/,
  ],
  [
    'the snapshot strategy with no claim selected',
    {
      backup: backup('volumes-1', bpRef),
      policy: backupPolicy('volumes', { backupStrategy: 'snapshot' }),
      selectedClaims: [],
    },
    'VolumeNotFound',
    /no PersistentVolumeClaim in namespace default matches pvcSelector app=web/,
  ],
];

for (const [title, over, reason, message] of refusals) {
  test(`refused with a reason and a Warning: ${title}`, (t) => {
    const plan = decide(state(over), now);
    t.is(jobOf(plan), undefined);
    t.like(failure(plan), { phase: 'Failed', reason });
    t.regex(String(failure(plan)?.message), message);
    const ev = plan.find((a) => a.type === 'event');
    t.like(ev, { eventType: 'Warning', reason: 'BackupFailed' });
  });
}

test('a BackupPolicy run mounts each selected PVC read-only and archives it with tar', (t) => {
  const plan = decide(
    state({
      backup: backup('volumes-1', bpRef),
      policy: backupPolicy(),
      selectedClaims: ['data-a', 'data-b'],
    }),
    now,
  );
  const pod = podOf(jobOf(plan));
  t.like(parseAgentArgs(pod.containers[0].args), {
    source: { kind: 'tar', paths: ['/sources/data-a', '/sources/data-b'] },
    destination: { type: 'pvc', root: '/backup' },
  });
  const sources = pod.volumes.filter(
    (v: { persistentVolumeClaim?: { readOnly?: boolean } }) => v.persistentVolumeClaim?.readOnly,
  );
  t.is(sources.length, 2);
  t.true(pod.containers[0].volumeMounts.filter((m: { readOnly?: boolean }) => m.readOnly).length >= 2);
});

test('GCS with a key Secret mounts the key; without one the pod uses its ServiceAccount (Workload Identity)', (t) => {
  const withKey = databaseBackup('pg-nightly', {
    storageDestination: { type: 'gcs', bucket: 'b', secretName: 'gcs' },
  });
  const pod1 = podOf(jobOf(decide(state({ policy: withKey }), now)));
  t.true(pod1.containers[0].env.some((e: { name: string }) => e.name === 'GOOGLE_APPLICATION_CREDENTIALS'));
  t.true(pod1.volumes.some((v: { secret?: { secretName: string } }) => v.secret?.secretName === 'gcs'));
  const wi = databaseBackup('pg-nightly', {
    storageDestination: { type: 'gcs', bucket: 'b' },
    serviceAccountName: 'backup-sa',
  });
  // Workload Identity needs a ServiceAccount of its own: the admin allows it.
  const pod2 = podOf(
    jobOf(
      decide(state({ policy: wi }), now, allowListFromEnv({ CAIRN_ALLOWED_SERVICE_ACCOUNTS: 'backup-sa' })),
    ),
  );
  t.is(pod2.serviceAccountName, 'backup-sa');
  t.true(pod2.automountServiceAccountToken);
  t.false(pod2.containers[0].env.some((e: { name: string }) => e.name === 'GOOGLE_APPLICATION_CREDENTIALS'));
});

test('no credential value ever appears in the Job, only references', (t) => {
  const text = JSON.stringify(jobOf(decide(state({}), now)));
  t.false(/"value":"[^"]*secret/i.test(text));
  t.false(text.includes('--password'));
});

test('a manual Backup gets its policy labels before its Job', (t) => {
  const manual = backup('by-hand', dbRef, {}, { labels: {} });
  const plan = decide(state({ backup: manual }), now);
  t.like(plan[0], {
    type: 'patch',
    patch: { metadata: { labels: { 'backup.cairn.dev/policy': 'pg-nightly' } } },
  });
  t.is(plan[1]?.type, 'create');
});

test('nothing to do for a Backup that has a Job, is finished, or is being deleted', (t) => {
  t.deepEqual(decide(state({ backup: backup('x', dbRef, { jobName: 'x', phase: 'Pending' }) }), now), []);
  t.deepEqual(decide(state({ backup: backup('x', dbRef, { phase: 'Completed' }) }), now), []);
  t.deepEqual(
    decide(state({ backup: backup('x', dbRef, {}, { deletionTimestamp: '2025-03-20T01:00:00Z' }) }), now),
    [],
  );
});

test('an allowed backupImage and ServiceAccount are used as given', (t) => {
  const allow = allowListFromEnv({
    CAIRN_ALLOWED_IMAGES: 'registry.example.com/cairn-agent:*',
    CAIRN_ALLOWED_SERVICE_ACCOUNTS: 'default/backup-sa',
  });
  const policy = databaseBackup('pg-nightly', {
    backupImage: 'registry.example.com/cairn-agent:0.1.0',
    serviceAccountName: 'backup-sa',
  });
  const pod = podOf(jobOf(decide(state({ policy }), now, allow)));
  t.is(pod.containers[0].image, 'registry.example.com/cairn-agent:0.1.0');
  t.is(pod.serviceAccountName, 'backup-sa');
});

test('a missing Secret no longer stops the Job: it is referenced, and the Pod reports it (the function reads no Secret)', (t) => {
  // What gather can know without any right to Secrets: nothing about them.
  const plan = decide({ ...state({}), secrets: {} } as LaunchState, now);
  const pod = podOf(jobOf(plan));
  t.truthy(pod, 'a Job is created');
  t.deepEqual(
    pod.containers[0].env.map(
      (e: { valueFrom?: { secretKeyRef?: { name: string } } }) => e.valueFrom?.secretKeyRef?.name,
    ),
    ['pg', 's3', 's3', undefined],
  );
  t.like(failure(plan), { phase: 'Pending' });
});
