/**
 * The `cairn` binary driving real runs on the local runtime: a manual backup that fails (its
 * destination claim is missing) and one that completes, `status` with both in its history,
 * `--output json`, a restore after restore-runner's checks (refusal, confirmation, success),
 * `describe` with checksum, log tail and Events — and kubectl's view of the same objects
 * (printer columns of the four kinds, `describe backup` with conditions and Events).
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { Backup, Restore } from '../../shared/api/index.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { databaseBackup } from '../builders.ts';
import { type E2E, startE2E } from '../e2e/helpers.ts';
import { cairn } from './helpers.ts';

let e2e: E2E;
let common: string[];

const pvc = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace: 'default', labels },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
});

const kubectl = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'kubectl',
      ['--kubeconfig', e2e.runtime.kubeconfig, '--cache-dir', join(e2e.stateDir, 'kubectl-cache'), ...args],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });

test.before(async () => {
  e2e = await startE2E('2030-03-01T00:00:30Z');
  common = ['--kubeconfig', e2e.runtime.kubeconfig, '--state-dir', e2e.stateDir];
  const kube = e2e.runtime.kube;
  const data = join(e2e.stateDir, 'volumes', 'default', 'data');
  await mkdir(join(data, 'sub'), { recursive: true });
  await writeFile(join(data, 'a.txt'), 'alpha\n');
  await writeFile(join(data, 'sub', 'b.txt'), 'bravo\n');
  await kube.create('PersistentVolumeClaim', pvc('data', { app: 'web' }));
  await kube.create('PersistentVolumeClaim', pvc('data-restore'));
  await kube.create('BackupPolicy', {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      schedule: '0 3 * * *',
      pvcSelector: { matchLabels: { app: 'web' } },
      storageDestination: { type: 'pvc', claimName: 'backup-store', path: 'web' },
    },
  });
  // A suspended DatabaseBackup: never runs here, but kubectl and status list it.
  const { uid: _u, creationTimestamp: _c, generation: _g, ...meta } = databaseBackup('pg').metadata;
  await kube.create('DatabaseBackup', { ...databaseBackup('pg', { suspend: true }), metadata: meta });
});
test.after.always(async () => {
  await e2e?.stop();
});

let completed: Backup;

test.serial(
  'cairn backup --wait: a run whose destination is missing fails (exit 1), then one completes',
  async (t) => {
    const failed = await cairn(['backup', 'web', '--wait', ...common]);
    t.is(failed.code, 1, failed.stderr);
    t.regex(failed.stdout, /Phase:\s+Failed/);
    t.regex(failed.stdout, /PersistentVolumeClaim backup-store .* does not exist/);

    await e2e.runtime.kube.create('PersistentVolumeClaim', pvc('backup-store'));
    const ok = await cairn(['backup', 'bpol/web', '--wait', '-o', 'json', ...common]);
    t.is(ok.code, 0, ok.stderr);
    completed = JSON.parse(ok.stdout) as Backup;
    t.regex(completed.metadata.name, /^web-manual-\d{14}$/);
    t.is(completed.status?.phase, 'Completed');
    t.is(completed.spec.scheduledTime, undefined);
    // The labels and owner a scheduled run has, so retention and the policy's status count it.
    t.is(completed.metadata.labels?.['backup.cairn.dev/policy'], 'web');
    t.is(completed.metadata.ownerReferences?.[0]?.name, 'web');
    t.regex(completed.status?.sha256 ?? '', /^[a-f0-9]{64}$/);
  },
);

test.serial(
  'cairn status shows every policy with its runs, one glyph each, newest last; -o json parses',
  async (t) => {
    const table = await cairn(['status', ...common]);
    t.is(table.code, 0, table.stderr);
    t.regex(table.stdout, /^NAME\s+SCHEDULE\s+LAST\s+LAST SUCCESS\s+NEXT\s+HISTORY\s+READY$/m);
    t.regex(table.stdout, /^bpol\/web\s+0 3 \* \* \*\s+.*\s✗✓\s/m);
    t.regex(table.stdout, /^dbb\/pg\s+.*suspended/m);

    const json = await cairn(['status', '-o', 'json', ...common]);
    t.is(json.code, 0, json.stderr);
    const rows = JSON.parse(json.stdout) as {
      kind: string;
      name: string;
      history: { phase: string; manual: boolean }[];
    }[];
    t.deepEqual(
      rows.map((r) => `${r.kind}/${r.name}`),
      ['DatabaseBackup/pg', 'BackupPolicy/web'],
    );
    const web = rows.find((r) => r.name === 'web');
    t.deepEqual(
      web?.history.map((h) => [h.phase, h.manual]),
      [
        ['Failed', true],
        ['Completed', true],
      ],
    );
  },
);

test.serial(
  'cairn restore: refused targets create nothing, an overwrite needs --yes, a restore brings the tree back',
  async (t) => {
    const kube = e2e.runtime.kube;
    const name = completed.metadata.name;
    const refused = await cairn(['restore', name, '--to', 'pvc:missing', ...common]);
    t.is(refused.code, 1);
    t.regex(
      refused.stderr,
      /refused: PersistentVolumeClaim missing \(spec.target.pvc.claimName\) does not exist/,
    );
    const usage = await cairn(['restore', name, ...common]);
    t.is(usage.code, 2);
    t.regex(usage.stderr, /--to is required for a volume backup/);
    const unconfirmed = await cairn(['restore', name, '--to', 'pvc:data-restore', '--overwrite', ...common]);
    t.is(unconfirmed.code, 1);
    t.regex(unconfirmed.stderr, /overwriting what it holds\? Not confirmed .*pass --yes/);
    t.deepEqual(await kube.list<Restore>('Restore', 'default'), []);

    const done = await cairn(['restore', name, '--to', 'pvc:data-restore', '--wait', ...common]);
    t.is(done.code, 0, done.stderr);
    t.regex(done.stdout, /Phase:\s+Completed/);
    // One volume is archived as its contents (two or more: a folder each).
    const back = join(e2e.stateDir, 'volumes', 'default', 'data-restore');
    t.is(await readFile(join(back, 'a.txt'), 'utf8'), 'alpha\n');
    t.is(await readFile(join(back, 'sub', 'b.txt'), 'utf8'), 'bravo\n');
  },
);

test.serial('cairn describe shows the artifact, checksum, log tail and Events', async (t) => {
  const d = await cairn(['describe', completed.metadata.name, ...common]);
  t.is(d.code, 0, d.stderr);
  t.regex(d.stdout, /^Phase:\s+Completed$/m);
  t.regex(d.stdout, /^Run:\s+manual$/m);
  t.regex(d.stdout, new RegExp(`^SHA-256:\\s+${completed.status?.sha256}$`, 'm'));
  t.regex(d.stdout, /^Location:\s+file:\/\/.*\/backup-store\/web\/web\/.*\.tar\.zst$/m);
  t.regex(d.stdout, /Log \(last 20 lines of web-manual-\d+-\w+, from .*\.log\):\n(.*\n)*.*backup completed/);
  t.regex(d.stdout, /Events:\n(.*\n)*.*JobCreated/);
  t.regex(d.stdout, /BackupCompleted\s.*job-watcher/);
  const missing = await cairn(['describe', 'nope', ...common]);
  t.is(missing.code, 1);
  t.is(missing.stderr, 'cairn describe: Backup nope not found in namespace default\n');
});

test.serial(
  'kubectl get shows the printer columns of the four kinds; describe backup shows conditions and Events',
  async (t) => {
    const get = await kubectl(['get', 'databasebackups,backuppolicies,backups,restores']);
    t.is(get.code, 0, get.stderr);
    t.regex(get.stdout, /^NAME\s+TYPE\s+.*SCHEDULE\s+.*LAST\s+.*NEXT\s+.*READY\s+AGE$/m);
    t.regex(get.stdout, /^NAME\s+STRATEGY\s+SCHEDULE\s+SUSPEND\s+LAST\s+LAST SUCCESS\s+NEXT\s+READY\s+AGE$/m);
    t.regex(get.stdout, /^NAME\s+POLICY\s+PHASE\s+SIZE\s+DURATION\s+(\S+\s+)*AGE$/m);
    t.regex(get.stdout, /^NAME\s+BACKUP\s+PHASE\s+COMPLETED\s+AGE$/m);
    // SIZE and DURATION with units (issue 17): binary units as go-humanize prints them, and the
    // duration as kubectl prints a Job's (`45s`, `3m10s`), whatever the numbers are.
    t.regex(
      get.stdout,
      new RegExp(
        `^backup.backup.cairn.dev/${completed.metadata.name}\\s+web\\s+Completed\\s+\\d+(\\.\\d)? (B|KiB|MiB|GiB)\\s+(\\d+[smhdy])+\\s`,
        'm',
      ),
    );
    t.regex(get.stdout, /^backuppolicy.backup.cairn.dev\/web\s+(tar\s+)?0 3 \* \* \*\s+.*Succeeded/m);

    // `backups`, not `backup`: the CRDs' category "backup" makes kubectl expand `backup` to all four kinds.
    const d = await kubectl(['describe', 'backups', completed.metadata.name]);
    t.is(d.code, 0, d.stderr);
    t.regex(d.stdout, /Conditions:\n(.*\n)*?\s+Reason:\s+BackupCompleted/);
    t.regex(d.stdout, /Events:\s*\n\s+Type\s+Reason\s+Age\s+From\s+Message/);
    t.regex(d.stdout, /Normal\s+BackupCompleted\s+.*\s+job-watcher\s+Backup completed/);
  },
);
