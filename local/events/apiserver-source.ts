/**
 * One ApiServerSource, run locally as Knative's adapter runs it (pkg/adapter/apiserver):
 *
 * - each `spec.resources[]` entry is found through discovery (retried until its CRD exists) and
 *   watched with its label selector, in the source's namespace, or in every namespace when
 *   `namespaceSelector` is set (objects of namespaces whose labels do not match are dropped);
 * - only watch deltas become events (ADDED→add, MODIFIED→update, DELETED→delete): the initial list
 *   and a relist after 410 Gone send nothing, as the adapter's store ignores Replace;
 * - `owner` keeps only objects whose controller ownerReference matches; `filters` (the Trigger
 *   dialects) and `ceOverrides.extensions` apply to the event;
 * - events go to the sink one at a time, in watch order, in binary mode, with the adapter's
 *   retries (5, exponential from 50 ms); a send that still fails is logged and dropped.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { CloudEvent } from 'cloudevents';
import { CloudEvent as Event } from 'cloudevents';
import { type Clock, systemClock } from '../../shared/clock.ts';
import type { ResourceAction } from '../../shared/event-types.ts';
import { type KubeObjectLike, resourceEvent, selfLink } from '../../shared/events.ts';
import type { Logger } from '../../shared/log.ts';
import { deliver, type RetryPolicy } from '../broker/delivery.ts';
import { compileAll, type EventPredicate } from '../broker/filter.ts';
import type { ApiServerSource } from './knative.ts';
import {
  discover,
  type KubeObject,
  type ResourceInfo,
  selectorMatches,
  selectorString,
  serverOf,
  type WatchLoop,
  watchLoop,
} from './kube.ts';

/** The adapter's send retries: cloudevents.ContextWithRetriesExponentialBackoff(ctx, 50ms, 5). */
export const ADAPTER_RETRY: RetryPolicy = {
  retry: 5,
  backoffPolicy: 'exponential',
  backoffDelayMs: 50,
  timeoutMs: 30_000,
};

const ACTIONS: Record<'ADDED' | 'MODIFIED' | 'DELETED', ResourceAction> = {
  ADDED: 'add',
  MODIFIED: 'update',
  DELETED: 'delete',
};

export interface ApiServerSourceOptions {
  source: ApiServerSource;
  kc: KubeConfig;
  sinkUrl: string;
  log: Logger;
  clock?: Clock;
  retry?: RetryPolicy;
  /** Delay between discovery attempts while a kind is not served yet; default 1 s. */
  discoveryRetryMs?: number;
}

export interface RunningSource {
  /** Resolves once every resource is watched. */
  ready: Promise<void>;
  /** Resolves once every event queued so far was sent (or given up). */
  flushed(): Promise<void>;
  close(): Promise<void>;
}

export function startApiServerSource(opts: ApiServerSourceOptions): RunningSource {
  const { source, kc } = opts;
  const spec = source.spec;
  const ns = source.metadata.namespace;
  const log = opts.log.child({ apiServerSource: `${ns}/${source.metadata.name}` });
  const clock = opts.clock ?? systemClock;
  const server = serverOf(kc);
  // Knative defaults a missing mode to Reference (validation.ts; startEventSources admits the spec).
  const refMode = (spec.mode || 'Reference') === 'Reference';
  const filter: EventPredicate | undefined = spec.filters?.length
    ? compileAll(spec.filters, 'spec.filters')
    : undefined;
  const allNamespaces = spec.namespaceSelector !== undefined;
  const nsSelector = spec.namespaceSelector;
  const nsFilterNeeded =
    allNamespaces &&
    (Object.keys(nsSelector?.matchLabels ?? {}).length > 0 ||
      (nsSelector?.matchExpressions ?? []).length > 0);
  const namespaceLabels = new Map<string, Record<string, string>>();
  const abort = new AbortController();
  const loops: WatchLoop[] = [];
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  const send = (ev: CloudEvent<unknown>) => {
    chain = chain.then(async () => {
      const r = await deliver(ev, opts.sinkUrl, opts.retry ?? ADAPTER_RETRY, abort.signal);
      if (!r.ok && !r.aborted) {
        log.error('failed to send cloudevent', {
          id: ev.id,
          subject: ev.subject,
          status: r.status,
          error: r.error,
        });
      }
    });
  };

  const onEvent = (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject, info: ResourceInfo) => {
    const o = {
      ...obj,
      apiVersion: obj.apiVersion ?? info.apiVersion,
      kind: obj.kind ?? info.kind,
    } as KubeObjectLike;
    if (spec.owner && !ownedBy(o, spec.owner)) return;
    const objNs = obj.metadata?.namespace ?? '';
    if (nsFilterNeeded && objNs && !selectorMatches(nsSelector, namespaceLabels.get(objNs))) return;
    let ev = refMode
      ? refEvent(ACTIONS[type], o, server, clock)
      : resourceEvent(ACTIONS[type], o, { source: server, time: clock.now() });
    if (filter && !filter(ev)) return;
    if (spec.ceOverrides?.extensions) ev = ev.cloneWith(spec.ceOverrides.extensions);
    send(ev);
  };

  const openWatches = async (entry: (typeof spec.resources)[number], found: ResourceInfo) => {
    const namespaces = found.namespaced && !allNamespaces ? [ns] : [undefined];
    for (const namespace of namespaces) {
      if (closed) return;
      const loop = watchLoop({
        kc,
        resource: found,
        namespace,
        labelSelector: selectorString(entry.selector),
        onEvent: (type, obj) => onEvent(type, obj, found),
        log,
      });
      loops.push(loop);
      await loop.ready;
    }
  };

  // A kind that is not served yet (its CRD comes later) does not hold up the start: it is looked
  // for again in the background and watched once it appears.
  const watchResource = async (entry: (typeof spec.resources)[number]) => {
    const lookup = () => discover(kc, entry.apiVersion, entry.kind).catch((e: unknown) => e as Error);
    const first = await lookup();
    if (first && !(first instanceof Error)) return openWatches(entry, first);
    log.warn('resource not served (yet); will keep looking', {
      apiVersion: entry.apiVersion,
      kind: entry.kind,
      ...(first instanceof Error ? { error: first.message } : {}),
    });
    void (async () => {
      while (!closed) {
        await new Promise((r) => setTimeout(r, opts.discoveryRetryMs ?? 1000));
        const info = closed ? undefined : await lookup();
        if (info && !(info instanceof Error)) {
          log.info('resource now served; watching it', { apiVersion: entry.apiVersion, kind: entry.kind });
          return openWatches(entry, info);
        }
      }
    })();
  };

  const ready = (async () => {
    if (nsFilterNeeded) {
      const nsInfo: ResourceInfo = {
        apiVersion: 'v1',
        kind: 'Namespace',
        plural: 'namespaces',
        namespaced: false,
      };
      const remember = (o: KubeObject) =>
        namespaceLabels.set(o.metadata?.name ?? '', (o.metadata?.labels ?? {}) as Record<string, string>);
      const loop = watchLoop({
        kc,
        resource: nsInfo,
        onList: (items) => {
          for (const o of items) remember(o);
        },
        onEvent: (type, o) =>
          type === 'DELETED' ? namespaceLabels.delete(o.metadata?.name ?? '') : remember(o),
        log,
      });
      loops.push(loop);
      await loop.ready;
    }
    await Promise.all(spec.resources.map(watchResource));
  })();

  return {
    ready,
    flushed: () => chain,
    async close() {
      closed = true;
      for (const l of loops) l.stop();
      abort.abort();
      await chain;
    },
  };
}

/** metav1.GetControllerOf + the adapter's controllerFilter. */
function ownedBy(o: KubeObjectLike, owner: { apiVersion?: string; kind?: string }): boolean {
  const refs = (o.metadata?.ownerReferences ?? []) as {
    apiVersion?: string;
    kind?: string;
    controller?: boolean;
  }[];
  const c = refs.find((r) => r.controller === true);
  if (!c) return false;
  return (!owner.apiVersion || owner.apiVersion === c.apiVersion) && (!owner.kind || owner.kind === c.kind);
}

/** Reference mode: data is the object reference only. */
function refEvent(
  action: ResourceAction,
  o: KubeObjectLike,
  source: string,
  clock: Clock,
): CloudEvent<unknown> {
  const ref = {
    apiVersion: String(o.apiVersion),
    kind: String(o.kind),
    name: String(o.metadata?.name),
    namespace: String(o.metadata?.namespace ?? ''),
  };
  const data: Record<string, string> = { apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name };
  if (ref.namespace) data.namespace = ref.namespace;
  return new Event<unknown>({
    type: `dev.knative.apiserver.ref.${action}`,
    source,
    subject: selfLink(ref),
    time: clock.now().toISOString(),
    datacontenttype: 'application/json',
    data,
    kind: ref.kind,
    apiversion: ref.apiVersion,
    name: ref.name,
    namespace: ref.namespace,
  });
}
