/**
 * The Kubernetes access layer: get, list with selectors, idempotent create, status updates with
 * resourceVersion and a bounded retry on 409, merge patches, deletes, Events and pod logs, over
 * plain node:http(s) with one keep-alive connection pool per client. Errors come back as Cairn's
 * typed errors; objects come back exactly as the API server sent them (JSON, timestamps as strings).
 *
 * Why not @kubernetes/client-node (which Cairn used before, and the local runtime and tests still
 * use as a second client): its generated API classes and its undici made each function bundle
 * 4.3 MB and cost ~150 ms of every cold start, for the dozen REST calls below. Its models also
 * turned core objects' timestamps into Date objects that the `string` types here did not expect.
 * Which server and which credentials: shared/kubeconfig.ts.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { API_VERSION, GROUP, VERSION } from './api/kinds.ts';
import type { ObjectMeta } from './api/object.ts';
import type { Clock } from './clock.ts';
import { kubeTime, systemClock } from './clock.ts';
import { AlreadyExists, ApiError, CairnError, Conflict, NotFound } from './errors.ts';
import type { CoreEvent, EventCorrelator } from './event-recorder.ts';
import { type Endpoint, loadKubeconfig } from './kubeconfig.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  // biome-ignore lint/suspicious/noExplicitAny: objects of any kind pass through this layer untyped.
  [key: string]: any;
}

interface Resource {
  group: string;
  version: string;
  plural: string;
}

/** The kinds Cairn touches. Core kinds have group ''. */
export const RESOURCES: Record<string, Resource> = {
  DatabaseBackup: { group: GROUP, version: VERSION, plural: 'databasebackups' },
  BackupPolicy: { group: GROUP, version: VERSION, plural: 'backuppolicies' },
  Backup: { group: GROUP, version: VERSION, plural: 'backups' },
  Restore: { group: GROUP, version: VERSION, plural: 'restores' },
  Job: { group: 'batch', version: 'v1', plural: 'jobs' },
  // backupStrategy: snapshot (shared/snapshots.ts).
  VolumeSnapshot: { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' },
  Pod: { group: '', version: 'v1', plural: 'pods' },
  Service: { group: '', version: 'v1', plural: 'services' },
  Secret: { group: '', version: 'v1', plural: 'secrets' },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps' },
  PersistentVolumeClaim: { group: '', version: 'v1', plural: 'persistentvolumeclaims' },
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts' },
  Event: { group: '', version: 'v1', plural: 'events' },
};

export type KindName = keyof typeof RESOURCES;

function resourceOf(kind: string): Resource {
  const r = RESOURCES[kind];
  if (!r) throw new CairnError('InvalidSpec', `kind ${kind} is not one Cairn works with`, { code: 400 });
  return r;
}

export function apiVersionOf(kind: string): string {
  const r = resourceOf(kind);
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** Maps an API server's answer that is not 2xx (its body a metav1.Status) to a typed error. */
export function statusError(code: number, body: string, what: string): CairnError {
  let reason = '';
  let message = '';
  try {
    const status = JSON.parse(body) as { reason?: string; message?: string };
    reason = status.reason ?? '';
    message = status.message ?? '';
  } catch {
    message = body.trim();
  }
  const text = `${what}: ${message || `HTTP ${code}`}`;
  if (code === 404) return new NotFound(text);
  if (code === 409 && reason === 'AlreadyExists') return new AlreadyExists(text);
  if (code === 409) return new Conflict(text);
  return new ApiError(code, text);
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * `resourceVersion=0`: any recent version will do, so the API server answers from its watch
   * cache instead of a quorum read of etcd (as informers list). The answer may be a moment stale:
   * ask for it only where deciding from a slightly older state is safe, and say why at the call.
   */
  cached?: boolean;
}

export interface EventInput {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** Who reports it, e.g. the function's name. */
  component: string;
  action?: string;
}

export interface KubeClientOptions {
  /** A kubeconfig file; otherwise $CAIRN_KUBECONFIG, $KUBECONFIG, ~/.kube/config or the in-cluster account. */
  kubeconfig?: string;
  /** A context of the kubeconfig other than its current one (`cairn --context`). */
  context?: string;
  /** An endpoint already loaded (shared/kubeconfig.ts); kubeconfig and context are then ignored. */
  endpoint?: Endpoint;
  clock?: Clock;
  /**
   * How long one request may take, answer body included, before it fails (default 30 s, or
   * $CAIRN_KUBE_TIMEOUT_MS). Without it a hung API server connection would hold a function's
   * handler forever: the Broker gives up on the delivery, but the handler never answers.
   */
  requestTimeoutMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

function requestTimeoutOf(opts: KubeClientOptions): number {
  const env = Number(process.env.CAIRN_KUBE_TIMEOUT_MS);
  const ms = opts.requestTimeoutMs ?? (env > 0 ? env : DEFAULT_REQUEST_TIMEOUT_MS);
  if (!(ms > 0))
    throw new CairnError('InvalidSpec', `requestTimeoutMs must be positive, not ${ms}`, { code: 400 });
  return ms;
}

/**
 * What each core kind may be asked for: the calls Cairn makes, and no others (a function never
 * creates a Pod or writes a Secret's data through this layer). Cairn's kinds, Jobs and VolumeSnapshots allow every verb.
 */
const CORE_VERBS: Record<string, string[]> = {
  Pod: ['get', 'list', 'delete'],
  Service: ['get', 'list', 'create'],
  Secret: ['get', 'list', 'create'],
  ConfigMap: ['get'],
  PersistentVolumeClaim: ['get', 'list', 'create'],
  ServiceAccount: ['get'],
  Event: ['get', 'list', 'create', 'patch', 'delete'],
};

interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  contentType?: string;
  /** What the call is, for error messages: `get Backup default/x`. */
  what: string;
  /** The answer is text (pods/log), not JSON. */
  text?: boolean;
}

const USER_AGENT = 'cairn/0.1 (node)';

export class KubeClient {
  readonly #endpoint: Endpoint;
  readonly #agent: HttpAgent;
  /** node:https's request for an https server (imported only then: it loads TLS), else node:http's. */
  readonly #send: typeof httpRequest;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  /** Requests sent, by verb and kind: benchmarks and tests count them. */
  readonly requests = new Map<string, number>();
  /** client-go's EventCorrelator state for this client's Events (recordEvent), made on first use. */
  #events: EventCorrelator | undefined;

  private constructor(
    endpoint: Endpoint,
    timeoutMs: number,
    clock: Clock,
    https: typeof import('node:https') | undefined,
  ) {
    this.#endpoint = endpoint;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#send = https ? https.request : httpRequest;
    // One pool for every request of this client: connections are kept open and reused.
    this.#agent =
      endpoint.agent ??
      (https ? new https.Agent({ keepAlive: true, ...endpoint.tls }) : new HttpAgent({ keepAlive: true }));
  }

  static async connect(opts: KubeClientOptions = {}): Promise<KubeClient> {
    const timeoutMs = requestTimeoutOf(opts);
    const endpoint =
      opts.endpoint ??
      (await loadKubeconfig({
        ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
        ...(opts.context ? { context: opts.context } : {}),
      }));
    const https = new URL(endpoint.server).protocol === 'https:' ? await import('node:https') : undefined;
    return new KubeClient(endpoint, timeoutMs, opts.clock ?? systemClock, https);
  }

  /** The API server's URL. */
  get server(): string {
    return this.#endpoint.server;
  }

  /** The namespace the kubeconfig's context (or, in a cluster, the pod) names, if any. */
  get namespace(): string | undefined {
    return this.#endpoint.namespace;
  }

  /** One request: JSON in, JSON (or text) out, a typed error for anything but 2xx. */
  async #call<T>(c: Call): Promise<T> {
    const url = new URL(this.#endpoint.server + c.path);
    for (const [k, v] of Object.entries(c.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const payload = c.body === undefined ? undefined : Buffer.from(JSON.stringify(c.body));
    const headers: Record<string, string> = {
      Accept: c.text ? 'text/plain, */*' : 'application/json',
      'User-Agent': USER_AGENT,
      ...(await this.#endpoint.headers()),
    };
    if (payload) {
      headers['Content-Type'] = c.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    // The deadline covers the whole exchange, answer body included.
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const send = this.#send;
    let status: number;
    let body: string;
    try {
      ({ status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = send(
          url,
          { method: c.method, headers, agent: this.#agent, signal },
          (res: IncomingMessage) => {
            const chunks: Buffer[] = [];
            res.on('data', (d: Buffer) => chunks.push(d));
            res.on('error', reject);
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
            );
          },
        );
        req.on('error', reject);
        req.end(payload);
      }));
    } catch (err) {
      if (signal.aborted) throw new ApiError(504, `${c.what}: the API server did not answer in time`, err);
      throw new ApiError(503, `${c.what}: ${(err as Error).message || String(err)}`, err);
    }
    if (status < 200 || status >= 300) throw statusError(status, body, c.what);
    if (c.text) return body as T;
    // A 2xx with no body (a proxy's 204): nothing to read.
    if (body === '') return undefined as T;
    try {
      return JSON.parse(body) as T;
    } catch (err) {
      throw new ApiError(502, `${c.what}: the API server answered ${status} with no JSON`, err);
    }
  }

  /** The collection's path, or one object's (and a subresource's) under it. */
  #path(kind: string, verb: string, namespace: string | undefined, name?: string, sub?: string): string {
    const r = resourceOf(kind);
    if (r.group === '' && !CORE_VERBS[kind]?.includes(verb))
      throw new CairnError('InvalidSpec', `${verb} ${kind} is not supported`, { code: 400 });
    const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
    const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
    const one = name === undefined ? '' : `/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}`;
    return `${base}${ns}/${r.plural}${one}`;
  }

  #count(verb: string, kind: string): void {
    const key = `${verb} ${kind}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  async get<T extends KubeObject>(kind: string, namespace: string, name: string): Promise<T | undefined> {
    const path = this.#path(kind, 'get', namespace, name);
    this.#count('get', kind);
    try {
      return await this.#call<T>({ method: 'GET', path, what: `get ${kind} ${namespace}/${name}` });
    } catch (err) {
      if (err instanceof NotFound) return undefined;
      throw err;
    }
  }

  /** Which of `names` exist, each read with one GET (only existence is looked at). */
  async existing(kind: string, namespace: string, names: Iterable<string>): Promise<Record<string, boolean>> {
    const unique = [...new Set(names)];
    const found = await Promise.all(
      unique.map(async (n) => (await this.get(kind, namespace, n)) !== undefined),
    );
    return Object.fromEntries(unique.map((n, i) => [n, found[i] ?? false]));
  }

  /** Every object of a kind in a namespace, or in all namespaces (`undefined`). */
  async list<T extends KubeObject>(
    kind: string,
    namespace: string | undefined,
    opts: ListOptions = {},
  ): Promise<T[]> {
    const path = this.#path(kind, 'list', namespace);
    this.#count('list', kind);
    const body = await this.#call<{ items?: T[] | null }>({
      method: 'GET',
      path,
      query: {
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        resourceVersion: opts.cached ? '0' : undefined,
      },
      what: `list ${kind} in ${namespace ?? 'all namespaces'}`,
    });
    // A list's items carry no apiVersion and kind of their own.
    return (body.items ?? []).map((o) => ({ apiVersion: apiVersionOf(kind), kind, ...o }));
  }

  /** Creates `obj`; AlreadyExists means done: returns the existing object with created=false. */
  async create<T extends KubeObject>(kind: string, obj: T): Promise<{ object: T; created: boolean }> {
    const namespace = obj.metadata.namespace ?? 'default';
    const path = this.#path(kind, 'create', namespace);
    this.#count('create', kind);
    try {
      const body = { apiVersion: apiVersionOf(kind), kind, ...obj };
      const created = await this.#call<T>({
        method: 'POST',
        path,
        body,
        what: `create ${kind} ${namespace}/${obj.metadata.name}`,
      });
      return { object: created, created: true };
    } catch (e) {
      if (!(e instanceof AlreadyExists) || !obj.metadata.name) throw e;
      const existing = await this.get<T>(kind, namespace, obj.metadata.name);
      if (!existing) throw e;
      return { object: existing, created: false };
    }
  }

  /** PUTs the status subresource; the object's resourceVersion guards it (409 → Conflict). */
  async replaceStatus<T extends KubeObject>(kind: string, obj: T): Promise<T> {
    const r = resourceOf(kind);
    if (r.group !== GROUP)
      throw new CairnError('InvalidSpec', `status of ${kind} is not Cairn's to write`, { code: 400 });
    const { namespace = 'default', name } = obj.metadata;
    const path = this.#path(kind, 'update', namespace, name, 'status');
    this.#count('updateStatus', kind);
    return this.#call<T>({
      method: 'PUT',
      path,
      body: obj,
      what: `update status of ${kind} ${namespace}/${name}`,
    });
  }

  /**
   * Lets `mutate` compute the object's new status from its current state and writes it with that
   * state's resourceVersion; on 409 it reads the object again and starts over, at most `attempts`
   * times. The first state is `current` when the caller has just read the object (a LIST of a
   * tick), so a write costs one request; otherwise, and after every 409, it is read with a GET.
   * `mutate` returns undefined when nothing needs to change. Returns the object as stored, or
   * undefined when it no longer exists.
   */
  async updateStatus<T extends KubeObject>(
    kind: string,
    namespace: string,
    name: string,
    mutate: (current: T) => T['status'] | undefined,
    opts: { current?: T; attempts?: number } = {},
  ): Promise<T | undefined> {
    const attempts = opts.attempts ?? 5;
    // Without a resourceVersion the PUT would be unconditional: such an object is read again.
    let known = opts.current?.metadata.resourceVersion ? opts.current : undefined;
    for (let i = 1; ; i++) {
      const current = known ?? (await this.get<T>(kind, namespace, name));
      known = undefined;
      if (!current) return undefined;
      const status = mutate(current);
      if (status === undefined) return current;
      try {
        return await this.replaceStatus(kind, { ...current, status });
      } catch (err) {
        if (err instanceof NotFound) return undefined;
        if (!(err instanceof Conflict) || i >= attempts) throw err;
      }
    }
  }

  /**
   * A JSON merge patch of the main resource (metadata, spec); `strategic` sends it as a strategic
   * merge patch instead (built-in kinds only, as client-go's Event recorder patches Events).
   */
  async patch<T extends KubeObject>(
    kind: string,
    namespace: string,
    name: string,
    patch: object,
    opts: { strategic?: boolean } = {},
  ): Promise<T> {
    const path = this.#path(kind, 'patch', namespace, name);
    this.#count('patch', kind);
    return this.#call<T>({
      method: 'PATCH',
      path,
      body: patch,
      contentType: opts.strategic ? 'application/strategic-merge-patch+json' : 'application/merge-patch+json',
      what: `patch ${kind} ${namespace}/${name}`,
    });
  }

  /**
   * Deletes; returns false when it was already gone. `uid` makes the delete conditional on the
   * object being the one the caller decided about.
   */
  async delete(
    kind: string,
    namespace: string,
    name: string,
    opts: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'; uid?: string } = {},
  ): Promise<boolean> {
    const path = this.#path(kind, 'delete', namespace, name);
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
      ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
    };
    this.#count('delete', kind);
    try {
      await this.#call({ method: 'DELETE', path, body, what: `delete ${kind} ${namespace}/${name}` });
      return true;
    } catch (e) {
      if (e instanceof NotFound) return false;
      throw e;
    }
  }

  /** The last lines of a pod's log (`pods/<pod>/log`), as text. */
  async podLog(
    namespace: string,
    pod: string,
    opts: { tailLines?: number; container?: string } = {},
  ): Promise<string> {
    const path = this.#path('Pod', 'get', namespace, pod, 'log');
    this.#count('log', 'Pod');
    return this.#call<string>({
      method: 'GET',
      path,
      query: { tailLines: opts.tailLines, container: opts.container },
      text: true,
      what: `log of Pod ${namespace}/${pod}`,
    });
  }

  /**
   * Records a core/v1 Event about `involved` the way client-go's Event recorder does
   * (shared/event-recorder.ts): a repeat of an event this process recorded is one PATCH of its
   * count (and series), similar events past ten in ten minutes become one counted aggregate, and a
   * source that floods one object is throttled. Names are derived from the event, so a repeat that
   * a new process (or another replica) records finds the Event and bumps it (a GET and a PATCH more).
   * Never throws: an Event that cannot be written must not fail the work it reports.
   */
  async recordEvent(involved: KubeObject, input: EventInput): Promise<void> {
    const { namespace = 'default', name, uid } = involved.metadata;
    const now = kubeTime(this.#clock.now());
    // Imported here: it loads node:crypto, a start-up cost the CLI (which records none) need not pay.
    const { EventCorrelator, countedPatch } = await import('./event-recorder.ts');
    this.#events ??= new EventCorrelator(this.#clock);
    const r = this.#events.correlate({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: involved.apiVersion ?? API_VERSION,
        ...(involved.kind ? { kind: involved.kind } : {}),
        name,
        namespace,
        ...(uid ? { uid } : {}),
        ...(involved.metadata.resourceVersion ? { resourceVersion: involved.metadata.resourceVersion } : {}),
      },
      type: input.type,
      reason: input.reason,
      message: input.message,
      action: input.action ?? input.reason,
      source: { component: input.component },
      reportingComponent: `cairn/${input.component}`,
      reportingInstance: input.component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
    if (r.skip) return;
    const eventName = r.event.metadata.name;
    const strategic = { strategic: true };
    try {
      let stored: CoreEvent | undefined;
      if (r.patch) {
        try {
          stored = await this.patch<CoreEvent>('Event', namespace, eventName, r.patch, strategic);
        } catch (err) {
          // Gone (Events expire): written anew, as client-go does.
          if (!(err instanceof NotFound)) throw err;
        }
      }
      if (!stored) {
        const { resourceVersion: _, ...metadata } = r.event.metadata;
        const { created, object } = await this.create<CoreEvent>('Event', { ...r.event, metadata });
        stored = object;
        if (!created) {
          const count = (object.count ?? 1) + 1;
          stored = await this.patch<CoreEvent>(
            'Event',
            namespace,
            eventName,
            countedPatch(count, now, r.event.message),
            strategic,
          );
        }
      }
      this.#events.updateState(stored);
    } catch {
      // Deliberately swallowed (see above); the caller's log has the action itself.
    }
  }
}
