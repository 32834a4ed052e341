/**
 * The local Broker: an HTTP ingress (`POST <url>/<namespace>/<broker>`, binary or structured
 * CloudEvents, answered 202 like Knative's broker-ingress), the Triggers of the eventing
 * manifests as filters, delivery to each matching subscriber in binary mode with retries, replies
 * fed back into the same Broker, and a record of every event under `<stateDir>/events/`.
 *
 * Like the MT broker, it keeps a TTL (`knativebrokerttl`, default 255) on each event: subscribers
 * never see it, a reply carries the TTL of the event that caused it minus one, and an event at 0 is
 * dropped, so a function that answers its own Trigger cannot loop forever.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudEvent, HTTP } from 'cloudevents';
import { type Clock, systemClock } from '../../shared/clock.ts';
import { type CloudEventLike, eventFromStructured, toStructured } from '../../shared/events.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { resolveDestination, UnresolvableDestination } from '../events/destinations.ts';
import {
  type Broker,
  type Destination,
  isBroker,
  isTrigger,
  type Manifest,
  type Trigger,
} from '../events/knative.ts';
import { loadManifests } from '../events/manifests.ts';
import { DEFAULT_RETRY, deliver, isTextual, type RetryPolicy, retryPolicyOf } from './delivery.ts';
import { type EventPredicate, triggerPredicate } from './filter.ts';
import { KeyedQueue } from './queue.ts';
import { type DeliveryRecord, type EventRecord, EventRecorder } from './records.ts';

export const TTL_ATTRIBUTE = 'knativebrokerttl';

export interface BrokerOptions {
  /** The Brokers and Triggers: loaded manifests, or a file or folder (kustomization) to load. */
  manifests: Manifest[] | string;
  /**
   * Knative Service → URL of the function server, keyed by `name` or `namespace/name`. Read at
   * each delivery, so the caller may fill it in after start.
   */
  services: Record<string, string>;
  /** Events are recorded under `<stateDir>/events/`. */
  stateDir: string;
  /** Ingress port; 0 (default) picks a free one. */
  port?: number;
  host?: string;
  /** Local defaults under the Broker's and Trigger's own `delivery` (default: 5 retries, exponential from 200 ms). */
  retry?: Partial<RetryPolicy>;
  /** Wins over every `delivery` in the manifests (tests use it to retry fast). */
  retryOverride?: Partial<RetryPolicy>;
  /** Deliveries in flight at once over all Triggers; default 8. */
  concurrency?: number;
  /** Initial TTL of an event entering the Broker; default 255. */
  ttl?: number;
  /** Record events under stateDir (default true). */
  record?: boolean;
  clock?: Clock;
  log?: Logger;
}

export interface LocalBroker {
  /** Base URL of the ingress; a Broker's address is `<url>/<namespace>/<name>`. */
  readonly url: string;
  ingressUrl(namespace: string, name: string): string;
  /** Puts an event into a Broker in-process (what a POST to the ingress does). */
  publish(ev: CloudEventLike, broker: { namespace: string; name: string }): Promise<void>;
  /** Resolves once no event is being accepted, queued, delivered or recorded. */
  idle(): Promise<void>;
  /** Stops accepting, aborts retries in progress (recorded as aborted), closes the ingress. */
  close(): Promise<void>;
}

interface CompiledTrigger {
  key: string;
  namespace: string;
  broker: string;
  matches: EventPredicate;
  subscriber: Destination;
  subscriberName: string;
  policy: RetryPolicy;
  deadLetterSink: Destination | undefined;
}

export async function startBroker(opts: BrokerOptions): Promise<LocalBroker> {
  const manifests = typeof opts.manifests === 'string' ? await loadManifests(opts.manifests) : opts.manifests;
  const b = new BrokerImpl(opts, manifests);
  await b.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  return b;
}

class BrokerImpl implements LocalBroker {
  url = '';
  readonly #opts: BrokerOptions;
  readonly #brokers = new Set<string>();
  readonly #triggers: CompiledTrigger[] = [];
  readonly #queue: KeyedQueue;
  readonly #recorder: EventRecorder | undefined;
  readonly #abort = new AbortController();
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #ttl: number;
  #server: Server | undefined;
  #closed = false;

  constructor(opts: BrokerOptions, manifests: Manifest[]) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.log ?? createLogger({ component: 'broker' });
    this.#ttl = opts.ttl ?? 255;
    this.#queue = new KeyedQueue(opts.concurrency ?? 8);
    this.#recorder = opts.record === false ? undefined : new EventRecorder(opts.stateDir);
    const base = { ...DEFAULT_RETRY, ...opts.retry };
    const brokers = new Map<string, Broker>();
    for (const m of manifests) {
      if (isBroker(m)) brokers.set(`${m.metadata.namespace}/${m.metadata.name}`, m);
    }
    for (const key of brokers.keys()) this.#brokers.add(key);
    for (const m of manifests) {
      if (!isTrigger(m)) continue;
      this.#triggers.push(this.#compile(m, brokers, base));
    }
  }

  #compile(t: Trigger, brokers: Map<string, Broker>, base: RetryPolicy): CompiledTrigger {
    const ns = t.metadata.namespace;
    const key = `${ns}/${t.metadata.name}`;
    const brokerKey = `${ns}/${t.spec.broker}`;
    this.#brokers.add(brokerKey);
    let matches: EventPredicate;
    try {
      matches = triggerPredicate(t.spec);
    } catch (e) {
      throw new Error(`Trigger ${key}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const brokerDelivery = brokers.get(brokerKey)?.spec?.delivery;
    const policy = {
      ...retryPolicyOf(t.spec.delivery ?? brokerDelivery, base),
      ...this.#opts.retryOverride,
    };
    const sub = t.spec.subscriber;
    return {
      key,
      namespace: ns,
      broker: t.spec.broker,
      matches,
      subscriber: sub,
      subscriberName: sub.ref ? sub.ref.name : (sub.uri ?? '?'),
      policy,
      deadLetterSink: t.spec.delivery?.deadLetterSink ?? brokerDelivery?.deadLetterSink,
    };
  }

  listen(port: number, host: string): Promise<void> {
    const server = createServer((req, res) => {
      this.#ingress(req).then(
        ([status, text]) => res.writeHead(status, { 'content-type': 'text/plain' }).end(text),
        (e: unknown) => {
          this.#log.error('ingress failed', { error: e });
          res.writeHead(500).end(String(e));
        },
      );
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const addr = server.address() as AddressInfo;
        this.url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
        resolve();
      });
    });
  }

  ingressUrl(namespace: string, name: string): string {
    return `${this.url}/${namespace}/${name}`;
  }

  async #ingress(req: IncomingMessage): Promise<[number, string]> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const m = /^\/([^/]+)\/([^/]+)\/?$/.exec(path);
    if (!m) return [404, 'expected POST /<namespace>/<broker>'];
    const [namespace, name] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
    if (!this.#brokers.has(`${namespace}/${name}`)) return [404, `broker ${namespace}/${name} not found`];
    if (req.method !== 'POST') return [405, 'only POST'];
    if (this.#closed) return [503, 'broker is shutting down'];
    const raw = await readBody(req);
    const headers = req.headers as Record<string, string>;
    let ev: unknown;
    try {
      ev = HTTP.toEvent({ headers, body: isTextual(headers['content-type']) ? raw.toString('utf8') : raw });
    } catch (e) {
      return [400, `not a valid CloudEvent: ${e instanceof Error ? e.message : String(e)}`];
    }
    if (Array.isArray(ev)) return [400, 'batched events are not accepted'];
    await this.publish(ev as CloudEventLike, { namespace, name });
    return [202, ''];
  }

  publish(ev: CloudEventLike, broker: { namespace: string; name: string }): Promise<void> {
    return this.#queue.track(this.#accept(ev, broker));
  }

  async #accept(ev: CloudEventLike, broker: { namespace: string; name: string }): Promise<void> {
    const attrs = toStructured(ev);
    const ttl = attrs[TTL_ATTRIBUTE] === undefined ? this.#ttl : Number(attrs[TTL_ATTRIBUTE]);
    delete attrs[TTL_ATTRIBUTE];
    const brokerKey = `${broker.namespace}/${broker.name}`;
    const log = this.#log.child({
      broker: brokerKey,
      eventId: attrs.id,
      type: attrs.type,
      subject: attrs.subject,
    });
    if (!(ttl > 0)) {
      log.warn('event dropped: its TTL is exhausted (a reply loop?)');
      return;
    }
    const event = eventFromStructured(attrs);
    const record: EventRecord = {
      event: attrs,
      broker: brokerKey,
      receivedAt: this.#clock.now().toISOString(),
      ttl,
      state: 'pending',
      deliveries: [],
    };
    const file = this.#recorder?.fileFor(new Date(record.receivedAt), String(attrs.type), String(attrs.id));
    const save = () => (file ? this.#recorder!.write(file, record) : Promise.resolve());
    const matching = this.#triggers.filter(
      (t) => t.namespace === broker.namespace && t.broker === broker.name && t.matches(attrs),
    );
    log.debug('event accepted', { triggers: matching.map((t) => t.key) });
    if (matching.length === 0) record.state = 'done';
    await save();
    if (matching.length === 0) return;
    const orderKey = typeof attrs.subject === 'string' ? attrs.subject : String(attrs.id);
    const runs = matching.map((t) =>
      this.#queue.run(`${t.key}|${orderKey}`, async () => {
        const d = await this.#deliver(t, event, ttl, broker, log);
        record.deliveries.push(d);
        await save();
      }),
    );
    void this.#queue.track(
      Promise.allSettled(runs).then(() => {
        record.state = 'done';
        return save();
      }),
    );
  }

  async #deliver(
    t: CompiledTrigger,
    event: CloudEvent<unknown>,
    ttl: number,
    broker: { namespace: string; name: string },
    log: Logger,
  ): Promise<DeliveryRecord> {
    const started = Date.now();
    const base = { trigger: t.key, subscriber: t.subscriberName, time: this.#clock.now().toISOString() };
    let url: string;
    try {
      url = this.#resolve(t.subscriber, t.namespace);
    } catch (e) {
      if (!(e instanceof UnresolvableDestination)) throw e;
      log.error('subscriber cannot be resolved', { trigger: t.key, error: e.message });
      return {
        ...base,
        url: undefined,
        result: 'unresolvable',
        status: 0,
        attempts: 0,
        durationMs: 0,
        error: e.message,
      };
    }
    const r = await deliver(event, url, t.policy, this.#abort.signal, (n, a) => {
      if (!a.ok)
        log.warn('delivery attempt failed', {
          trigger: t.key,
          url,
          attempt: n,
          status: a.status,
          error: a.error,
        });
    });
    const rec: DeliveryRecord = {
      ...base,
      url,
      result: r.ok ? 'delivered' : r.aborted ? 'aborted' : 'failed',
      status: r.status,
      attempts: r.attempts,
      durationMs: Date.now() - started,
      ...(r.error === undefined ? {} : { error: r.error }),
    };
    if (r.ok && r.reply) {
      rec.reply = { id: r.reply.id, type: r.reply.type };
      const reply = toStructured(r.reply);
      reply[TTL_ATTRIBUTE] = ttl - 1;
      // Tracked before this delivery counts as done, so idle() waits for the reply's deliveries too.
      void this.publish(reply, broker).catch((e: unknown) => log.error('reply not accepted', { error: e }));
    }
    if (!r.ok && !r.aborted) {
      log.error('delivery failed', {
        trigger: t.key,
        url,
        status: r.status,
        attempts: r.attempts,
        error: r.error,
      });
      if (t.deadLetterSink) rec.deadLetter = await this.#deadLetter(t, event, url, r.status, r.error ?? '');
    }
    return rec;
  }

  async #deadLetter(
    t: CompiledTrigger,
    event: CloudEvent<unknown>,
    dest: string,
    status: number,
    error: string,
  ): Promise<NonNullable<DeliveryRecord['deadLetter']>> {
    let url: string;
    try {
      url = this.#resolve(t.deadLetterSink!, t.namespace);
    } catch (e) {
      return { url: '', status: 0, error: e instanceof Error ? e.message : String(e) };
    }
    // Knative adds these extensions to a dead-lettered event.
    const dl = new CloudEvent<unknown>({
      ...toStructured(event),
      knativeerrordest: dest,
      knativeerrorcode: String(status),
      knativeerrordata: Buffer.from(error.slice(0, 1024)).toString('base64'),
    });
    const r = await deliver(dl, url, t.policy, this.#abort.signal);
    return { url, status: r.status, ...(r.ok ? {} : { error: r.error ?? 'failed' }) };
  }

  #resolve(dest: Destination, namespace: string): string {
    return resolveDestination(dest, namespace, { brokerIngress: this.url, services: this.#opts.services });
  }

  idle(): Promise<void> {
    return this.#queue.idle();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    await this.#queue.idle();
    await this.#recorder?.flush();
    const server = this.#server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }
}

const MAX_BODY = 10 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error(`event larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
