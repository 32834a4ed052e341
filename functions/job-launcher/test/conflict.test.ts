/**
 * DESIGN.md rule 4: a 409 means "read again and decide again", not "write the same fields onto
 * the newer object". Here job-watcher (played by the test) moves a Backup to Running between
 * job-launcher's read and its status write; job-launcher's write then meets a 409, and must not
 * put the run back to Pending.
 */
import test from 'ava';
import type { Backup } from '../../../shared/api/index.ts';
import { type KubeObjectLike, pingEvent, resourceEvent } from '../../../shared/events.ts';
import type { Planner } from '../../../shared/function.ts';
import type { KubeObject } from '../../../shared/kube.ts';
import { type Policy, scheduledBackup } from '../../../shared/policy.ts';
import { databaseBackup } from '../../../test/builders.ts';
import { type Harness, startFunction } from '../../../test/function-harness.ts';
import { plan } from '../handle.ts';

/** The scheduled time a run's name carries (pg-nightly-YYYYMMDDhhmm). */
const scheduledTimeOf = (name: string) => {
  const m = /-(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(name) ?? [];
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00Z`);
};

const bare = <T extends KubeObject>(o: T): T =>
  ({ ...o, metadata: { name: o.metadata.name, namespace: 'default', labels: o.metadata.labels ?? {} } }) as T;

/** job-launcher's own planner, with job-watcher's write slipped in after its first plan. */
function racing(name: string, fn: () => Harness): Planner {
  let raced = false;
  return async (event, deps) => {
    const out = await plan(event, deps);
    if (!raced) {
      raced = true;
      await fn().kube.updateStatus<Backup>('Backup', 'default', name, (b) => ({
        ...b.status,
        phase: 'Running',
        jobName: name,
        startTime: '2030-01-01T00:01:05Z',
      }));
    }
    return out;
  };
}

async function world(
  t: import('ava').ExecutionContext,
  name: string,
  planner: (h: () => Harness) => Planner,
) {
  let h: Harness | undefined;
  const fn = await startFunction(
    'job-launcher',
    planner(() => h as Harness),
  );
  h = fn;
  t.teardown(() => fn.stop());
  const { object: policy } = await fn.kube.create<Policy>(
    'DatabaseBackup',
    bare(databaseBackup('pg-nightly')),
  );
  // As the tick creates it: owned by its policy, with the artifact finalizer (a Backup made by
  // hand is adopted first, with a patch guarded by the resourceVersion read: seeds.test.ts).
  const run = scheduledBackup('DatabaseBackup', policy, scheduledTimeOf(name));
  const { object } = await fn.kube.create('Backup', run);
  return { fn, object };
}

test('a Backup that went Running between job-launcher’s read and its write stays Running (event)', async (t) => {
  const name = 'pg-nightly-203001010100';
  const { fn, object } = await world(t, name, (h) => racing(name, h));
  const res = await fn.post(
    resourceEvent('add', object as unknown as KubeObjectLike, { source: fn.api.url }),
  );
  t.true(res.status < 300, res.body);
  const b = await fn.kube.get<Backup>('Backup', 'default', name);
  t.is(b?.status?.phase, 'Running');
  t.is(b?.status?.startTime, '2030-01-01T00:01:05Z');
  t.is((await fn.kube.list('Job', 'default')).length, 1, 'the Job was created once');
});

test('a Backup that went Running between job-launcher’s read and its write stays Running (tick)', async (t) => {
  const name = 'pg-nightly-203001010200';
  const { fn } = await world(t, name, (h) => racing(name, h));
  const res = await fn.post(
    pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: { tick: 'cairn' } }),
  );
  // A delivery that meets a conflict may ask for another; what it must never do is regress.
  t.true(res.status < 300 || res.status >= 500, res.body);
  const b = await fn.kube.get<Backup>('Backup', 'default', name);
  t.is(b?.status?.phase, 'Running');
  t.is(b?.status?.startTime, '2030-01-01T00:01:05Z');
});
