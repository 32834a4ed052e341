/**
 * A merge patch replaces a list whole. retention-pruner releases a Backup by writing its
 * finalizers without Cairn's. When another controller takes its own finalizer off between the
 * pruner's read and that write, the stale list would put it back — which the API server refuses
 * on an object being deleted, failing the delivery. The patch carries the resourceVersion read:
 * a 409, and the pruner decides again from the newer Backup in the same delivery.
 */
import test from 'ava';
import type { Backup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, resourceEvent } from '../../../shared/events.ts';
import type { Planner } from '../../../shared/function.ts';
import { ARTIFACT_FINALIZER } from '../../../shared/labels.ts';
import { type Policy, scheduledBackup } from '../../../shared/policy.ts';
import { backupPolicy } from '../../../test/builders.ts';
import { type Harness, startFunction } from '../../../test/function-harness.ts';
import { plan } from '../handle.ts';

const OTHER = 'example.com/keep-until-copied';

test("another controller's finalizer, taken off between the pruner's read and its release, is not put back", async (t) => {
  let fn: Harness | undefined;
  let raced = false;
  const racing: Planner = async (event, deps) => {
    const out = await plan(event, deps);
    if (!raced) {
      raced = true;
      // The other controller is done: it takes its finalizer off after the pruner read the Backup.
      await fn?.kube.patch('Backup', 'default', name, { metadata: { finalizers: [ARTIFACT_FINALIZER] } });
    }
    return out;
  };
  fn = await startFunction('retention-pruner', racing);
  const h = fn;
  t.teardown(() => h.stop());
  const p = backupPolicy('volumes');
  const { object: policy } = await h.kube.create<Policy>('BackupPolicy', {
    ...p,
    metadata: { name: 'volumes', namespace: 'default' },
  });
  const run = scheduledBackup('BackupPolicy', policy, new Date('2030-01-01T00:00:00Z'));
  const name = run.metadata.name;
  await h.kube.create('Backup', {
    ...run,
    metadata: { ...run.metadata, finalizers: [...(run.metadata.finalizers ?? []), OTHER] },
  });
  // A run that failed before writing anything: releasing it deletes nothing in a store.
  await h.kube.updateStatus<Backup>('Backup', 'default', name, () => ({
    phase: 'Failed',
    reason: 'SourceFailed',
    message: 'pg_dump could not connect',
  }));
  await h.kube.delete('Backup', 'default', name);
  const deleting = await h.kube.get<Backup>('Backup', 'default', name);
  t.truthy(deleting?.metadata.deletionTimestamp, 'held by the finalizers');

  const res = await h.post(
    resourceEvent('update', deleting as unknown as KubeObjectLike, { source: h.api.url }),
  );
  t.true(res.status < 300, res.body);
  t.true(raced);
  t.is(await h.kube.get<Backup>('Backup', 'default', name), undefined, 'released, so gone');
});
