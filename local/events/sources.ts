/**
 * The local event sources: every ApiServerSource and PingSource of the eventing manifests, run as
 * Knative's adapters would, sending to their sinks (the local Broker's ingress, or a Service URL).
 */
import { type Clock, systemClock } from '../../shared/clock.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import type { RetryPolicy } from '../broker/delivery.ts';
import { ADAPTER_RETRY, type RunningSource, startApiServerSource } from './apiserver-source.ts';
import { type Addressables, resolveDestination } from './destinations.ts';
import { isApiServerSource, isPingSource, type Manifest } from './knative.ts';
import { type KubeTarget, toKubeConfig } from './kube.ts';
import { loadManifests } from './manifests.ts';
import { type PingMode, type RunningPing, startPingSource } from './ping-source.ts';
import { admitApiServerSource, type Features, featuresIn } from './validation.ts';

export interface EventSourcesOptions {
  /** The eventing manifests: loaded, or a file or folder (kustomization) to load. */
  manifests: Manifest[] | string;
  /** The API server: a KubeConfig, a kubeconfig path, or a URL (the emulator's). */
  kube: KubeTarget;
  /** Where sinks resolve: the local Broker's ingress and the function Services. */
  sinks: Addressables;
  clock?: Clock;
  /** PingSource ticks: on the schedule (default), every `intervalMs`, or only on `firePing()`. */
  ping?: PingMode & { jitterMs?: number };
  /** Send retries (default: the adapters' 5 retries, exponential from 50 ms). */
  retry?: RetryPolicy;
  /** How often a kind that is not served yet (its CRD comes later) is looked for; default 1 s. */
  discoveryRetryMs?: number;
  /**
   * Knative's feature flags (config-features), e.g. `{'new-apiserversource-filters': 'enabled'}`;
   * a `config-features` ConfigMap among the manifests counts too. Default: every Alpha flag off.
   */
  features?: Features;
  /** How long start waits for every watch to open; default 30 s. */
  readyTimeoutMs?: number;
  log?: Logger;
}

export interface EventSources {
  /** `namespace/name` of the sources running. */
  readonly apiServerSources: string[];
  readonly pingSources: string[];
  /** Sends one tick of a PingSource (`namespace/name` or name), or of all of them, now. */
  firePing(name?: string): Promise<void>;
  /** Resolves once every event the sources produced so far was sent (or given up). */
  flushed(): Promise<void>;
  close(): Promise<void>;
}

export async function startEventSources(opts: EventSourcesOptions): Promise<EventSources> {
  const manifests = typeof opts.manifests === 'string' ? await loadManifests(opts.manifests) : opts.manifests;
  const kc = toKubeConfig(opts.kube);
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger({ component: 'event-sources' });
  const retry = opts.retry ?? ADAPTER_RETRY;
  const features = { ...featuresIn(manifests), ...opts.features };
  // Refuse what the eventing webhook would refuse, before anything starts.
  const admitted = manifests.map((m) => (isApiServerSource(m) ? admitApiServerSource(m, features) : m));
  const apiSources = new Map<string, RunningSource>();
  const pings = new Map<string, RunningPing>();
  const key = (m: Manifest) => `${m.metadata.namespace}/${m.metadata.name}`;
  const closeAll = async () => {
    await Promise.all([...apiSources.values(), ...pings.values()].map((s) => s.close()));
  };
  try {
    for (const m of admitted) {
      if (isPingSource(m)) {
        const sinkUrl = resolveDestination(m.spec.sink, m.metadata.namespace, opts.sinks);
        const ticks: PingMode = opts.ping ?? { mode: 'schedule' };
        pings.set(
          key(m),
          startPingSource({
            source: m,
            sinkUrl,
            clock,
            ticks,
            retry,
            log,
            ...(opts.ping?.jitterMs === undefined ? {} : { jitterMs: opts.ping.jitterMs }),
          }),
        );
      } else if (isApiServerSource(m)) {
        const sinkUrl = resolveDestination(m.spec.sink, m.metadata.namespace, opts.sinks);
        apiSources.set(
          key(m),
          startApiServerSource({
            source: m,
            kc,
            sinkUrl,
            log,
            clock,
            retry,
            ...(opts.discoveryRetryMs === undefined ? {} : { discoveryRetryMs: opts.discoveryRetryMs }),
          }),
        );
      }
    }
    const timeout = opts.readyTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...apiSources.values()].map((s) => s.ready)),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the ApiServerSources' watches did not open within ${timeout} ms`)),
          timeout,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  } catch (e) {
    await closeAll();
    throw e;
  }
  log.info('event sources started', {
    apiServerSources: [...apiSources.keys()],
    pingSources: [...pings.keys()],
  });

  return {
    apiServerSources: [...apiSources.keys()],
    pingSources: [...pings.keys()],
    async firePing(name) {
      const selected = [...pings.entries()].filter(
        ([k]) => name === undefined || k === name || k.endsWith(`/${name}`),
      );
      if (selected.length === 0)
        throw new Error(`no PingSource ${name ?? ''} (have ${[...pings.keys()].join(', ')})`);
      await Promise.all(selected.map(([, p]) => p.fire()));
    },
    async flushed() {
      await Promise.all([...apiSources.values()].map((s) => s.flushed()));
    },
    close: closeAll,
  };
}
