/**
 * The parts of Knative's resources (sources.knative.dev/v1, eventing.knative.dev/v1) the local
 * runtime reads from `eventing/`. Only the fields it acts on are typed; the rest passes through.
 */

export interface Meta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec?: unknown;
  [k: string]: unknown;
}

export interface KReference {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** duckv1.Destination: a ref, a URI, or a ref plus a relative URI. */
export interface Destination {
  ref?: KReference;
  uri?: string;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }[];
}

/** One entry of Trigger.spec.filters (or ApiServerSource.spec.filters): exactly one dialect. */
export interface SubscriptionsAPIFilter {
  exact?: Record<string, string>;
  prefix?: Record<string, string>;
  suffix?: Record<string, string>;
  all?: SubscriptionsAPIFilter[];
  any?: SubscriptionsAPIFilter[];
  not?: SubscriptionsAPIFilter;
  cesql?: string;
}

export interface CloudEventOverrides {
  extensions?: Record<string, string>;
}

export interface ApiServerSourceSpec {
  mode?: 'Resource' | 'Reference';
  serviceAccountName?: string;
  resources: { apiVersion: string; kind: string; selector?: LabelSelector }[];
  owner?: { apiVersion?: string; kind?: string };
  namespaceSelector?: LabelSelector;
  filters?: SubscriptionsAPIFilter[];
  sink: Destination;
  ceOverrides?: CloudEventOverrides;
}

export interface PingSourceSpec {
  schedule?: string;
  timezone?: string;
  contentType?: string;
  data?: string;
  dataBase64?: string;
  sink: Destination;
  ceOverrides?: CloudEventOverrides;
}

export interface DeliverySpec {
  retry?: number;
  backoffPolicy?: 'exponential' | 'linear';
  /** ISO 8601 duration, e.g. PT0.2S. */
  backoffDelay?: string;
  /** ISO 8601 duration of one attempt. */
  timeout?: string;
  deadLetterSink?: Destination;
}

export interface TriggerSpec {
  broker: string;
  filter?: { attributes?: Record<string, string> };
  filters?: SubscriptionsAPIFilter[];
  subscriber: Destination;
  delivery?: DeliverySpec;
}

export interface BrokerSpec {
  delivery?: DeliverySpec;
}

export type ApiServerSource = Manifest & { kind: 'ApiServerSource'; spec: ApiServerSourceSpec };
export type PingSource = Manifest & { kind: 'PingSource'; spec: PingSourceSpec };
export type Trigger = Manifest & { kind: 'Trigger'; spec: TriggerSpec };
export type Broker = Manifest & { kind: 'Broker'; spec?: BrokerSpec };

const SOURCES = 'sources.knative.dev/';
const EVENTING = 'eventing.knative.dev/';

export function isApiServerSource(m: Manifest): m is ApiServerSource {
  return m.kind === 'ApiServerSource' && m.apiVersion.startsWith(SOURCES);
}
export function isPingSource(m: Manifest): m is PingSource {
  return m.kind === 'PingSource' && m.apiVersion.startsWith(SOURCES);
}
export function isTrigger(m: Manifest): m is Trigger {
  return m.kind === 'Trigger' && m.apiVersion.startsWith(EVENTING);
}
export function isBroker(m: Manifest): m is Broker {
  return m.kind === 'Broker' && m.apiVersion.startsWith(EVENTING);
}
