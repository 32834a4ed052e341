import test from 'ava';
import { getCondition, isConditionTrue, setCondition } from '../../shared/conditions.ts';

const t1 = new Date('2025-01-01T00:00:00Z');
const t2 = new Date('2025-01-01T01:00:00Z');

test('a new condition gets the transition time now', (t) => {
  const c = setCondition(
    undefined,
    { type: 'Ready', status: 'True', reason: 'Scheduled', message: 'ok' },
    t1,
    3,
  );
  t.deepEqual(c, [
    {
      type: 'Ready',
      status: 'True',
      reason: 'Scheduled',
      message: 'ok',
      lastTransitionTime: '2025-01-01T00:00:00Z',
      observedGeneration: 3,
    },
  ]);
});

test('lastTransitionTime stays when the status does not flip, even if reason and message change', (t) => {
  const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t1);
  const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, t2, 2);
  t.is(getCondition(b, 'Ready')?.lastTransitionTime, '2025-01-01T00:00:00Z');
  t.is(getCondition(b, 'Ready')?.reason, 'B');
  t.is(getCondition(b, 'Ready')?.observedGeneration, 2);
});

test('lastTransitionTime moves when the status flips', (t) => {
  const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t1);
  const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'A', message: 'a' }, t2);
  t.is(getCondition(b, 'Ready')?.lastTransitionTime, '2025-01-01T01:00:00Z');
  t.true(isConditionTrue(b, 'Ready'));
  t.false(isConditionTrue(a, 'Ready'));
});

test('other conditions are kept and the input list is not mutated', (t) => {
  const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'A', message: '' }, t1);
  const b = setCondition(a, { type: 'Verified', status: 'False', reason: 'V', message: '' }, t2);
  t.is(a.length, 1);
  t.deepEqual(
    b.map((c) => c.type),
    ['Ready', 'Verified'],
  );
});
