/** spec.verification.schedule: a verification Restore of the newest Completed Backup at each cron time. */
import test from 'ava';
import type { Backup, Restore } from '../../../shared/api/index.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, databaseBackup } from '../../../test/builders.ts';
import { decideCronVerification } from '../decide.ts';

const ref = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };
const completed = (name: string, at: string): Backup =>
  backup(name, ref, { phase: 'Completed', manifestKey: 'm' }, {}, { scheduledTime: at });
const policy = (status = {}) =>
  databaseBackup('pg-nightly', { verification: { schedule: '0 4 * * 0' } }, { status });
const backups = [completed('b-old', '2025-03-21T01:00:00Z'), completed('b-new', '2025-03-22T01:00:00Z')];
// 2025-03-23 is a Sunday.
const sundayLate = new Date('2025-03-23T04:10:00Z');
const restoresOf = (plan: Action[]) =>
  plan.flatMap((a) => (a.type === 'create' ? [a.object as unknown as Restore] : []));

test('at the cron time the newest Completed Backup is verified, named after it and the time', (t) => {
  const plan = decideCronVerification({ kind: 'DatabaseBackup', policy: policy(), backups }, sundayLate);
  const [r] = restoresOf(plan);
  t.is(r?.metadata.name, 'b-new-verify-202503230400');
  t.is(r?.spec.backupRef.name, 'b-new');
  t.is(r?.metadata.annotations?.['backup.cairn.dev/scheduled-time'], '2025-03-23T04:00:00Z');
  t.like(plan[1], { type: 'event', reason: 'VerificationStarted' });
});

test('nothing before the cron time, nothing once recorded or created, nothing without a completed backup', (t) => {
  const state = (p = policy(), restores: Restore[] = [], bs = backups) => ({
    kind: 'DatabaseBackup' as const,
    policy: p,
    backups: bs,
    restores,
  });
  t.deepEqual(decideCronVerification(state(), new Date('2025-03-23T03:59:00Z')), []);
  const recorded = policy({
    lastVerification: { time: '', backup: 'b-new', result: 'Passed', scheduledTime: '2025-03-23T04:00:00Z' },
  });
  t.deepEqual(decideCronVerification(state(recorded), sundayLate), []);
  const [r] = restoresOf(decideCronVerification(state(), sundayLate));
  if (!r) return t.fail();
  t.deepEqual(decideCronVerification(state(policy(), [r]), sundayLate), []);
  t.deepEqual(decideCronVerification(state(policy(), [], []), sundayLate), []);
});
