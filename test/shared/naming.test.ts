import test from 'ava';
import {
  childName,
  isDns1123Label,
  minuteStamp,
  restoreJobName,
  scheduledBackupName,
} from '../../shared/naming.ts';

const t0 = new Date('2025-03-27T01:00:00Z');

test('a scheduled Backup is <policy>-<yyyymmddhhmm> of its scheduled time in UTC', (t) => {
  t.is(scheduledBackupName('postgres-daily-backup', t0), 'postgres-daily-backup-202503270100');
  t.is(minuteStamp(new Date('2025-12-31T23:59:59.999Z')), '202512312359');
});

test('the name is stable: the same policy and time give the same name', (t) => {
  t.is(scheduledBackupName('a', t0), scheduledBackupName('a', new Date(t0.getTime())));
  t.not(scheduledBackupName('a', t0), scheduledBackupName('a', new Date(t0.getTime() + 60_000)));
});

test('long policy names are truncated and hash-suffixed to at most 63 characters', (t) => {
  const long = `p${'x'.repeat(62)}`;
  const name = scheduledBackupName(long, t0);
  t.true(name.length <= 63, name);
  t.true(isDns1123Label(name), name);
  t.true(name.endsWith('-202503270100'));
  // Two long names sharing their first characters do not collide.
  const other = scheduledBackupName(`${long.slice(0, 62)}y`, t0);
  t.not(name, other);
  t.is(scheduledBackupName(long, t0), name);
});

test('a truncation point at a dash leaves no double dash or trailing dash', (t) => {
  for (let n = 40; n < 63; n++) {
    const base = `${'a'.repeat(n - 10)}-${'b'.repeat(9)}`;
    const name = childName(base, 'restore');
    t.true(isDns1123Label(name), name);
    t.false(name.includes('--'), name);
  }
});

test('names within the limit are left as they are', (t) => {
  t.is(restoreJobName('web-restore-1'), 'web-restore-1-restore');
  t.is(childName('x', 'y'), 'x-y');
});

test('isDns1123Label refuses what Kubernetes refuses', (t) => {
  for (const bad of ['', 'A', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(64)]) t.false(isDns1123Label(bad), bad);
  for (const ok of ['a', 'a-b', '0a', 'x'.repeat(63)]) t.true(isDns1123Label(ok), ok);
});
