/**
 * Kubernetes Events as client-go's Event recorder writes them: the behaviour of its
 * EventCorrelator, ported from tools/record/events_cache.go of kubernetes/client-go (Apache-2.0,
 * The Kubernetes Authors; read at v0.26, unchanged in substance since), not its code:
 *
 * - aggregation (EventAggregator): events about one object that differ only in their message are
 *   similar; the 10th distinct message within 10 minutes, and every similar one after it, becomes
 *   one Event "(combined from similar events): <latest message>" that is counted from then on;
 * - counting (eventLogger): the same event again becomes a PATCH of the existing Event's `count`,
 *   `lastTimestamp` and `message`, not a new Event;
 * - spam filtering (EventSourceObjectSpamFilter): each source may report 25 events about one object
 *   at once, then one every 5 minutes (a token bucket, as golang.org/x/time/rate's); the rest are
 *   dropped without a request.
 *
 * Where Cairn differs, on purpose:
 * - names are derived from the event (its key, or the aggregate's key), not from the time, so the
 *   same event from a new process or another replica finds the Event already written (the
 *   recorder then bumps it, see KubeClient.recordEvent); client-go starts a new Event there;
 * - a counted event also carries `series` (count, lastObservedTime), as events.k8s.io's recorder
 *   writes it and `kubectl describe` shows it ("x3 over 5m");
 * - the parts of a key are joined with NUL, where client-go joins them with "" (which lets
 *   "ab"+"c" meet "a"+"bc").
 *
 * The caches are this process's, as client-go's are its process's: a function that scales to zero
 * starts with none, and its first repeat costs what a first occurrence costs.
 *
 * The LRU is hand-written: a Map already keeps insertion order, and a library (lru-cache) would
 * add to every function bundle's start for a dozen lines.
 */
import { createHash } from 'node:crypto';
import { type Clock, kubeTime } from './clock.ts';

/** client-go's defaults (events_cache.go). */
export const LRU_ENTRIES = 4096;
export const AGGREGATE_MAX_EVENTS = 10;
export const AGGREGATE_INTERVAL_SECONDS = 600;
export const SPAM_BURST = 25;
export const SPAM_QPS = 1 / 300;
export const AGGREGATE_PREFIX = '(combined from similar events): ';

/** A core/v1 Event, the fields the recorder writes. */
export interface CoreEvent {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  involvedObject: {
    apiVersion?: string;
    kind?: string;
    name: string;
    namespace?: string;
    uid?: string;
    fieldPath?: string;
    resourceVersion?: string;
  };
  type: string;
  reason: string;
  message: string;
  source: { component?: string; host?: string };
  action?: string;
  reportingComponent?: string;
  reportingInstance?: string;
  count: number;
  /** metav1.Time: RFC 3339, whole seconds. */
  firstTimestamp: string;
  lastTimestamp: string;
  /** metav1.MicroTime in lastObservedTime. */
  series?: { count: number; lastObservedTime: string };
}

export interface Correlation {
  /** The event to write: new (count 1, to create) or counted (count > 1, to patch). */
  event: CoreEvent;
  /** For a counted event: the strategic merge patch of the stored Event. */
  patch?: Record<string, unknown>;
  /** Dropped by the spam filter: write nothing. */
  skip: boolean;
}

export interface CorrelatorOptions {
  burst: number;
  qps: number;
  maxEvents: number;
  maxIntervalSeconds: number;
  cacheSize: number;
}

const key = (parts: (string | undefined)[]) => parts.map((p) => p ?? '').join('\u0000');

/** getEventKey: everything that makes two events the same one. */
export function eventKeyOf(e: CoreEvent): string {
  const o = e.involvedObject;
  return key([
    e.source.component,
    e.source.host,
    o.kind,
    o.namespace,
    o.name,
    o.fieldPath,
    o.uid,
    o.apiVersion,
    e.type,
    e.reason,
    e.message,
  ]);
}

/** getSpamKey: the source and the object. */
function spamKeyOf(e: CoreEvent): string {
  const o = e.involvedObject;
  return key([e.source.component, e.source.host, o.kind, o.namespace, o.name, o.uid, o.apiVersion]);
}

/** EventAggregatorByReasonFunc's aggregate key: all but the message (which is the local key). */
export function aggregateKeyOf(e: CoreEvent): string {
  const o = e.involvedObject;
  return key([
    e.source.component,
    e.source.host,
    o.kind,
    o.namespace,
    o.name,
    o.uid,
    o.apiVersion,
    e.type,
    e.reason,
    e.reportingComponent,
    e.reportingInstance,
  ]);
}

/** `<object>.<16 hex digits of the key's SHA-256>`: the same event always has the same name. */
function nameFor(involvedName: string, k: string): string {
  return `${involvedName}.${createHash('sha256').update(k).digest('hex').slice(0, 16)}`;
}

/** metav1.MicroTime of an instant. */
const microTime = (d: Date) => `${d.toISOString().slice(0, 23)}000Z`;

/**
 * The strategic merge patch that counts one more occurrence of a stored Event (client-go's
 * eventObserve): its count, the time and message of this one, and the series.
 */
export function countedPatch(
  count: number,
  lastTimestamp: string,
  message: string,
): Pick<CoreEvent, 'count' | 'lastTimestamp' | 'message'> & { series: NonNullable<CoreEvent['series']> } {
  const series = { count, lastObservedTime: microTime(new Date(Date.parse(lastTimestamp))) };
  return { count, lastTimestamp, message, series };
}

class Lru<V> {
  readonly #max: number;
  readonly #map = new Map<string, V>();
  constructor(max: number) {
    this.#max = max;
  }
  get(k: string): V | undefined {
    const v = this.#map.get(k);
    if (v !== undefined) {
      this.#map.delete(k);
      this.#map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.#map.delete(k);
    this.#map.set(k, v);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as string);
  }
}

/** golang.org/x/time/rate's Limiter.Allow, as flowcontrol's passive token bucket uses it: starts full. */
class TokenBucket {
  #tokens: number;
  #last: number | undefined;
  constructor(
    readonly burst: number,
    readonly qps: number,
  ) {
    this.#tokens = burst;
  }
  tryAccept(now: number): boolean {
    const elapsed = this.#last === undefined ? 0 : Math.max(0, now - this.#last) / 1000;
    const tokens = Math.min(this.burst, this.#tokens + elapsed * this.qps);
    if (tokens < 1) return false;
    this.#tokens = tokens - 1;
    this.#last = now;
    return true;
  }
}

interface AggregateRecord {
  localKeys: Set<string>;
  last: number;
}

interface Observation {
  count: number;
  firstTimestamp: string;
  name: string;
  resourceVersion?: string;
}

export class EventCorrelator {
  readonly #clock: Clock;
  readonly #o: CorrelatorOptions;
  readonly #spam: Lru<TokenBucket>;
  readonly #aggregates: Lru<AggregateRecord>;
  readonly #observed: Lru<Observation>;

  constructor(clock: Clock, opts: Partial<CorrelatorOptions> = {}) {
    this.#clock = clock;
    this.#o = {
      burst: SPAM_BURST,
      qps: SPAM_QPS,
      maxEvents: AGGREGATE_MAX_EVENTS,
      maxIntervalSeconds: AGGREGATE_INTERVAL_SECONDS,
      cacheSize: LRU_ENTRIES,
      ...opts,
    };
    this.#spam = new Lru(this.#o.cacheSize);
    this.#aggregates = new Lru(this.#o.cacheSize);
    this.#observed = new Lru(this.#o.cacheSize);
  }

  /** EventCorrelate: aggregate, then count, then filter. Caches move even for a skipped event, as upstream. */
  correlate(input: CoreEvent): Correlation {
    const [aggregated, k] = this.#aggregate(input);
    const { event, patch } = this.#observe(aggregated, k);
    if (this.#isSpam(event)) return { event, skip: true };
    return { event, ...(patch ? { patch } : {}), skip: false };
  }

  /** UpdateState: what the API server stored (its name, resourceVersion and count). */
  updateState(e: CoreEvent): void {
    this.#remember(eventKeyOf(e), e);
  }

  #remember(k: string, e: CoreEvent): void {
    this.#observed.set(k, {
      count: e.count,
      firstTimestamp: e.firstTimestamp,
      name: e.metadata.name,
      ...(e.metadata.resourceVersion ? { resourceVersion: e.metadata.resourceVersion } : {}),
    });
  }

  /** EventAggregate: the event itself and its full key, or past the threshold the aggregate and its key. */
  #aggregate(e: CoreEvent): [CoreEvent, string] {
    const now = this.#clock.now();
    const aggregateKey = aggregateKeyOf(e);
    let record = this.#aggregates.get(aggregateKey);
    if (!record || now.getTime() - record.last > this.#o.maxIntervalSeconds * 1000)
      record = { localKeys: new Set(), last: 0 };
    record.localKeys.add(e.message);
    record.last = now.getTime();
    this.#aggregates.set(aggregateKey, record);
    const eventKey = eventKeyOf(e);
    if (record.localKeys.size < this.#o.maxEvents)
      return [
        { ...e, metadata: { ...e.metadata, name: nameFor(e.involvedObject.name, eventKey) } },
        eventKey,
      ];
    // Do not grow the set past the threshold (client-go pops any one).
    record.localKeys.delete(record.localKeys.values().next().value as string);
    const t = kubeTime(now);
    return [
      {
        ...e,
        metadata: { name: nameFor(e.involvedObject.name, aggregateKey), namespace: e.metadata.namespace },
        count: 1,
        firstTimestamp: t,
        lastTimestamp: t,
        message: `${AGGREGATE_PREFIX}${e.message}`,
      },
      aggregateKey,
    ];
  }

  /** eventObserve: a repeat takes the first occurrence's name and time, and counts one more. */
  #observe(e: CoreEvent, k: string): { event: CoreEvent; patch?: Record<string, unknown> } {
    const last = this.#observed.get(k);
    let event = e;
    let patch: Record<string, unknown> | undefined;
    if (last && last.count > 0) {
      const count = last.count + 1;
      const counted = countedPatch(count, e.lastTimestamp, e.message);
      patch = counted;
      event = {
        ...e,
        metadata: {
          name: last.name,
          namespace: e.metadata.namespace,
          ...(last.resourceVersion ? { resourceVersion: last.resourceVersion } : {}),
        },
        firstTimestamp: last.firstTimestamp,
        count,
        series: counted.series,
      };
    }
    this.#remember(k, event);
    return { event, ...(patch ? { patch } : {}) };
  }

  /** EventSourceObjectSpamFilter.Filter: true when this source has used up its budget for the object. */
  #isSpam(e: CoreEvent): boolean {
    const k = spamKeyOf(e);
    const bucket = this.#spam.get(k) ?? new TokenBucket(this.#o.burst, this.#o.qps);
    const ok = bucket.tryAccept(this.#clock.now().getTime());
    this.#spam.set(k, bucket);
    return !ok;
  }
}
