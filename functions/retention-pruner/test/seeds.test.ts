/**
 * The seed behaviours retention owns: seed 002's retentionCount default of 7, which the API server
 * fills in (so `kubectl get -o yaml` shows it), beside seed 003's retention.keepLast, which wins.
 * Applied with the real kubectl to the API emulator serving Cairn's CRDs.
 */
import test from 'ava';
import { parse } from 'yaml';
import { installCrds } from '../../../local/runtime.ts';
import type { Backup, BackupPolicy } from '../../../shared/api/index.ts';
import { backup, backupPolicy } from '../../../test/builders.ts';
import { type Emulator, startEmulator } from '../../../test/local/apiserver-helpers.ts';
import { decide } from '../decide.ts';
import { applyRetention, rulesOf } from '../retention.ts';

const ref = { kind: 'BackupPolicy' as const, name: 'test-backup' };
const now = new Date('2025-03-31T12:00:00Z');
/** Nine completed runs, one a day. */
const nine = Array.from({ length: 9 }, (_, i) =>
  backup(
    `test-backup-${i + 1}`,
    ref,
    { phase: 'Completed' },
    {},
    { scheduledTime: `2025-03-2${i + 1}T01:00:00Z` },
  ),
);
const names = (bs: Backup[]) => bs.map((b) => b.metadata.name).sort();

async function emulator(): Promise<Emulator> {
  const emu = await startEmulator();
  await installCrds(emu.kubeconfig);
  return emu;
}

async function applyAndGet(emu: Emulator, spec: string): Promise<BackupPolicy> {
  const yaml = `apiVersion: backup.cairn.dev/v1alpha1
kind: BackupPolicy
metadata: {name: test-backup, namespace: default}
spec:
  schedule: "*/1 * * * *"
  pvcSelector: {matchLabels: {app: postgres}}
${spec}`;
  const applied = await emu.kubectl(['apply', '-f', '-'], yaml);
  if (applied.code !== 0) throw new Error(applied.stderr);
  const got = await emu.kubectl(['get', 'backuppolicy', 'test-backup', '-n', 'default', '-o', 'yaml']);
  if (got.code !== 0) throw new Error(got.stderr);
  return parse(got.stdout) as BackupPolicy;
}

test('seed 002: a BackupPolicy that names no retention gets retentionCount 7 from the API (kubectl get -o yaml shows it) and keeps the newest 7', async (t) => {
  const emu = await emulator();
  t.teardown(() => emu.close());
  const p = await applyAndGet(emu, '  backupStrategy: tar\n');
  t.is(p.spec.retentionCount, 7);
  const v = applyRetention(nine, rulesOf(p), 'UTC', now);
  t.deepEqual(names(v.expire), ['test-backup-1', 'test-backup-2']);
});

test('seed 003: retention.keepLast alone is accepted beside the defaulted retentionCount, and it is what counts', async (t) => {
  const emu = await emulator();
  t.teardown(() => emu.close());
  const p = await applyAndGet(emu, '  retention: {keepLast: 3}\n');
  t.is(p.spec.retention?.keepLast, 3);
  t.is(rulesOf(p).keepLast, 3);
  t.is(applyRetention(nine, rulesOf(p), 'UTC', now).keep.length, 3);
});

test("seed 002's own retentionCount is kept as written", async (t) => {
  const emu = await emulator();
  t.teardown(() => emu.close());
  const p = await applyAndGet(emu, '  retentionCount: 3\n');
  t.is(p.spec.retentionCount, 3);
  t.is(rulesOf(p).keepLast, 3);
});

/** Five failed runs and five completed ones, alternating, one a day. */
const mixed = Array.from({ length: 10 }, (_, i) =>
  backup(
    `${i % 2 ? 'ok' : 'failed'}-${i + 1}`,
    ref,
    i % 2 ? { phase: 'Completed' } : { phase: 'Failed', reason: 'SourceFailed' },
    {},
    { scheduledTime: `2025-03-${String(i + 10).padStart(2, '0')}T01:00:00Z` },
  ),
);

test('seed 003: keepLast alone never deletes failed Backups', async (t) => {
  const emu = await emulator();
  t.teardown(() => emu.close());
  // failedJobsHistoryLimit (default 1) is about Jobs, not Backups.
  const p = await applyAndGet(emu, '  retention: {keepLast: 3}\n');
  const v = applyRetention(mixed, rulesOf(p), 'UTC', now);
  t.deepEqual(names(v.expire), ['ok-2', 'ok-4']);
});

test('failed Backups are trimmed only by the explicit retention.keepFailed, which keeps the newest N', async (t) => {
  const emu = await emulator();
  t.teardown(() => emu.close());
  const p = await applyAndGet(emu, '  retention: {keepLast: 3, keepFailed: 2}\n');
  t.is(p.spec.retention?.keepFailed, 2);
  const v = applyRetention(mixed, rulesOf(p), 'UTC', now);
  t.deepEqual(names(v.expire), ['failed-1', 'failed-3', 'failed-5', 'ok-2', 'ok-4']);
});

test("seed 003: the cleanup is told on the policy, as the seed's CleanupTriggered Event", (t) => {
  const policy = backupPolicy('test-backup', { retention: { keepLast: 3 } });
  const plan = decide(
    {
      kind: 'BackupPolicy',
      name: 'test-backup',
      namespace: 'default',
      policy,
      backups: nine.slice(4),
      jobs: [],
      restores: [],
    },
    now,
  );
  const ev = plan.find((a) => a.type === 'event');
  t.like(ev, {
    reason: 'CleanupTriggered',
    involved: { kind: 'BackupPolicy', name: 'test-backup', uid: 'uid-test-backup' },
  });
  t.regex(
    ev?.type === 'event' ? ev.message : '',
    /^Deleting 2 old backup\(s\) \(keepLast=3\): test-backup-5, test-backup-6$/,
  );
});
