/**
 * Resolves a Knative Destination (`sink`, `subscriber`, `deadLetterSink`) to a URL locally, the way
 * Knative's addressable resolver does in a cluster: a Broker to its ingress
 * (`<ingress>/<namespace>/<name>`, the broker-ingress path format), a Service to the URL of the
 * function server the caller started, a `uri` as-is (or relative to the ref's URL).
 */
import type { Destination } from './knative.ts';

export interface Addressables {
  /** Base URL of the local broker's ingress. */
  brokerIngress?: string | undefined;
  /** Knative Service → URL, keyed by `name` or `namespace/name` (the latter wins). */
  services?: Record<string, string> | undefined;
}

export class UnresolvableDestination extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnresolvableDestination';
  }
}

export function resolveDestination(dest: Destination, namespace: string, addr: Addressables): string {
  if (!dest.ref) {
    if (!dest.uri) throw new UnresolvableDestination('a destination needs a ref or a uri');
    return absoluteUri(dest.uri);
  }
  const ns = dest.ref.namespace ?? namespace;
  const { kind, name } = dest.ref;
  let base: string | undefined;
  if (kind === 'Broker') {
    if (!addr.brokerIngress)
      throw new UnresolvableDestination(`Broker ${ns}/${name}: no local broker is running`);
    base = `${addr.brokerIngress.replace(/\/$/, '')}/${ns}/${name}`;
  } else if (kind === 'Service') {
    base = addr.services?.[`${ns}/${name}`] ?? addr.services?.[name];
    if (!base) {
      const known = Object.keys(addr.services ?? {}).join(', ') || 'none';
      throw new UnresolvableDestination(`Service ${ns}/${name}: no local URL for it (known: ${known})`);
    }
  } else {
    throw new UnresolvableDestination(
      `${kind} ${ns}/${name}: the local runtime resolves only Broker and Service`,
    );
  }
  return dest.uri ? new URL(dest.uri, base.endsWith('/') ? base : `${base}/`).toString() : base;
}

function absoluteUri(uri: string): string {
  try {
    return new URL(uri).toString();
  } catch {
    throw new UnresolvableDestination(`uri ${uri} is not absolute`);
  }
}
