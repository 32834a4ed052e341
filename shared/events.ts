/**
 * CloudEvents in and out of Cairn, in the exact shapes Knative's sources emit.
 *
 * ApiServerSource, Resource mode (knative.dev/eventing pkg/adapter/apiserver/events):
 *   type     dev.knative.apiserver.resource.{add|update|delete}
 *   source   the API server URL as the adapter sees it (e.g. https://10.96.0.1:443)
 *   subject  /apis/<apiVersion>/namespaces/<ns>/<guessed plural>/<name>; core objects too use
 *            /apis/v1/…; the plural is apimachinery's UnsafeGuessKindToResource (see guessPlural)
 *   extensions kind, apiversion, name, namespace (empty for cluster-scoped objects)
 *   datacontenttype application/json; data = the whole object (delete: its last state)
 *
 * PingSource (pkg/adapter/mtping):
 *   type dev.knative.sources.ping, source /apis/v1/namespaces/<ns>/pingsources/<name>,
 *   no subject, data = spec.data (or dataBase64) with datacontenttype = spec.contentType.
 *
 * Cairn's own result events (dev.cairn.*), replied by the functions:
 *   source   `cairn/<function-name>` (functionSource): who decided it;
 *   subject  the self link of the object the event is about, in the ApiServerSource format, and
 *            the same extensions (kind, apiversion, name, namespace), so the Trigger filters that
 *            work for resource events (e.g. `namespace: prod`) work for these too;
 *   data     a JSON object the function chooses; it never carries credentials.
 *
 * Parsing checks fields, never `instanceof`: faas-js-runtime hands handlers events built by its own
 * cloudevents 8, and recorded events come back as plain JSON.
 */
import { CloudEvent, ValidationError } from 'cloudevents';
import { InvalidEvent } from './errors.ts';
import {
  actionOf,
  CAIRN_EVENT_TYPE_PREFIX,
  CAIRN_SOURCE_PREFIX,
  type CairnEventType,
  isCairnEventType,
  isResourceEventType,
  PING_EVENT_TYPE,
  REF_EVENT_TYPE_PREFIX,
  RESOURCE_EVENT_TYPES,
  type ResourceAction,
} from './event-types.ts';

/** The least of a Kubernetes object that events need; anything else passes through. */
export interface KubeObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  /** Empty or absent for cluster-scoped objects. */
  namespace?: string;
}

/** The fields of a CloudEvent as any version of the SDK (or JSON.parse) presents them. */
export interface CloudEventLike {
  specversion?: string;
  id?: string;
  type?: string;
  source?: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  data?: unknown;
  data_base64?: string;
  [attribute: string]: unknown;
}

export type EventKind = 'resource' | 'ping' | 'cairn' | 'unknown';

export interface BuildOptions {
  /** Defaults to a UUID v4, as the Knative adapters do. */
  id?: string;
  /** Defaults to now (the adapters' clients set it on send). Pass the injected clock's time. */
  time?: Date | string;
}

// ---------------------------------------------------------------------------------------------
// Subjects

/** apimachinery's UnsafeGuessKindToResource: `Pod`→pods, `BackupPolicy`→backuppolicies, `Ingress`→ingresses. */
export function guessPlural(kind: string): string {
  const s = kind.toLowerCase();
  if (s === '' || s.endsWith('endpoints')) return s;
  if (s.endsWith('s')) return `${s}es`;
  if (s.endsWith('y')) return `${s.slice(0, -1)}ies`;
  return `${s}s`;
}

/** The ApiServerSource subject of an object (its pre-1.20 selfLink, with the adapter's quirks). */
export function selfLink(ref: ObjectRef): string {
  let version = ref.apiVersion;
  // The adapter's "versionNameHack": a group without a version gets "/versionUnknown".
  if (version.includes('.') && !version.includes('/')) version = `${version}/versionUnknown`;
  return `/apis/${version}/namespaces/${ref.namespace ?? ''}/${guessPlural(ref.kind)}/${ref.name}`;
}

export function refOf(obj: KubeObjectLike): ObjectRef {
  const name = obj.metadata?.name;
  if (typeof obj.apiVersion !== 'string' || obj.apiVersion === '')
    throw new InvalidEvent('object has no apiVersion', 'apiVersion');
  if (typeof obj.kind !== 'string' || obj.kind === '') throw new InvalidEvent('object has no kind', 'kind');
  if (typeof name !== 'string' || name === '')
    throw new InvalidEvent('object has no metadata.name', 'metadata.name');
  return { apiVersion: obj.apiVersion, kind: obj.kind, name, namespace: obj.metadata?.namespace ?? '' };
}

function refExtensions(ref: ObjectRef): Record<string, string> {
  return { kind: ref.kind, apiversion: ref.apiVersion, name: ref.name, namespace: ref.namespace ?? '' };
}

function timeOf(opts: BuildOptions): { time?: string; id?: string } {
  const out: { time?: string; id?: string } = {};
  if (opts.id !== undefined) out.id = opts.id;
  if (opts.time !== undefined) out.time = typeof opts.time === 'string' ? opts.time : opts.time.toISOString();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Builders

/** The event ApiServerSource (Resource mode) sends for one watch delta of `obj`. */
export function resourceEvent<T extends KubeObjectLike>(
  action: ResourceAction,
  obj: T,
  opts: { source: string } & BuildOptions,
): CloudEvent<T> {
  const ref = refOf(obj);
  return new CloudEvent<T>({
    ...timeOf(opts),
    type: RESOURCE_EVENT_TYPES[action],
    source: opts.source,
    subject: selfLink(ref),
    datacontenttype: 'application/json',
    data: obj,
    ...refExtensions(ref),
  });
}

export function pingSource(namespace: string, name: string): string {
  return `/apis/v1/namespaces/${namespace}/pingsources/${name}`;
}

export interface PingEventOptions extends BuildOptions {
  namespace: string;
  name: string;
  /**
   * The PingSource's `spec.data`. A string is sent as-is; with contentType application/json (the
   * default when data is given) it is parsed, so the event holds what a receiver would see.
   * An object is taken as already-parsed JSON.
   */
  data?: string | Uint8Array | Record<string, unknown> | unknown[];
  /**
   * `spec.contentType`; default application/json when data is given. `''` stands for a PingSource
   * without contentType: the data goes as-is, with no datacontenttype.
   */
  contentType?: string;
  /** `spec.ceOverrides.extensions`. */
  extensions?: Record<string, string>;
}

/** The event PingSource sends on each tick. */
export function pingEvent(opts: PingEventOptions): CloudEvent<unknown> {
  const attrs: Record<string, unknown> = {
    ...opts.extensions,
    ...timeOf(opts),
    type: PING_EVENT_TYPE,
    source: pingSource(opts.namespace, opts.name),
  };
  if (opts.data !== undefined) {
    const contentType = opts.contentType ?? 'application/json';
    if (contentType !== '') attrs.datacontenttype = contentType;
    const text =
      typeof opts.data === 'string'
        ? opts.data
        : isBinary(opts.data)
          ? Buffer.from(opts.data).toString()
          : null;
    attrs.data = text !== null && isJsonType(contentType) ? parseJson(text, 'data') : opts.data;
  }
  return new CloudEvent<unknown>(attrs);
}

/** The `source` of the events a function replies with. */
export function functionSource(functionName: string): string {
  return `${CAIRN_SOURCE_PREFIX}${functionName}`;
}

export interface CairnEventOptions<D> extends BuildOptions {
  /** The object the event is about (its self link and extensions are used), or a subject string. */
  subject: ObjectRef | KubeObjectLike | string;
  /** Who produced it: `functionSource('job-watcher')`. */
  source: string;
  data: D;
}

/** A Cairn result event (`dev.cairn.*`), to reply from a function or send to a broker. */
export function cairnEvent<D extends Record<string, unknown>>(
  type: CairnEventType,
  opts: CairnEventOptions<D>,
): CloudEvent<D> {
  if (!isCairnEventType(type)) throw new InvalidEvent(`not a Cairn event type: ${String(type)}`, 'type');
  let subject: string;
  let ext: Record<string, string> = {};
  if (typeof opts.subject === 'string') {
    subject = opts.subject;
  } else {
    const ref = isObjectRef(opts.subject) ? opts.subject : refOf(opts.subject);
    subject = selfLink(ref);
    ext = refExtensions(ref);
  }
  return new CloudEvent<D>({
    ...ext,
    ...timeOf(opts),
    type,
    source: opts.source,
    subject,
    datacontenttype: 'application/json',
    data: opts.data,
  });
}

function isObjectRef(v: ObjectRef | KubeObjectLike): v is ObjectRef {
  return typeof v.name === 'string' && typeof v.kind === 'string' && typeof v.apiVersion === 'string';
}

// ---------------------------------------------------------------------------------------------
// Parsers

export interface ParsedResourceEvent<T extends KubeObjectLike = KubeObjectLike> {
  action: ResourceAction;
  object: T;
  kind: string;
  apiVersion: string;
  name: string;
  /** '' for cluster-scoped objects. */
  namespace: string;
  id: string;
  source: string;
  subject: string | undefined;
  time: string | undefined;
}

/** Reads an ApiServerSource (Resource mode) event; throws InvalidEvent naming what is wrong. */
export function parseResourceEvent<T extends KubeObjectLike = KubeObjectLike>(
  ev: unknown,
): ParsedResourceEvent<T> {
  const e = asEvent(ev);
  const type = e.type;
  if (type.startsWith(REF_EVENT_TYPE_PREFIX)) {
    throw new InvalidEvent(
      `type: ${type} is a Reference-mode event; Cairn's ApiServerSources must use mode: Resource`,
      'type',
    );
  }
  if (!isResourceEventType(type)) {
    throw new InvalidEvent(
      `type: expected dev.knative.apiserver.resource.add|update|delete, got ${type}`,
      'type',
    );
  }
  const kind = stringExt(e, 'kind');
  const apiVersion = stringExt(e, 'apiversion');
  const name = stringExt(e, 'name');
  const namespace = stringExt(e, 'namespace', true);
  const object = dataObject(e) as T;
  const meta = object.metadata;
  if (typeof meta !== 'object' || meta === null || meta.name !== name) {
    throw new InvalidEvent(
      `data.metadata.name does not match the name attribute "${name}"`,
      'data.metadata.name',
    );
  }
  if (object.kind !== undefined && object.kind !== kind) {
    throw new InvalidEvent(
      `data.kind ${String(object.kind)} does not match the kind attribute "${kind}"`,
      'data.kind',
    );
  }
  return {
    action: actionOf(type),
    object,
    kind,
    apiVersion,
    name,
    namespace,
    id: e.id,
    source: e.source,
    subject: optionalString(e, 'subject'),
    time: optionalString(e, 'time'),
  };
}

export interface ParsedPingEvent {
  namespace: string;
  name: string;
  /** Parsed JSON for JSON content types, a string for text, a Buffer for anything else. */
  data: unknown;
  id: string;
  time: string | undefined;
}

const PING_SOURCE = /^\/apis\/v1\/namespaces\/([^/]+)\/pingsources\/([^/]+)$/;

/** Reads a PingSource event; throws InvalidEvent naming what is wrong. */
export function parsePingEvent(ev: unknown): ParsedPingEvent {
  const e = asEvent(ev);
  if (e.type !== PING_EVENT_TYPE)
    throw new InvalidEvent(`type: expected ${PING_EVENT_TYPE}, got ${e.type}`, 'type');
  const m = PING_SOURCE.exec(e.source);
  if (!m) {
    throw new InvalidEvent(
      `source: expected /apis/v1/namespaces/<ns>/pingsources/<name>, got ${e.source}`,
      'source',
    );
  }
  return { namespace: m[1]!, name: m[2]!, data: dataValue(e), id: e.id, time: optionalString(e, 'time') };
}

export interface ParsedCairnEvent<D = Record<string, unknown>> {
  type: CairnEventType;
  source: string;
  subject: string | undefined;
  /** Present when the event was built from an object reference. */
  ref: ObjectRef | undefined;
  data: D;
  id: string;
  time: string | undefined;
}

/** Reads a `dev.cairn.*` event; throws InvalidEvent naming what is wrong. */
export function parseCairnEvent<D = Record<string, unknown>>(ev: unknown): ParsedCairnEvent<D> {
  const e = asEvent(ev);
  if (!isCairnEventType(e.type)) throw new InvalidEvent(`type: not a Cairn event type: ${e.type}`, 'type');
  const kind = optionalString(e, 'kind');
  const apiVersion = optionalString(e, 'apiversion');
  const name = optionalString(e, 'name');
  const ref =
    kind && apiVersion && name
      ? { kind, apiVersion, name, namespace: optionalString(e, 'namespace') ?? '' }
      : undefined;
  return {
    type: e.type,
    source: e.source,
    subject: optionalString(e, 'subject'),
    ref,
    data: dataObject(e) as D,
    id: e.id,
    time: optionalString(e, 'time'),
  };
}

/** Which family an event belongs to, by its type alone (for routing in the all-in-one service). */
export function eventKind(ev: unknown): EventKind {
  const type = typeof ev === 'object' && ev !== null ? (ev as CloudEventLike).type : undefined;
  if (typeof type !== 'string') return 'unknown';
  if (isResourceEventType(type)) return 'resource';
  if (type === PING_EVENT_TYPE) return 'ping';
  if (type.startsWith(CAIRN_EVENT_TYPE_PREFIX)) return 'cairn';
  return 'unknown';
}

// ---------------------------------------------------------------------------------------------
// Structured JSON (recording and replay)

/** The structured-mode JSON of an event, whichever SDK (or none) built it. */
export function toStructured(ev: CloudEventLike): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ev)) {
    if (v === undefined || typeof v === 'function') continue;
    if (k === 'data' && isBinary(v)) continue; // data_base64 carries it
    out[k] = v;
  }
  if (isBinary(ev.data) && out.data_base64 === undefined)
    out.data_base64 = Buffer.from(ev.data).toString('base64');
  return out;
}

/**
 * A CloudEvent from structured-mode JSON: a bare event, or a recording of the local broker
 * (`{event: {...}, deliveries: [...]}`). Throws InvalidEvent when it is not a valid event.
 */
export function eventFromStructured(json: unknown): CloudEvent<unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidEvent('a structured CloudEvent must be a JSON object');
  }
  const rec = json as Record<string, unknown>;
  const body =
    typeof rec.event === 'object' && rec.event !== null && rec.specversion === undefined ? rec.event : rec;
  const attrs = { ...(body as Record<string, unknown>) };
  if (typeof attrs.data_base64 === 'string' && attrs.data === undefined) {
    attrs.data = Buffer.from(attrs.data_base64, 'base64');
    delete attrs.data_base64;
  }
  try {
    return new CloudEvent<unknown>(attrs);
  } catch (e) {
    if (e instanceof ValidationError) throw new InvalidEvent(`not a valid CloudEvent: ${validationText(e)}`);
    throw e;
  }
}

function validationText(e: ValidationError): string {
  const errs = (e as { errors?: unknown[] }).errors;
  return Array.isArray(errs) && errs.length > 0 ? JSON.stringify(errs) : e.message;
}

// ---------------------------------------------------------------------------------------------
// Field checks

interface CheckedEvent extends CloudEventLike {
  id: string;
  type: string;
  source: string;
}

function asEvent(ev: unknown): CheckedEvent {
  if (typeof ev !== 'object' || ev === null) throw new InvalidEvent('no CloudEvent in the request');
  const e = ev as CloudEventLike;
  for (const attr of ['type', 'source', 'id'] as const) {
    if (typeof e[attr] !== 'string' || e[attr] === '') {
      throw new InvalidEvent(`missing required attribute "${attr}"`, attr);
    }
  }
  return e as CheckedEvent;
}

function stringExt(e: CloudEventLike, attr: string, allowEmpty = false): string {
  const v = e[attr];
  if (typeof v !== 'string' || (!allowEmpty && v === '')) {
    throw new InvalidEvent(`missing extension attribute "${attr}" (type ${String(e.type)})`, attr);
  }
  return v;
}

function optionalString(e: CloudEventLike, attr: string): string | undefined {
  const v = e[attr];
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json') || media === 'text/json';
}

function isBinary(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidEvent(`${field}: not valid JSON (${e instanceof Error ? e.message : String(e)})`, field);
  }
}

/** The event's data as a value: JSON parsed when it arrived as text or bytes of a JSON type. */
function dataValue(e: CloudEventLike): unknown {
  let data = e.data;
  if (data === undefined && typeof e.data_base64 === 'string') data = Buffer.from(e.data_base64, 'base64');
  if (isBinary(data)) {
    const text = Buffer.from(data).toString('utf8');
    if (isJsonType(e.datacontenttype)) return parseJson(text, 'data');
    return (e.datacontenttype ?? '').startsWith('text/') ? text : Buffer.from(data);
  }
  if (typeof data === 'string' && isJsonType(e.datacontenttype)) return parseJson(data, 'data');
  return data;
}

function dataObject(e: CloudEventLike): Record<string, unknown> {
  const data = dataValue(e);
  if (typeof data !== 'object' || data === null || Array.isArray(data) || isBinary(data)) {
    throw new InvalidEvent(
      `data: expected a JSON object (datacontenttype ${e.datacontenttype ?? 'unset'})`,
      'data',
    );
  }
  return data as Record<string, unknown>;
}
