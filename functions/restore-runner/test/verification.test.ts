/** restore-runner turns a verification Restore into an agent `verify` Job that carries the checks. */
import test from 'ava';
import { parseAgentArgs } from '../../../shared/agent-contract.ts';
import type { Restore } from '../../../shared/api/index.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import { verificationRestore } from '../../../shared/verification.ts';
import { backup, backupPolicy, databaseBackup } from '../../../test/builders.ts';
import { decide } from '../decide.ts';

const now = new Date('2025-03-21T10:00:00Z');
const done = { phase: 'Completed' as const, manifestKey: 'm.manifest.json', sha256: 'b'.repeat(64) };
const checks = [{ name: 'rows', sql: 'select * from t', compare: 'rowCount >= 3' }];

function args(plan: ReturnType<typeof decide>): string[] {
  const job =
    plan.find((a) => a.type === 'create')?.type === 'create'
      ? (plan[0] as { object: KubeObject }).object
      : undefined;
  return job?.spec?.template.spec.containers[0].args ?? [];
}

test('a database verification runs `verify` into the scratch database with its checks on argv', (t) => {
  const policy = databaseBackup('pg-nightly', { verification: { everyNthBackup: 1, checks } });
  const b = backup('b1', { kind: 'DatabaseBackup', name: 'pg-nightly' }, done);
  const made = verificationRestore('DatabaseBackup', policy, b);
  if (!('restore' in made)) return t.fail();
  const plan = decide({ restore: made.restore, backup: b, policy, claims: {} }, now);
  const opts = parseAgentArgs(args(plan));
  t.like(opts, { command: 'verify', target: { kind: 'postgres', host: 'pg', database: 'app_cairn_verify' } });
  t.deepEqual(opts.command === 'verify' ? opts.checks : [], checks);
  const job = plan[0]?.type === 'create' ? plan[0].object : undefined;
  t.is(job?.metadata.labels?.['backup.cairn.dev/purpose'], 'verification');
});

test('a verification into the source database itself is refused', (t) => {
  const policy = databaseBackup('pg-nightly');
  const b = backup('b1', { kind: 'DatabaseBackup', name: 'pg-nightly' }, done);
  const restore: Restore = {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'v', namespace: 'default' },
    spec: {
      backupRef: { name: 'b1' },
      purpose: 'verification',
      target: { database: { host: 'pg', name: 'app' } },
    },
  };
  const plan = decide({ restore, backup: b, policy, claims: {} }, now);
  t.like(plan[0], { type: 'status', set: { phase: 'Failed', reason: 'RestoreRefused' } });
  t.regex(JSON.stringify(plan[0]), /backed-up database itself/);
});

test('a volume verification restores into its own folder of the scratch claim', (t) => {
  const policy = backupPolicy('volumes', {
    verification: {
      everyNthBackup: 1,
      target: { pvc: { claimName: 'scratch' } },
      checks: [{ name: 'f', file: 'web/index.html', minSizeBytes: 1 }],
    },
  });
  const b = backup('volumes-1', { kind: 'BackupPolicy', name: 'volumes' }, done);
  const made = verificationRestore('BackupPolicy', policy, b);
  if (!('restore' in made)) return t.fail();
  const plan = decide(
    {
      restore: made.restore,
      backup: b,
      policy,
      claims: { scratch: true, 'backup-store': true },
    },
    now,
  );
  t.like(parseAgentArgs(args(plan)), {
    command: 'verify',
    target: { kind: 'tar', directory: '/restore/cairn-verify/volumes-1-verify' },
  });
});
