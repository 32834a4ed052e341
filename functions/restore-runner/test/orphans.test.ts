/**
 * Issue 14, item 7: Backups kept with `kubectl delete --cascade=orphan` (the README recommends it
 * to keep backups of a policy that goes) are restored from what the Backup records — its
 * status.destination, its key, its policyRef's kind — without the policy. And a Restore that would
 * empty the claim holding the backups (clean into the store) is refused.
 */
import test from 'ava';
import { parseAgentArgs } from '../../../shared/agent-contract.ts';
import type { Backup, Restore } from '../../../shared/api/index.ts';
import { Labels } from '../../../shared/labels.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup } from '../../../test/builders.ts';
import { decide, type RestoreState } from '../decide.ts';

const now = new Date('2030-01-02T10:00:00Z');

function restore(
  name: string,
  backupName: string,
  target: Restore['spec']['target'],
  extra: Partial<Restore['spec']> = {},
): Restore {
  return {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { backupRef: { name: backupName }, target, ...extra },
  };
}
function completed(
  name: string,
  kind: 'BackupPolicy' | 'DatabaseBackup',
  status: Partial<NonNullable<Backup['status']>>,
  labels: Record<string, string> = {},
): Backup {
  const b = backup(
    name,
    { kind, name: 'gone' },
    { phase: 'Completed', sha256: 'b'.repeat(64), manifestKey: `x/gone/${name}.manifest.json`, ...status },
  );
  return { ...b, metadata: { ...b.metadata, labels: { ...b.metadata.labels, ...labels } } };
}
const state = (r: Restore, b: Backup): RestoreState => ({
  restore: r,
  backup: b,
  policy: undefined,
  claims: { store: true, data: true },
});
const refusal = (plan: Action[]) => {
  const s = plan.find((a) => a.type === 'status');
  return s?.type === 'status' && s.set.phase === 'Failed' ? String(s.set.message) : undefined;
};
// biome-ignore lint/suspicious/noExplicitAny: reaching into the Job in assertions.
const argsOf = (plan: Action[]): any => {
  const c = plan.find((a) => a.type === 'create');
  return c?.type === 'create' ? parseAgentArgs(c.object.spec.template.spec.containers[0].args) : undefined;
};

const store = { type: 'pvc' as const, claimName: 'store', path: 'backups' };

test('a volume Backup whose policy is gone is restored from its status.destination', (t) => {
  const b = completed('vols-1', 'BackupPolicy', {
    key: 'backups/gone/20300101T000000Z.tar.zst',
    destination: store,
  });
  const plan = decide(state(restore('r1', 'vols-1', { pvc: { claimName: 'data' } }), b), now);
  t.is(refusal(plan), undefined);
  t.like(argsOf(plan), {
    command: 'restore',
    target: { kind: 'tar', directory: '/restore' },
    destination: { type: 'pvc', root: '/backup', path: 'backups' },
  });
});

test('a postgres Backup whose policy is gone is restored into a database (its .dump key says postgres)', (t) => {
  const b = completed('pg-1', 'DatabaseBackup', {
    key: 'db/gone/20300101T000000Z.dump.zst',
    destination: { type: 's3', bucket: 'bkt', path: 'db', secretName: 's3' },
  });
  const r = restore('r2', 'pg-1', {
    database: { host: 'pg', name: 'copy', user: 'u', passwordSecretRef: { name: 'pg', key: 'password' } },
  });
  const plan = decide(state(r, b), now);
  t.is(refusal(plan), undefined);
  t.like(argsOf(plan), {
    target: { kind: 'postgres', host: 'pg', database: 'copy' },
    destination: { type: 's3', bucket: 'bkt' },
  });
});

test('an .sql Backup whose policy is gone takes its database type from its label, or is refused saying how to give it', (t) => {
  const sql = {
    key: 'db/gone/20300101T000000Z.sql.zst',
    destination: { type: 's3' as const, bucket: 'bkt', secretName: 's3' },
  };
  const r = restore('r3', 'my-1', { database: { host: 'db', name: 'copy', user: 'root' } });
  const labelled = completed('my-1', 'DatabaseBackup', sql, { [Labels.databaseType]: 'mariadb' });
  t.like(argsOf(decide(state(r, labelled), now)), { target: { kind: 'mariadb', host: 'db' } });
  const unlabelled = completed('my-1', 'DatabaseBackup', sql);
  t.regex(String(refusal(decide(state(r, unlabelled), now))), new RegExp(`label ${Labels.databaseType}`));
});

test('a Backup whose policy is gone and that records no destination is refused with the reason', (t) => {
  const b = completed('vols-1', 'BackupPolicy', { key: 'backups/gone/20300101T000000Z.tar.zst' });
  t.regex(
    String(refusal(decide(state(restore('r1', 'vols-1', { pvc: { claimName: 'data' } }), b), now))),
    /status\.destination/,
  );
});

test('a Restore with clean into the claim that holds the backups is refused where it would empty the store; a folder beside it is fine', (t) => {
  const b = completed('vols-1', 'BackupPolicy', {
    key: 'backups/gone/20300101T000000Z.tar.zst',
    destination: store,
  });
  const into = (path: string | undefined, clean: boolean) =>
    decide(
      state(
        restore(
          'r4',
          'vols-1',
          { pvc: { claimName: 'store', ...(path === undefined ? {} : { path }) } },
          { clean },
        ),
        b,
      ),
      now,
    );
  for (const path of [undefined, 'backups', 'backups/gone']) {
    t.regex(String(refusal(into(path, true))), /holds the backups/, `clean into ${path ?? 'the claim root'}`);
  }
  t.is(refusal(into('restored', true)), undefined, 'a folder beside the backups');
  t.is(refusal(into(undefined, false)), undefined, 'without clean nothing is emptied');
});
