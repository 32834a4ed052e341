import test from 'ava';
import { kubeTime, kubeTimeOf, timeOf } from '../../shared/clock.ts';

// Expected strings as Go's metav1.Time marshals them (time.RFC3339, UTC, fraction cut).
test('kubeTime renders metav1.Time: UTC, whole seconds, the fraction cut (not rounded)', (t) => {
  t.is(kubeTime(new Date('2026-11-29T10:35:00.000Z')), '2026-11-29T10:35:00Z');
  t.is(kubeTime(new Date('2026-11-29T10:35:59.999Z')), '2026-11-29T10:35:59Z');
  t.is(kubeTime(new Date('2026-11-29T11:35:00+01:00')), '2026-11-29T10:35:00Z');
  t.is(kubeTime(Date.UTC(2026, 10, 29, 10, 35, 0, 500)), '2026-11-29T10:35:00Z');
  t.throws(() => kubeTime(new Date('nope')), { instanceOf: RangeError });
});

test('timeOf reads both string forms and the Date client-node makes, and nothing else', (t) => {
  const ms = Date.UTC(2026, 10, 29, 10, 35, 0);
  t.is(timeOf('2026-11-29T10:35:00Z'), ms);
  t.is(timeOf('2026-11-29T10:35:00.000Z'), ms);
  t.is(timeOf('2026-11-29T11:35:00+01:00'), ms);
  t.is(timeOf(new Date(ms)), ms);
  t.is(timeOf(undefined), undefined);
  t.is(timeOf(''), undefined);
  t.is(timeOf('yesterday'), undefined);
  t.is(timeOf(new Date('nope')), undefined);
  t.is(timeOf(ms), undefined, 'a bare number is not a time the API hands out');
  t.is(kubeTimeOf(new Date('2026-11-29T10:35:00.250Z')), '2026-11-29T10:35:00Z');
  t.is(kubeTimeOf('2026-11-29T10:35:00.250Z'), '2026-11-29T10:35:00Z');
  t.is(kubeTimeOf(undefined), undefined);
});
