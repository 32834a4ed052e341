/**
 * End to end on the local runtime: a BackupPolicy over two PVCs archives both with tar onto a
 * backup PVC, keepLast retention deletes old archives, and a Restore into an empty PVC brings back
 * the same tree. Locally a PVC is a folder under <state>/volumes/<namespace>/<claim>/.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import test from 'ava';
import type { Backup, BackupPolicy, Restore } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { names, startE2E, waitFor } from './helpers.ts';

const pvc = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace: 'default', labels },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
});

async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    out[relative(dir, full)] = await readFile(full, 'utf8');
  }
  return out;
}

test('a BackupPolicy over two PVCs: tar archives, keepLast retention, and a restore of the same tree', async (t) => {
  const e2e = await startE2E('2030-02-01T00:00:30Z');
  t.teardown(() => e2e.stop());
  const kube = e2e.runtime.kube;
  const volumes = join(e2e.stateDir, 'volumes', 'default');
  for (const [claim, files] of [
    ['data-a', { 'a.txt': 'alpha\n', 'nested/deep.txt': 'deep\n' }],
    ['data-b', { 'b.txt': 'bravo\n' }],
  ] as const) {
    for (const [file, text] of Object.entries(files)) {
      await mkdir(join(volumes, claim, file, '..'), { recursive: true });
      await writeFile(join(volumes, claim, file), text);
    }
  }
  await kube.create('PersistentVolumeClaim', pvc('data-a', { app: 'web' }));
  await kube.create('PersistentVolumeClaim', pvc('data-b', { app: 'web' }));
  await kube.create('PersistentVolumeClaim', pvc('backup-store'));
  await kube.create('PersistentVolumeClaim', pvc('data-restore'));
  const policy: BackupPolicy = {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      schedule: '* * * * *',
      pvcSelector: { matchLabels: { app: 'web' } },
      backupStrategy: 'tar',
      retentionCount: 1,
      storageDestination: { type: 'pvc', claimName: 'backup-store', path: 'web' },
    },
  };
  await kube.create('BackupPolicy', policy);
  await waitFor(
    'the policy to be scheduled',
    async () => (await kube.get<BackupPolicy>('BackupPolicy', 'default', 'web'))?.status?.nextScheduledBackup,
  );

  const first = await e2e.nextRun('web');
  t.is(first.status?.phase, 'Completed', first.status?.message);
  t.regex(first.status?.location ?? '', /^file:\/\/.*\/web\/web\/\d{8}T\d{6}Z\.tar\.zst$/);
  const second = await e2e.nextRun('web');
  t.is(second.status?.phase, 'Completed', second.status?.message);

  // retentionCount 1 (seed 002's name for keepLast): the first Backup and its archive go.
  await waitFor('the first Backup to be pruned', async () =>
    (await kube.get('Backup', 'default', first.metadata.name)) ? undefined : true,
  );
  t.deepEqual(names(await kube.list<Backup>('Backup', 'default')), [second.metadata.name]);
  const stored = (await readdir(join(volumes, 'backup-store', 'web', 'web'))).sort();
  t.false(
    stored.some((f) => first.status?.key?.endsWith(f)),
    `old archive still there: ${stored.join(', ')}`,
  );
  t.true(stored.some((f) => second.status?.key?.endsWith(f)));

  const restore: Restore = {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'web-back', namespace: 'default' },
    spec: { backupRef: { name: second.metadata.name }, target: { pvc: { claimName: 'data-restore' } } },
  };
  await kube.create('Restore', restore);
  const done = await waitFor('the Restore to finish', async () => {
    const r = await kube.get<Restore>('Restore', 'default', 'web-back');
    return r?.status?.phase === 'Completed' || r?.status?.phase === 'Failed' ? r : undefined;
  });
  t.is(done.status?.phase, 'Completed', done.status?.message);
  // Two volumes are archived as one folder each, named after the claim.
  t.deepEqual(await tree(join(volumes, 'data-restore')), {
    'data-a/a.txt': 'alpha\n',
    'data-a/nested/deep.txt': 'deep\n',
    'data-b/b.txt': 'bravo\n',
  });

  // A second Restore into the now non-empty target is refused by the agent, and changes nothing.
  await kube.create('Restore', { ...restore, metadata: { name: 'web-again', namespace: 'default' } });
  const refused = await waitFor('the second Restore to finish', async () => {
    const r = await kube.get<Restore>('Restore', 'default', 'web-again');
    return r?.status?.phase === 'Completed' || r?.status?.phase === 'Failed' ? r : undefined;
  });
  t.is(refused.status?.phase, 'Failed');
  t.regex(refused.status?.message ?? '', /not empty|TargetNotEmpty/i);
});
