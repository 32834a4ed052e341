import test from 'ava';
import { type Action, applyStatus } from '../../../shared/plan.ts';
import { backup, backupPolicy, databaseBackup } from '../../../test/builders.ts';
import { decide } from '../decide.ts';

const at = (s: string) => new Date(s);
const kinds = (plan: Action[]) =>
  plan.map((a) =>
    a.type === 'event'
      ? `event:${a.reason}`
      : a.type === 'create'
        ? `create:${a.object.metadata.name}`
        : `${a.type}:${a.name}`,
  );
const status = (plan: Action[]) =>
  plan.find((a): a is Extract<Action, { type: 'status' }> => a.type === 'status');
const ref = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };

test('a new policy gets its next run and Ready=True, and nothing is created before the first run', (t) => {
  const plan = decide(
    { kind: 'DatabaseBackup', policy: databaseBackup(), backups: [] },
    at('2025-03-20T00:30:00Z'),
  );
  t.deepEqual(kinds(plan), ['status:pg-nightly']);
  const s = status(plan);
  t.is(s?.set.nextScheduledBackup, '2025-03-20T01:00:00Z');
  t.is(s?.set.lastScheduleTime, undefined);
  t.like(s?.conditions?.[0], { type: 'Ready', status: 'True', reason: 'Scheduled' });
  t.is(s?.observedGeneration, 1);
});

test('a due run creates the Backup named for its scheduled time, owned by the policy', (t) => {
  const plan = decide(
    { kind: 'DatabaseBackup', policy: databaseBackup(), backups: [] },
    at('2025-03-20T01:00:20Z'),
  );
  t.deepEqual(kinds(plan), ['create:pg-nightly-202503200100', 'event:BackupScheduled', 'status:pg-nightly']);
  const create = plan[0] as Extract<Action, { type: 'create' }>;
  t.like(create.object, {
    kind: 'Backup',
    metadata: {
      namespace: 'default',
      labels: { 'backup.cairn.dev/policy': 'pg-nightly', 'app.kubernetes.io/managed-by': 'cairn' },
      finalizers: ['backup.cairn.dev/artifact'],
    },
    spec: { policyRef: ref, scheduledTime: '2025-03-20T01:00:00Z' },
  });
  t.like(create.object.metadata.ownerReferences?.[0], {
    kind: 'DatabaseBackup',
    name: 'pg-nightly',
    uid: 'uid-pg-nightly',
    controller: true,
  });
  t.is(status(plan)?.set.lastScheduleTime, '2025-03-20T01:00:00Z');
  t.is(status(plan)?.set.nextScheduledBackup, '2025-03-21T01:00:00Z');
});

test('a run whose Backup exists already is not created twice (a duplicate tick)', (t) => {
  const plan = decide(
    {
      kind: 'DatabaseBackup',
      policy: databaseBackup(),
      backups: [backup('pg-nightly-202503200100', ref, { phase: 'Running' })],
    },
    at('2025-03-20T01:00:40Z'),
  );
  t.false(plan.some((a) => a.type === 'create'));
  t.is(status(plan)?.set.lastScheduleTime, '2025-03-20T01:00:00Z');
});

test('a status that already records the next run means no work and no API calls', (t) => {
  const policy = databaseBackup(
    'pg-nightly',
    {},
    {
      status: {
        observedGeneration: 1,
        nextScheduledBackup: '2025-03-21T01:00:00Z',
        lastScheduleTime: '2025-03-20T01:00:00Z',
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Scheduled',
            message: 'schedule "0 1 * * *" in UTC',
            lastTransitionTime: '2025-03-20T00:00:00Z',
          },
        ],
      },
    },
  );
  t.deepEqual(decide({ kind: 'DatabaseBackup', policy, backups: [] }, at('2025-03-20T13:00:00Z')), []);
});

test('after three days of downtime only one catch-up run is created, with a MissedSchedules warning', (t) => {
  const policy = databaseBackup(
    'pg-nightly',
    { schedule: '0 * * * *' },
    { status: { lastScheduleTime: '2025-03-20T00:00:00Z' } },
  );
  const plan = decide({ kind: 'DatabaseBackup', policy, backups: [] }, at('2025-03-23T00:30:00Z'));
  t.is(plan.filter((a) => a.type === 'create').length, 1);
  t.deepEqual(kinds(plan), [
    'create:pg-nightly-202503230000',
    'event:BackupScheduled',
    'event:MissedSchedules',
    'status:pg-nightly',
  ]);
  const warn = plan.find((a) => a.type === 'event' && a.reason === 'MissedSchedules');
  t.regex(warn?.type === 'event' ? warn.message : '', /71 earlier scheduled run\(s\)/);
});

test('a run past its startingDeadlineSeconds is skipped with a warning and counted as handled', (t) => {
  const policy = databaseBackup(
    'pg-nightly',
    { startingDeadlineSeconds: 60 },
    { status: { lastScheduleTime: '2025-03-19T01:00:00Z' } },
  );
  const plan = decide({ kind: 'DatabaseBackup', policy, backups: [] }, at('2025-03-20T01:05:00Z'));
  t.deepEqual(kinds(plan), ['event:MissedSchedules', 'status:pg-nightly']);
  t.is(status(plan)?.set.lastScheduleTime, '2025-03-20T01:00:00Z');
});

/**
 * concurrencyPolicy Forbid as the CronJob v2 controller has it (cronjob_controllerv2.go,
 * syncCronJob): while a run is active the due one is not started, an Event says so
 * (JobAlreadyActive there), and lastScheduleTime does not move — so the due run starts when the
 * active one ends, if still within startingDeadlineSeconds.
 */
function forbidStep(
  policy: ReturnType<typeof databaseBackup>,
  backups: ReturnType<typeof backup>[],
  now: string,
): { plan: Action[]; policy: ReturnType<typeof databaseBackup> } {
  const plan = decide({ kind: 'DatabaseBackup', policy, backups }, at(now));
  const s = status(plan);
  const next = s ? applyStatus(policy.status as Record<string, unknown>, s, at(now)) : policy.status;
  return { plan, policy: { ...policy, status: next as typeof policy.status } };
}

test('Forbid keeps a due run waiting while one is running: lastScheduleTime stays, an Event says it waits, next names it', (t) => {
  const running = [backup('pg-nightly-202503190100', ref, { phase: 'Running' })];
  const policy = databaseBackup('pg-nightly', {}, { status: { lastScheduleTime: '2025-03-19T01:00:00Z' } });
  const first = forbidStep(policy, running, '2025-03-20T01:00:10Z');
  t.deepEqual(kinds(first.plan), ['event:BackupWaiting', 'status:pg-nightly']);
  t.regex((first.plan[0] as Extract<Action, { type: 'event' }>).message, /waits.*pg-nightly-202503190100/);
  t.is(status(first.plan)?.set.lastScheduleTime, undefined, 'the due run is not counted as handled');
  t.is(first.policy.status?.lastScheduleTime, '2025-03-19T01:00:00Z');
  t.is(first.policy.status?.nextScheduledBackup, '2025-03-20T01:00:00Z', 'the run that will be created');
  // Still running a minute later: nothing new to write or say.
  t.deepEqual(forbidStep(first.policy, running, '2025-03-20T01:01:10Z').plan, []);
  // The active run ends: the waiting run starts, named for its scheduled time.
  const done = [backup('pg-nightly-202503190100', ref, { phase: 'Completed' })];
  const started = forbidStep(first.policy, done, '2025-03-20T01:07:30Z');
  t.deepEqual(kinds(started.plan), [
    'create:pg-nightly-202503200100',
    'event:BackupScheduled',
    'status:pg-nightly',
  ]);
  t.is(started.policy.status?.lastScheduleTime, '2025-03-20T01:00:00Z');
  t.is(started.policy.status?.nextScheduledBackup, '2025-03-21T01:00:00Z');
});

test('Forbid: a waiting run whose startingDeadlineSeconds passes before the active one ends is skipped with a warning, not started', (t) => {
  const running = [backup('pg-nightly-202503190100', ref, { phase: 'Running' })];
  const policy = databaseBackup(
    'pg-nightly',
    { startingDeadlineSeconds: 300 },
    { status: { lastScheduleTime: '2025-03-19T01:00:00Z' } },
  );
  const waiting = forbidStep(policy, running, '2025-03-20T01:00:10Z');
  t.deepEqual(kinds(waiting.plan), ['event:BackupWaiting', 'status:pg-nightly']);
  const done = [backup('pg-nightly-202503190100', ref, { phase: 'Completed' })];
  const late = forbidStep(waiting.policy, done, '2025-03-20T01:06:10Z');
  t.false(late.plan.some((a) => a.type === 'create'));
  t.deepEqual(kinds(late.plan), ['event:MissedSchedules', 'status:pg-nightly']);
  t.is(late.policy.status?.lastScheduleTime, '2025-03-20T01:00:00Z');
  t.is(late.policy.status?.nextScheduledBackup, '2025-03-21T01:00:00Z');
});

test('Forbid does not count finished or deleting Backups as running', (t) => {
  const backups = [
    backup('a', ref, { phase: 'Completed' }),
    backup('b', ref, { phase: 'Failed' }),
    backup('c', ref, { phase: 'Running' }, { deletionTimestamp: '2025-03-20T00:59:00Z' }),
  ];
  const plan = decide(
    { kind: 'DatabaseBackup', policy: databaseBackup(), backups },
    at('2025-03-20T01:00:10Z'),
  );
  t.true(plan.some((a) => a.type === 'create'));
});

test('Replace deletes the running Backup and creates the new one', (t) => {
  const policy = databaseBackup('pg-nightly', { concurrencyPolicy: 'Replace' });
  const plan = decide(
    { kind: 'DatabaseBackup', policy, backups: [backup('old', ref, { phase: 'Running' })] },
    at('2025-03-20T01:00:10Z'),
  );
  t.deepEqual(kinds(plan), [
    'delete:old',
    'event:BackupReplaced',
    'create:pg-nightly-202503200100',
    'event:BackupScheduled',
    'status:pg-nightly',
  ]);
  t.like(plan[0], { type: 'delete', uid: 'uid-old' });
});

test('Allow overlaps: the new run is created beside the running one', (t) => {
  const policy = databaseBackup('pg-nightly', { concurrencyPolicy: 'Allow' });
  const plan = decide(
    { kind: 'DatabaseBackup', policy, backups: [backup('old', ref, { phase: 'Running' })] },
    at('2025-03-20T01:00:10Z'),
  );
  t.deepEqual(kinds(plan), ['create:pg-nightly-202503200100', 'event:BackupScheduled', 'status:pg-nightly']);
});

test('suspend creates nothing and clears the next run', (t) => {
  const policy = databaseBackup(
    'pg-nightly',
    { suspend: true },
    { status: { nextScheduledBackup: '2025-03-20T01:00:00Z' } },
  );
  const plan = decide({ kind: 'DatabaseBackup', policy, backups: [] }, at('2025-03-20T01:00:10Z'));
  t.deepEqual(kinds(plan), ['status:pg-nightly']);
  t.is(status(plan)?.set.nextScheduledBackup, null);
  t.like(status(plan)?.conditions?.[0], { reason: 'Suspended', status: 'True' });
});

test('an invalid schedule makes Ready=False InvalidSchedule with a Warning, once', (t) => {
  const policy = databaseBackup('pg-nightly', { schedule: '61 * * * *' });
  const plan = decide({ kind: 'DatabaseBackup', policy, backups: [] }, at('2025-03-20T01:00:10Z'));
  t.deepEqual(kinds(plan), ['status:pg-nightly', 'event:InvalidSchedule']);
  const c = status(plan)?.conditions?.[0];
  t.like(c, { type: 'Ready', status: 'False', reason: 'InvalidSchedule' });
  t.regex(c?.message ?? '', /^spec\.schedule: /);
  // Once recorded, the next tick does nothing.
  const recorded = databaseBackup(
    'pg-nightly',
    { schedule: '61 * * * *' },
    {
      status: {
        observedGeneration: 1,
        conditions: [{ ...(c as NonNullable<typeof c>), lastTransitionTime: '2025-03-20T01:00:10Z' }],
      },
    },
  );
  t.deepEqual(
    decide({ kind: 'DatabaseBackup', policy: recorded, backups: [] }, at('2025-03-20T01:01:10Z')),
    [],
  );
});

test('an unknown time zone names spec.timeZone', (t) => {
  const plan = decide(
    { kind: 'DatabaseBackup', policy: databaseBackup('x', { timeZone: 'Mars/Olympus' }), backups: [] },
    at('2025-03-20T01:00:10Z'),
  );
  t.regex(status(plan)?.conditions?.[0]?.message ?? '', /^spec\.timeZone: unknown time zone/);
});

test('the time zone moves the run: 0 1 * * * in Europe/Berlin is 00:00Z in winter', (t) => {
  const policy = databaseBackup('pg-nightly', { timeZone: 'Europe/Berlin' });
  const plan = decide({ kind: 'DatabaseBackup', policy, backups: [] }, at('2025-03-21T00:00:30Z'));
  t.true(plan.some((a) => a.type === 'create' && a.object.metadata.name === 'pg-nightly-202503210000'));
});

test('a policy being deleted gets no new runs', (t) => {
  const policy = databaseBackup(
    'pg-nightly',
    {},
    { metadata: { deletionTimestamp: '2025-03-20T00:59:00Z' } },
  );
  t.deepEqual(decide({ kind: 'DatabaseBackup', policy, backups: [] }, at('2025-03-20T01:00:10Z')), []);
});

test('BackupPolicy runs are named and owned the same way', (t) => {
  const plan = decide(
    { kind: 'BackupPolicy', policy: backupPolicy('volumes'), backups: [] },
    at('2025-03-20T00:05:01Z'),
  );
  const create = plan.find((a) => a.type === 'create');
  t.like(create?.type === 'create' ? create.object : {}, {
    metadata: { name: 'volumes-202503200005', labels: { 'backup.cairn.dev/policy-kind': 'BackupPolicy' } },
    spec: { policyRef: { kind: 'BackupPolicy', name: 'volumes' } },
  });
});

test("a DatabaseBackup's run is labelled with its database type, so it can be restored once the policy is gone", (t) => {
  const plan = decide(
    {
      kind: 'DatabaseBackup',
      policy: databaseBackup('pg-nightly', { databaseType: 'mariadb' }),
      backups: [],
    },
    at('2025-03-20T01:00:20Z'),
  );
  const create = plan.find((a) => a.type === 'create');
  t.is(
    create?.type === 'create' ? create.object.metadata.labels?.['backup.cairn.dev/database-type'] : undefined,
    'mariadb',
  );
  const volumes = decide(
    { kind: 'BackupPolicy', policy: backupPolicy('volumes'), backups: [] },
    at('2025-03-20T00:05:01Z'),
  );
  const v = volumes.find((a) => a.type === 'create');
  t.is(v?.type === 'create' ? v.object.metadata.labels?.['backup.cairn.dev/database-type'] : 'x', undefined);
});
