import test from 'ava';
import { parseAgentArgs } from '../../../shared/agent-contract.ts';
import type { Restore } from '../../../shared/api/index.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, backupPolicy, databaseBackup } from '../../../test/builders.ts';
import { decide, type RestoreState } from '../decide.ts';

const now = new Date('2025-03-21T10:00:00Z');
const done = {
  phase: 'Completed' as const,
  manifestKey: 'web/volumes/20250320T010000Z.manifest.json',
  sha256: 'b'.repeat(64),
};

function restore(spec: Partial<Restore['spec']> = {}): Restore {
  return {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'r1', namespace: 'default', uid: 'uid-r1' },
    spec: { backupRef: { name: 'volumes-1' }, target: { pvc: { claimName: 'data-restore' } }, ...spec },
  };
}
function state(over: Partial<RestoreState> = {}): RestoreState {
  return {
    restore: restore(),
    backup: backup('volumes-1', { kind: 'BackupPolicy', name: 'volumes' }, done),
    policy: backupPolicy(),
    claims: { 'data-restore': true, 'backup-store': true },
    ...over,
  };
}
const statusOf = (plan: Action[]) => {
  const s = plan.find((a) => a.type === 'status');
  return s?.type === 'status' ? s.set : undefined;
};
// biome-ignore lint/suspicious/noExplicitAny: reaching into the Job in assertions.
const podOf = (plan: Action[]): any => {
  const c = plan.find((a) => a.type === 'create');
  return c?.type === 'create' ? c.object.spec.template.spec : undefined;
};

test('a Restore of a Completed volume Backup gets a restore Job into the target PVC', (t) => {
  const plan = decide(state(), now);
  t.deepEqual(
    plan.map((a) => a.type),
    ['create', 'status', 'event'],
  );
  const pod = podOf(plan);
  t.like(parseAgentArgs(pod.containers[0].args), {
    command: 'restore',
    manifestKey: done.manifestKey,
    target: { kind: 'tar', directory: '/restore' },
    destination: { type: 'pvc', root: '/backup' },
  });
  t.false(
    parseAgentArgs(pod.containers[0].args).command === 'restore' &&
      'overwrite' in parseAgentArgs(pod.containers[0].args),
  );
  t.like(statusOf(plan), { phase: 'Pending', jobName: 'r1-restore' });
});

test('overwrite and clean are passed to the agent, which checks the target is empty otherwise', (t) => {
  const pod = podOf(decide(state({ restore: restore({ overwrite: true, clean: true }) }), now));
  t.like(parseAgentArgs(pod.containers[0].args), { overwrite: true, clean: true });
});

test('a database Restore targets the database with the password as a secretKeyRef', (t) => {
  const st = state({
    restore: restore({
      backupRef: { name: 'pg-1' },
      target: {
        database: {
          host: 'pg2',
          name: 'restored',
          user: 'admin',
          passwordSecretRef: { name: 'pg2', key: 'pw' },
        },
      },
    }),
    backup: backup('pg-1', { kind: 'DatabaseBackup', name: 'pg-nightly' }, done),
    policy: databaseBackup(),
  });
  const pod = podOf(decide(st, now));
  t.like(parseAgentArgs(pod.containers[0].args), {
    target: { kind: 'postgres', host: 'pg2', port: 5432, user: 'admin', database: 'restored' },
  });
  t.true(
    pod.containers[0].env.some(
      (e: { name: string; valueFrom?: unknown }) => e.name === 'PGPASSWORD' && e.valueFrom,
    ),
  );
});

const refusals: [string, Partial<RestoreState>, RegExp][] = [
  [
    'the Backup does not exist',
    { backup: undefined },
    /Backup volumes-1 does not exist in namespace default/,
  ],
  // A Backup still running is waited for (seed 003, test/seeds.test.ts), not refused.
  [
    'the Backup failed',
    { backup: backup('volumes-1', { kind: 'BackupPolicy', name: 'volumes' }, { phase: 'Failed' }) },
    /Backup volumes-1 failed/,
  ],
  [
    'the target PVC does not exist',
    { claims: { 'backup-store': true } },
    /PersistentVolumeClaim data-restore \(spec\.target\.pvc\.claimName\) does not exist/,
  ],
  [
    'the policy is gone and the Backup records no destination',
    { policy: undefined },
    /BackupPolicy volumes does not exist in namespace default and Backup volumes-1 records no status\.destination/,
  ],
  [
    'the Restore asks for an image the admin did not allow',
    { restore: restore({ backupImage: 'busybox:latest' }) },
    /^spec\.backupImage busybox:latest is not an image the cluster admin allows/,
  ],
  [
    'the ServiceAccount its policy names is not allowed',
    { policy: backupPolicy('volumes', { serviceAccountName: 'cluster-admin' }) },
    /^BackupPolicy volumes spec\.serviceAccountName cluster-admin is not a ServiceAccount/,
  ],
  [
    'a volume backup into a database',
    { restore: restore({ target: { database: { host: 'h', name: 'n' } } }) },
    /volume backup can only be restored into a pvc/,
  ],
];

for (const [title, over, message] of refusals) {
  test(`refused with RestoreRefused when ${title}`, (t) => {
    const plan = decide(state(over), now);
    t.false(plan.some((a) => a.type === 'create'));
    t.like(statusOf(plan), { phase: 'Failed', reason: 'RestoreRefused' });
    t.regex(String(statusOf(plan)?.message), message);
    t.true(plan.some((a) => a.type === 'event' && a.eventType === 'Warning'));
  });
}

test('a Restore already started or finished is left alone', (t) => {
  t.deepEqual(
    decide(state({ restore: { ...restore(), status: { phase: 'Pending', jobName: 'r1-restore' } } }), now),
    [],
  );
  t.deepEqual(decide(state({ restore: { ...restore(), status: { phase: 'Failed' } } }), now), []);
});

test('a missing Secret no longer refuses a Restore: the Job references it, and the Pod reports it', (t) => {
  const st = {
    ...state({
      restore: restore({
        backupRef: { name: 'pg-1' },
        target: {
          database: { host: 'pg2', name: 'restored', passwordSecretRef: { name: 'gone', key: 'pw' } },
        },
      }),
      backup: backup('pg-1', { kind: 'DatabaseBackup', name: 'pg-nightly' }, done),
      policy: databaseBackup(),
    }),
    // What gather could know with a right to Secrets; restore-runner has none.
    secrets: {},
  } as RestoreState;
  const pod = podOf(decide(st, now));
  t.truthy(pod, 'a Job is created');
  t.true(
    pod.containers[0].env.some(
      (e: { valueFrom?: { secretKeyRef?: { name: string } } }) => e.valueFrom?.secretKeyRef?.name === 'gone',
    ),
  );
});
