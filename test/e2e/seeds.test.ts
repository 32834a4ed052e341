/**
 * Seed behaviours end to end on the local runtime (the real kubectl, the Broker, the five
 * functions over HTTP, the job runner and the agent):
 *
 * - seed 003's example applied as a whole (policy, manual Backup, Restore at once): the Restore
 *   waits for the Backup and then restores it; the manual Backup is owned by its policy and holds
 *   the artifact finalizer, so deleting it deletes its archive; `kubectl describe backuppolicy`
 *   shows the run's Events.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { REPO_ROOT } from '../../local/runtime.ts';
import type { Backup, Restore } from '../../shared/api/index.ts';
import { startE2E, waitFor } from './helpers.ts';

const run = promisify(execFile);

test('seed 003: the example applied at once restores its manual Backup, which its policy owns; describe shows the run Events', async (t) => {
  const e2e = await startE2E('2030-03-01T00:00:30Z');
  t.teardown(() => e2e.stop());
  const kube = e2e.runtime.kube;
  const kubectl = (...args: string[]) => run('kubectl', ['--kubeconfig', e2e.runtime.kubeconfig, ...args]);
  const volumes = join(e2e.stateDir, 'volumes', 'default');
  await mkdir(join(volumes, 'app-data'), { recursive: true });
  await writeFile(join(volumes, 'app-data', 'index.html'), '<h1>seed 003</h1>\n');

  await kubectl('apply', '-f', join(REPO_ROOT, 'examples', 'seed-003-policy-backup-restore.yaml'));

  const restored = await waitFor('the Restore to finish', async () => {
    const r = await kube.get<Restore>('Restore', 'default', 'web-data-restore-1');
    return r?.status?.phase === 'Completed' || r?.status?.phase === 'Failed' ? r : undefined;
  });
  t.is(restored.status?.phase, 'Completed', restored.status?.message);
  t.is(await readFile(join(volumes, 'data-restore', 'index.html'), 'utf8'), '<h1>seed 003</h1>\n');
  // It waited for the Backup, and said so.
  const restoreEvents = await kube.list('Event', 'default', {
    fieldSelector: 'involvedObject.name=web-data-restore-1',
  });
  t.true(
    restoreEvents.some((e) => e.reason === 'WaitingForBackup'),
    restoreEvents.map((e) => e.reason).join(', '),
  );

  const manual = (await kube.get<Backup>('Backup', 'default', 'web-data-manual-1')) as Backup;
  t.is(manual.status?.phase, 'Completed');
  const policy = await kube.get('BackupPolicy', 'default', 'web-data');
  t.like(manual.metadata.ownerReferences?.[0], {
    kind: 'BackupPolicy',
    name: 'web-data',
    uid: policy?.metadata.uid,
    controller: true,
  });
  t.deepEqual(manual.metadata.finalizers, ['backup.cairn.dev/artifact']);

  const { stdout } = await kubectl('describe', 'backuppolicy', 'web-data');
  t.regex(stdout, /BackupStarted\s+.*Backup execution started/);
  t.regex(stdout, /BackupCompleted\s+.*Backup web-data-manual-1 completed in/);

  // Deleting it (a person, or retention) deletes its archive first.
  const archive = (manual.status?.key ?? '').split('/').pop() ?? '';
  t.true((await readdir(join(volumes, 'backup-store', 'web', 'web-data'))).includes(archive));
  await kubectl('delete', 'backup', 'web-data-manual-1', '--wait=false');
  await waitFor('the manual Backup to go', async () =>
    (await kube.get('Backup', 'default', 'web-data-manual-1')) ? undefined : true,
  );
  const left: string[] = await readdir(join(volumes, 'backup-store', 'web', 'web-data')).catch(() => []);
  t.false(left.includes(archive), `still there: ${left.join(', ')}`);
});
