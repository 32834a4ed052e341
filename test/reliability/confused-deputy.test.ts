/**
 * Issue 15.6, the confused deputy, across every function that makes a Job: whoever may write a
 * policy or a Restore must not borrow the functions' right to create Jobs to run an image or a
 * ServiceAccount of their choosing. With the default allow-lists (the agent image, the default
 * account), no Job any function plans carries what the resource asked for.
 */
import test from 'ava';
import { decide as launch } from '../../functions/job-launcher/decide.ts';
import { decide as restoreDecide } from '../../functions/restore-runner/decide.ts';
import { decide as prune } from '../../functions/retention-pruner/decide.ts';
import { decide as schedule } from '../../functions/schedule-evaluator/decide.ts';
import { API_VERSION, type Restore } from '../../shared/api/index.ts';
import { DEFAULT_AGENT_IMAGE } from '../../shared/jobs.ts';
import { ARTIFACT_FINALIZER } from '../../shared/labels.ts';
import type { Action, Plan } from '../../shared/plan.ts';
import { backup, databaseBackup } from '../builders.ts';

const now = new Date('2025-03-20T01:00:05Z');
const asked = { backupImage: 'evil.example/miner:latest', serviceAccountName: 'cluster-admin' };
const dbRef = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };
const completed = {
  phase: 'Completed' as const,
  manifestKey: 'm.json',
  key: 'a.dump.zst',
  sha256: 'b'.repeat(64),
  destination: { type: 's3' as const, bucket: 'bkt', secretName: 's3' },
};
const restore = (spec: Partial<Restore['spec']>): Restore => ({
  apiVersion: API_VERSION,
  kind: 'Restore',
  metadata: { name: 'r1', namespace: 'default', uid: 'uid-r1' },
  spec: { backupRef: { name: 'pg-1' }, target: { database: { host: 'pg', name: 'copy' } }, ...spec },
});

const plans: [string, () => Plan][] = [
  [
    'job-launcher, for a Backup of the policy',
    () =>
      launch(
        {
          backup: backup('pg-nightly-1', dbRef),
          policy: databaseBackup('pg-nightly', asked),
          endpoints: [],
          claims: {},
          selectedClaims: [],
        },
        now,
      ),
  ],
  [
    'schedule-evaluator, at a due run of the policy',
    () =>
      schedule(
        { kind: 'DatabaseBackup', policy: databaseBackup('pg-nightly', asked), backups: [] },
        new Date('2025-03-20T01:00:10Z'),
      ),
  ],
  [
    'restore-runner, for a Restore that asks itself',
    () =>
      restoreDecide(
        {
          restore: restore(asked),
          backup: backup('pg-1', dbRef, completed),
          policy: databaseBackup(),
          claims: {},
        },
        now,
      ),
  ],
  [
    'restore-runner, for a Restore of the policy',
    () =>
      restoreDecide(
        {
          restore: restore({}),
          backup: backup('pg-1', dbRef, completed),
          policy: databaseBackup('pg-nightly', asked),
          claims: {},
        },
        now,
      ),
  ],
  [
    "retention-pruner, deleting the policy's artifacts",
    () =>
      prune(
        {
          kind: 'DatabaseBackup',
          name: 'pg-nightly',
          namespace: 'default',
          policy: databaseBackup('pg-nightly', asked),
          restores: [],
          backups: [
            backup('pg-1', dbRef, completed, {
              deletionTimestamp: '2025-03-20T01:00:00Z',
              finalizers: [ARTIFACT_FINALIZER],
            }),
          ],
          jobs: [],
        },
        now,
      ),
  ],
];

for (const [who, plan] of plans) {
  test(`no Job runs the image or ServiceAccount a resource asked for: ${who}`, (t) => {
    const p = plan();
    const jobs = p.filter(
      (a): a is Extract<Action, { type: 'create' }> => a.type === 'create' && a.kind === 'Job',
    );
    if (jobs.length === 0) {
      // Refused instead, and the status says why.
      const status = p.find((a) => a.type === 'status');
      t.regex(JSON.stringify(status), /is not an image the cluster admin allows/);
      return;
    }
    for (const j of jobs) {
      const pod = j.object.spec.template.spec as {
        serviceAccountName?: string;
        containers: { image: string }[];
      };
      t.deepEqual(
        pod.containers.map((c) => c.image),
        [DEFAULT_AGENT_IMAGE],
      );
      t.is(pod.serviceAccountName, undefined);
    }
  });
}
