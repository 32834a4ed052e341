/** job-watcher's verification decisions: when every-Nth verification is due, and what a finished one records. */
import test from 'ava';
import type { Backup, Restore } from '../../../shared/api/index.ts';
import { CAIRN_EVENT_TYPES } from '../../../shared/event-types.ts';
import type { Action } from '../../../shared/plan.ts';
import { isVerification, verificationRestore } from '../../../shared/verification.ts';
import { backup, databaseBackup } from '../../../test/builders.ts';
import { decideVerification, decideVerified, unrecordedVerifications } from '../verification.ts';

const ref = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };
const now = new Date('2025-03-20T05:00:00Z');
const completed = (name: string, hour: number, extra: Partial<NonNullable<Backup['status']>> = {}) =>
  backup(
    name,
    ref,
    { phase: 'Completed', manifestKey: `${name}.manifest.json`, ...extra },
    {},
    { scheduledTime: `2025-03-20T0${hour}:00:00Z` },
  );
const verified = {
  conditions: [
    { type: 'Verified', status: 'True' as const, reason: 'Verified', message: '', lastTransitionTime: '' },
  ],
};
const policy = (everyNthBackup: number, status = {}) =>
  databaseBackup(
    'pg-nightly',
    {
      verification: { everyNthBackup, checks: [{ name: 'rows', sql: 'select 1', compare: 'rowCount >= 1' }] },
    },
    { status },
  );
const created = (plan: Action[]) =>
  plan.flatMap((a) => (a.type === 'create' ? [a.object as unknown as Restore] : []));

test('a policy that never verified verifies its first completed backup, into <db>_cairn_verify, owned by the Backup', (t) => {
  const plan = decideVerification('DatabaseBackup', policy(5), [completed('b1', 1)], []);
  const [r] = created(plan);
  t.truthy(r);
  t.is(r?.metadata.name, 'b1-verify');
  t.true(r ? isVerification(r) : false);
  t.is(r?.spec.target.database?.name, 'app_cairn_verify');
  t.is(r?.spec.target.database?.host, 'pg');
  t.deepEqual(r?.spec.target.database?.passwordSecretRef, { name: 'pg', key: 'password' });
  t.is(r?.metadata.ownerReferences?.[0]?.kind, 'Backup');
  t.is(r?.metadata.ownerReferences?.[0]?.name, 'b1');
  t.is(r?.metadata.labels?.['backup.cairn.dev/purpose'], 'verification');
  t.deepEqual(r?.spec.checks, [{ name: 'rows', sql: 'select 1', compare: 'rowCount >= 1' }]);
});

test('everyNthBackup 3: due when three backups completed since the last verified one, not before', (t) => {
  const older = completed('b1', 1, verified);
  const two = [completed('b3', 3), completed('b2', 2), older];
  t.deepEqual(decideVerification('DatabaseBackup', policy(3), two, []), []);
  const three = [completed('b4', 4), ...two];
  t.is(created(decideVerification('DatabaseBackup', policy(3), three, []))[0]?.metadata.name, 'b4-verify');
});

test('no second verification while one runs, and none of a backup already verified', (t) => {
  const b = completed('b2', 2);
  const running = verificationRestore('DatabaseBackup', policy(1), completed('b1', 1));
  if (!('restore' in running)) return t.fail();
  t.deepEqual(decideVerification('DatabaseBackup', policy(1), [b], [running.restore]), []);
  t.deepEqual(decideVerification('DatabaseBackup', policy(1), [completed('b2', 2, verified)], []), []);
  t.deepEqual(
    decideVerification(
      'DatabaseBackup',
      policy(1, { lastVerification: { time: '', backup: 'b2', result: 'Passed' } }),
      [b],
      [],
    ),
    [],
  );
});

test('a policy with a databaseSelector cannot be verified: a Warning says so when a backup completes, the tick stays quiet', (t) => {
  const p = policy(1);
  p.spec.database = { name: 'app' };
  p.spec.databaseSelector = { matchLabels: { app: 'pg' } };
  const plan = decideVerification('DatabaseBackup', p, [completed('b1', 1)], []);
  t.like(plan[0], { type: 'event', eventType: 'Warning', reason: 'VerificationSkipped' });
  t.deepEqual(decideVerification('DatabaseBackup', p, [completed('b1', 1)], [], false), []);
});

function finished(phase: 'Completed' | 'Failed', reason?: string, message?: string): Restore {
  const made = verificationRestore('DatabaseBackup', policy(1), completed('b1', 1));
  if (!('restore' in made)) throw new Error('no restore');
  return {
    ...made.restore,
    status: {
      phase,
      completionTime: '2025-03-20T04:59:00Z',
      ...(reason ? { reason } : {}),
      ...(message ? { message } : {}),
    },
  };
}

test('a failed check: Verified=False with the reason, lastVerification Failed, Warning Events, the verification.failed CloudEvent', (t) => {
  const msg = 'BackoffLimitExceeded; ChecksFailed: 1 of 1 check(s) failed: rows: rowCount 500 is not >= 1000';
  const v = decideVerified(finished('Failed', 'ChecksFailed', msg), completed('b1', 1), now);
  if (!v) return t.fail();
  const [backupStatus, backupEvent, policyStatus, policyEvent] = v.plan;
  t.like(backupStatus, { type: 'status', kind: 'Backup', name: 'b1' });
  t.like(backupStatus?.type === 'status' ? backupStatus.conditions?.[0] : {}, {
    type: 'Verified',
    status: 'False',
    reason: 'ChecksFailed',
  });
  t.like(backupEvent, { type: 'event', eventType: 'Warning', reason: 'VerificationFailed' });
  t.like(policyStatus, {
    type: 'status',
    kind: 'DatabaseBackup',
    name: 'pg-nightly',
    set: {
      lastVerification: {
        backup: 'b1',
        result: 'Failed',
        reason: 'ChecksFailed',
        time: '2025-03-20T04:59:00Z',
      },
    },
  });
  t.regex(JSON.stringify(policyStatus), /rowCount 500 is not >= 1000/);
  t.like(policyEvent, { type: 'event', eventType: 'Warning', involved: { kind: 'DatabaseBackup' } });
  t.is(v.reply.type, CAIRN_EVENT_TYPES.backupVerificationFailed);
  t.like(v.reply.data, { name: 'b1', result: 'Failed', reason: 'ChecksFailed' });
});

test('a passed verification: Verified=True, lastVerification Passed, dev.cairn.backup.verified', (t) => {
  const v = decideVerified(finished('Completed'), completed('b1', 1), now);
  t.is(v?.reply.type, CAIRN_EVENT_TYPES.backupVerified);
  t.like(v?.plan[0]?.type === 'status' ? v.plan[0].conditions?.[0] : {}, {
    type: 'Verified',
    status: 'True',
  });
  t.like(v?.plan[2], { set: { lastVerification: { result: 'Passed' } } });
  t.is(
    decideVerified({ ...finished('Completed'), status: { phase: 'Running' } }, completed('b1', 1), now),
    undefined,
  );
});

test('the tick records a finished verification whose Backup shows no Verified condition yet (a refused one too)', (t) => {
  const refused = finished('Failed', 'RestoreRefused', 'Secret pg does not exist');
  t.deepEqual(unrecordedVerifications([refused], [completed('b1', 1)]), [refused]);
  t.deepEqual(unrecordedVerifications([refused], [completed('b1', 1, verified)]), []);
});
