/**
 * Event correlation (shared/event-recorder.ts), checked against client-go's own table: the
 * scenarios of TestEventCorrelator, TestEventAggregatorByReasonFunc and the default-key case of
 * TestEventSpamFilter in tools/record/events_cache_test.go (kubernetes/client-go, Apache-2.0, The
 * Kubernetes Authors), ported as data with the same events, clocks and expectations. The clock is
 * client-go's SimpleIntervalClock (k8s.io/utils/clock/testing): every reading moves it on by the
 * interval, and the correlator reads it where client-go does (once to aggregate, once to filter),
 * so the intervals mean what they mean upstream. Cases of custom spam keys are left out: Cairn has
 * one key, client-go's default.
 *
 * Cairn's additions, tested below the table: deterministic names, and a `series` beside `count`.
 */
import test from 'ava';
import type { Clock } from '../../shared/clock.ts';
import {
  AGGREGATE_MAX_EVENTS,
  AGGREGATE_PREFIX,
  aggregateKeyOf,
  type CoreEvent,
  EventCorrelator,
  SPAM_BURST,
} from '../../shared/event-recorder.ts';

/** k8s.io/utils/clock/testing.SimpleIntervalClock: each now() returns the time, then moves it on. */
class SimpleIntervalClock implements Clock {
  #t: number;
  readonly #step: number;
  constructor(start: number, stepMs: number) {
    this.#t = start;
    this.#step = stepMs;
  }
  now(): Date {
    const t = this.#t;
    this.#t += this.#step;
    return new Date(t);
  }
}

const ref = (kind: string, name: string, namespace: string) => ({
  kind,
  name,
  namespace,
  uid: 'C934D34AFB20242',
  apiVersion: 'version',
  fieldPath: 'spec.containers{mycontainer}',
});

function makeEvent(reason: string, message: string, involvedObject: CoreEvent['involvedObject']): CoreEvent {
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${involvedObject.name}.x`, namespace: involvedObject.namespace ?? 'default' },
    reason,
    message,
    involvedObject,
    source: { component: 'kubelet', host: 'kublet.node1' },
    count: 1,
    firstTimestamp: now,
    lastTimestamp: now,
    type: 'Normal',
  };
}
const makeEvents = (n: number, e: CoreEvent) => Array.from({ length: n }, () => structuredClone(e));
const makeUniqueEvents = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    makeEvent(`reason-${i}`, `message-${i}`, ref('Pod', `pod-${i}`, `ns-${i}`)),
  );
const makeSimilarEvents = (n: number, e: CoreEvent, prefix: string) =>
  makeEvents(n, e).map((x, i) => ({ ...x, message: `${prefix}-${i}-${x.message}` }));

const firstEvent = makeEvent('first', 'i am first', ref('Pod', 'my-pod', 'my-ns'));
const duplicateEvent = makeEvent('duplicate', 'me again', ref('Pod', 'my-pod', 'my-ns'));
const uniqueEvent = makeEvent('unique', 'snowflake', ref('Pod', 'my-pod', 'my-ns'));
const similarEvent = makeEvent('similar', 'similar message', {
  ...ref('Pod', 'my-pod', 'my-ns'),
  fieldPath: 'spec.containers{container1}',
});
const aggregateMessage = `${AGGREGATE_PREFIX}${similarEvent.message}`;
const similarButDifferentContainerEvent = {
  ...similarEvent,
  involvedObject: { ...similarEvent.involvedObject, fieldPath: 'spec.containers{container2}' },
};

interface Scenario {
  previous: CoreEvent[];
  event: CoreEvent;
  /** What the correlated event must be (reason and message), and its count; absent: skipped. */
  expected?: { reason: string; message: string; count: number };
  intervalSeconds: number;
}

// client-go's defaults, as events_cache.go sets them.
const MAX_EVENTS = 10;
const MAX_INTERVAL_SECONDS = 600;
const BURST = 25;

const scenarios: Record<string, Scenario> = {
  'create-a-single-event': {
    previous: [],
    event: firstEvent,
    expected: { reason: 'first', message: 'i am first', count: 1 },
    intervalSeconds: 5,
  },
  'the-same-event-should-just-count': {
    previous: makeEvents(1, duplicateEvent),
    event: duplicateEvent,
    expected: { reason: 'duplicate', message: 'me again', count: 2 },
    intervalSeconds: 5,
  },
  'the-same-event-should-just-count-even-if-more-than-aggregate': {
    previous: makeEvents(MAX_EVENTS, duplicateEvent),
    event: duplicateEvent,
    expected: { reason: 'duplicate', message: 'me again', count: MAX_EVENTS + 1 },
    intervalSeconds: 30, // larger interval induces aggregation but not spam.
  },
  'the-same-event-is-spam-if-happens-too-frequently': {
    previous: makeEvents(BURST + 1, duplicateEvent),
    event: duplicateEvent,
    intervalSeconds: 1,
  },
  'create-many-unique-events': {
    previous: makeUniqueEvents(30),
    event: uniqueEvent,
    expected: { reason: 'unique', message: 'snowflake', count: 1 },
    intervalSeconds: 5,
  },
  'similar-events-should-aggregate-event': {
    previous: makeSimilarEvents(MAX_EVENTS - 1, similarEvent, similarEvent.message),
    event: similarEvent,
    expected: { reason: 'similar', message: aggregateMessage, count: 1 },
    intervalSeconds: 5,
  },
  'similar-events-many-times-should-count-the-aggregate': {
    previous: makeSimilarEvents(MAX_EVENTS, similarEvent, similarEvent.message),
    event: similarEvent,
    expected: { reason: 'similar', message: aggregateMessage, count: 2 },
    intervalSeconds: 5,
  },
  'events-from-different-containers-do-not-aggregate': {
    previous: makeEvents(1, similarButDifferentContainerEvent),
    event: similarEvent,
    expected: { reason: 'similar', message: 'similar message', count: 1 },
    intervalSeconds: 5,
  },
  'similar-events-whose-interval-is-greater-than-aggregate-interval-do-not-aggregate': {
    previous: makeSimilarEvents(MAX_EVENTS - 1, similarEvent, similarEvent.message),
    event: similarEvent,
    expected: { reason: 'similar', message: 'similar message', count: 1 },
    intervalSeconds: MAX_INTERVAL_SECONDS,
  },
};

test('the defaults are client-go’s', (t) => {
  t.is(AGGREGATE_MAX_EVENTS, MAX_EVENTS);
  t.is(SPAM_BURST, BURST);
});

for (const [name, s] of Object.entries(scenarios)) {
  test(`client-go TestEventCorrelator: ${name}`, (t) => {
    const clock = new SimpleIntervalClock(Date.parse('2030-01-01T00:00:00Z'), s.intervalSeconds * 1000);
    const correlator = new EventCorrelator(clock);
    for (const prev of s.previous) {
      const now = clock.now().toISOString();
      const r = correlator.correlate({ ...structuredClone(prev), firstTimestamp: now, lastTimestamp: now });
      // As the test upstream: what the server would have stored is fed back.
      if (!r.skip) correlator.updateState(r.event);
    }
    const now = clock.now().toISOString();
    const r = correlator.correlate({ ...structuredClone(s.event), firstTimestamp: now, lastTimestamp: now });
    t.is(r.skip, s.expected === undefined, 'skipped');
    if (!s.expected) return;
    t.is(r.event.reason, s.expected.reason);
    t.is(r.event.message, s.expected.message);
    t.is(r.event.count, s.expected.count);
    t.deepEqual(r.event.involvedObject, s.event.involvedObject);
    t.deepEqual(r.event.source, s.event.source);
    // client-go's validateEvent: first and last timestamps differ exactly when the event was counted.
    if (s.expected.count > 1) t.not(r.event.firstTimestamp, r.event.lastTimestamp);
    else t.is(r.event.firstTimestamp, r.event.lastTimestamp);
    // A counted event goes out as a patch of its count, last time and message; a new one as a create.
    if (s.expected.count > 1) t.like(r.patch, { count: s.expected.count, message: s.expected.message });
    else t.is(r.patch, undefined);
  });
}

test('client-go TestEventAggregatorByReasonFunc: events that differ only in message aggregate together', (t) => {
  const e1 = makeEvent('end-of-world', 'it was fun', ref('Pod', 'pod1', 'other'));
  const e2 = makeEvent('end-of-world', 'it was awful', ref('Pod', 'pod1', 'other'));
  const e3 = makeEvent('nevermind', 'it was a bug', ref('Pod', 'pod1', 'other'));
  t.is(aggregateKeyOf(e1), aggregateKeyOf(e2));
  t.not(aggregateKeyOf(e1), aggregateKeyOf(e3));
  t.true(`${AGGREGATE_PREFIX}x`.startsWith('(combined from similar events): '));
});

test('client-go TestEventSpamFilter: with the default key, another reason about the same object is spam past the burst', (t) => {
  const clock = new SimpleIntervalClock(Date.parse('2030-01-01T00:00:00Z'), 1000);
  const correlator = new EventCorrelator(clock, { burst: 1 });
  const original = makeEvent('original', 'i am first', ref('Pod', 'my-pod', 'my-ns'));
  const r1 = correlator.correlate(original);
  t.false(r1.skip);
  correlator.updateState(r1.event);
  t.true(correlator.correlate(makeEvent('duplicate', 'me again', ref('Pod', 'my-pod', 'my-ns'))).skip);
});

// ---------------------------------------------------------------------------------------------
// Cairn's additions

test('a repeat keeps the first occurrence’s name and carries a series (count, lastObservedTime) for kubectl', (t) => {
  const clock = new SimpleIntervalClock(Date.parse('2030-01-01T00:00:00Z'), 60_000);
  const correlator = new EventCorrelator(clock);
  const first = correlator.correlate(structuredClone(duplicateEvent));
  t.is(first.event.series, undefined);
  correlator.updateState({ ...first.event, metadata: { ...first.event.metadata, resourceVersion: '7' } });
  const second = correlator.correlate(structuredClone(duplicateEvent));
  t.is(second.event.metadata.name, first.event.metadata.name);
  t.is(second.event.count, 2);
  t.is(second.event.series?.count, 2);
  t.regex(second.event.series?.lastObservedTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  t.deepEqual(second.patch?.series, second.event.series);
});

test('names are deterministic: the same event in another process gets the same name, a different one another', (t) => {
  const a = new EventCorrelator(new SimpleIntervalClock(0, 1000)).correlate(structuredClone(firstEvent));
  const b = new EventCorrelator(new SimpleIntervalClock(5e9, 1000)).correlate(structuredClone(firstEvent));
  const c = new EventCorrelator(new SimpleIntervalClock(0, 1000)).correlate(structuredClone(uniqueEvent));
  t.is(a.event.metadata.name, b.event.metadata.name);
  t.not(a.event.metadata.name, c.event.metadata.name);
  t.true(a.event.metadata.name.startsWith('my-pod.'));
});
