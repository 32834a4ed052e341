import test from 'ava';
import type { Restore } from '../../../shared/api/index.ts';
import { type KubeObjectLike, resourceEvent } from '../../../shared/events.ts';
import { startFunction } from '../../../test/function-harness.ts';
import { plan } from '../handle.ts';

test('a Restore of a Backup that does not exist is refused over HTTP with a reason and a Warning', async (t) => {
  const fn = await startFunction('restore-runner', plan);
  t.teardown(() => fn.stop());
  const { object } = await fn.kube.create<Restore>('Restore', {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'r1', namespace: 'default' },
    spec: { backupRef: { name: 'nope' }, target: { pvc: { claimName: 'x' } } },
  });
  const res = await fn.post(
    resourceEvent('add', object as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.is(res.status, 204);
  const r = await fn.kube.get<Restore>('Restore', 'default', 'r1');
  t.like(r?.status, { phase: 'Failed', reason: 'RestoreRefused' });
  t.regex(r?.status?.message ?? '', /Backup nope does not exist in namespace default/);
  t.true((await fn.kube.list('Event', 'default')).some((e) => e.reason === 'RestoreRefused'));
  t.is((await fn.kube.list('Job', 'default')).length, 0);
});
