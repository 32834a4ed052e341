/**
 * The Kubernetes access layer, on @kubernetes/client-node: get, list with selectors, idempotent
 * create, status updates with resourceVersion and a bounded retry on 409, merge patches, deletes,
 * and Events. Errors come back as Cairn's typed errors.
 *
 * client-node costs most of a second to import, so it is loaded on first use, not at start-up.
 */
import { createHash } from 'node:crypto';
import type * as K8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, VERSION } from './api/kinds.ts';
import type { ObjectMeta } from './api/object.ts';
import type { Clock } from './clock.ts';
import { kubeTime, systemClock } from './clock.ts';
import { AlreadyExists, ApiError, CairnError, Conflict, NotFound } from './errors.ts';

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

/** Maps a client-node failure to a typed error. */
export function toCairnError(err: unknown, what: string): Error {
  const e = err as { code?: unknown; body?: unknown; name?: unknown };
  if (e?.name === 'TimeoutError')
    return new ApiError(504, `${what}: the API server did not answer in time`, err);
  if (typeof e?.code !== 'number') return err instanceof Error ? err : new Error(String(err));
  let reason = '';
  let message = '';
  try {
    const status = JSON.parse(String(e.body)) as { reason?: string; message?: string };
    reason = status.reason ?? '';
    message = status.message ?? '';
  } catch {
    message = String(e.body ?? '');
  }
  const text = `${what}: ${message || `HTTP ${e.code}`}`;
  if (e.code === 404) return new NotFound(text, err);
  if (e.code === 409 && reason === 'AlreadyExists') return new AlreadyExists(text, err);
  if (e.code === 409) return new Conflict(text, err);
  return new ApiError(e.code, text, err);
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
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
  /** A kubeconfig file; otherwise $KUBECONFIG, ~/.kube/config or the in-cluster account. */
  kubeconfig?: string;
  /** A context of the kubeconfig other than its current one (`cairn --context`). */
  context?: string;
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
 * A KubeConfig whose API clients share one connection pool. client-node 2.0 builds a new undici
 * Agent for every request whenever the cluster has TLS options (any real cluster, and an
 * insecure-skip-tls-verify one): every request then opens its own connection, and each stays
 * open, idle, until the keep-alive timeout. A tick that fans out to five functions left ~26
 * sockets behind; a burst of thousands ran out of file descriptors. Here the first request's
 * dispatcher is kept and reused, and the ones built after it are closed unused.
 */
function pooledKubeConfig(k8s: typeof K8s, timeoutMs: number) {
  return class PooledKubeConfig extends k8s.KubeConfig {
    #dispatcher: ReturnType<K8s.RequestContext['getDispatcher']>;
    override async applySecurityAuthentication(context: K8s.RequestContext): Promise<void> {
      await super.applySecurityAuthentication(context);
      // Every request goes through here: it is where each gets its deadline.
      const timeout = AbortSignal.timeout(timeoutMs);
      const own = context.getSignal();
      context.setSignal(own ? AbortSignal.any([own, timeout]) : timeout);
      const fresh = context.getDispatcher();
      if (!fresh) return;
      if (!this.#dispatcher) this.#dispatcher = fresh;
      else if (fresh !== this.#dispatcher) {
        context.setDispatcher(this.#dispatcher);
        void fresh.close();
      }
    }
  };
}

export class KubeClient {
  readonly #api: K8s.CustomObjectsApi;
  readonly #core: K8s.CoreV1Api;
  readonly #clock: Clock;
  /** Requests sent, by verb and kind: benchmarks and tests count them. */
  readonly requests = new Map<string, number>();

  private constructor(api: K8s.CustomObjectsApi, core: K8s.CoreV1Api, clock: Clock) {
    this.#api = api;
    this.#core = core;
    this.#clock = clock;
  }

  static async connect(opts: KubeClientOptions = {}): Promise<KubeClient> {
    const k8s = await import('@kubernetes/client-node');
    const kc = new (pooledKubeConfig(k8s, requestTimeoutOf(opts)))();
    const file = opts.kubeconfig ?? process.env.CAIRN_KUBECONFIG;
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
    if (opts.context) kc.setCurrentContext(opts.context);
    return new KubeClient(
      kc.makeApiClient(k8s.CustomObjectsApi),
      kc.makeApiClient(k8s.CoreV1Api),
      opts.clock ?? systemClock,
    );
  }

  #count(verb: string, kind: string): void {
    const key = `${verb} ${kind}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  async get<T extends KubeObject>(kind: string, namespace: string, name: string): Promise<T | undefined> {
    const r = resourceOf(kind);
    this.#count('get', kind);
    try {
      if (r.group === '') return (await this.#coreGet(kind, namespace, name)) as T;
      return (await this.#api.getNamespacedCustomObject({ ...r, namespace, name })) as T;
    } catch (err) {
      const e = toCairnError(err, `get ${kind} ${namespace}/${name}`);
      if (e instanceof NotFound) return undefined;
      throw e;
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

  async list<T extends KubeObject>(
    kind: string,
    namespace: string | undefined,
    opts: ListOptions = {},
  ): Promise<T[]> {
    const r = resourceOf(kind);
    this.#count('list', kind);
    try {
      let body: { items: unknown[] };
      if (r.group === '') body = await this.#coreList(kind, namespace, opts);
      else if (namespace === undefined) body = await this.#api.listClusterCustomObject({ ...r, ...opts });
      else body = await this.#api.listNamespacedCustomObject({ ...r, namespace, ...opts });
      return body.items.map((o) => ({ apiVersion: apiVersionOf(kind), kind, ...(o as object) }) as T);
    } catch (err) {
      throw toCairnError(err, `list ${kind} in ${namespace ?? 'all namespaces'}`);
    }
  }

  /** Creates `obj`; AlreadyExists means done: returns the existing object with created=false. */
  async create<T extends KubeObject>(kind: string, obj: T): Promise<{ object: T; created: boolean }> {
    const r = resourceOf(kind);
    const namespace = obj.metadata.namespace ?? 'default';
    this.#count('create', kind);
    try {
      const body = { apiVersion: apiVersionOf(kind), kind, ...obj };
      let created: T;
      if (r.group === '') created = (await this.#coreCreate(kind, namespace, body)) as T;
      else created = (await this.#api.createNamespacedCustomObject({ ...r, namespace, body })) as T;
      return { object: created, created: true };
    } catch (err) {
      const e = toCairnError(err, `create ${kind} ${namespace}/${obj.metadata.name}`);
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
    this.#count('updateStatus', kind);
    try {
      return (await this.#api.replaceNamespacedCustomObjectStatus({ ...r, namespace, name, body: obj })) as T;
    } catch (err) {
      throw toCairnError(err, `update status of ${kind} ${namespace}/${name}`);
    }
  }

  /**
   * Re-reads the object, lets `mutate` compute its new status from the current state, and writes
   * it with the current resourceVersion; on 409 it starts again, at most `attempts` times.
   * `mutate` returns undefined when nothing needs to change. Returns the object as stored, or
   * undefined when it no longer exists.
   */
  async updateStatus<T extends KubeObject>(
    kind: string,
    namespace: string,
    name: string,
    mutate: (current: T) => T['status'] | undefined,
    attempts = 5,
  ): Promise<T | undefined> {
    for (let i = 1; ; i++) {
      const current = await this.get<T>(kind, namespace, name);
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

  /** A JSON merge patch of the main resource (metadata, spec). */
  async patch<T extends KubeObject>(
    kind: string,
    namespace: string,
    name: string,
    patch: object,
  ): Promise<T> {
    const k8s = await import('@kubernetes/client-node');
    const r = resourceOf(kind);
    const options = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    this.#count('patch', kind);
    try {
      if (r.group === '') {
        if (kind !== 'Event')
          throw new CairnError('InvalidSpec', `patching ${kind} is not supported`, { code: 400 });
        return (await this.#core.patchNamespacedEvent(
          { namespace, name, body: patch },
          options,
        )) as unknown as T;
      }
      return (await this.#api.patchNamespacedCustomObject(
        { ...r, namespace, name, body: patch },
        options,
      )) as T;
    } catch (err) {
      throw toCairnError(err, `patch ${kind} ${namespace}/${name}`);
    }
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
    const r = resourceOf(kind);
    const body = {
      ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
      ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
    };
    this.#count('delete', kind);
    try {
      if (r.group === '') await this.#coreDelete(kind, namespace, name, body);
      else await this.#api.deleteNamespacedCustomObject({ ...r, namespace, name, body });
      return true;
    } catch (err) {
      const e = toCairnError(err, `delete ${kind} ${namespace}/${name}`);
      if (e instanceof NotFound) return false;
      throw e;
    }
  }

  /**
   * Records a core/v1 Event about `involved`. The name is derived from the object, reason and
   * message, so a repeat (a replayed or duplicated CloudEvent) bumps `count` instead of adding a
   * line. Never throws: an Event that cannot be written must not fail the work it reports.
   */
  async recordEvent(involved: KubeObject, input: EventInput): Promise<void> {
    const { namespace = 'default', name, uid } = involved.metadata;
    const now = kubeTime(this.#clock.now());
    const hash = createHash('sha256')
      .update(`${uid ?? name}\u0000${input.type}\u0000${input.reason}\u0000${input.message}`)
      .digest('hex')
      .slice(0, 16);
    const eventName = `${name}.${hash}`;
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: eventName, namespace },
      involvedObject: {
        apiVersion: involved.apiVersion ?? API_VERSION,
        kind: involved.kind,
        name,
        namespace,
        uid,
        resourceVersion: involved.metadata.resourceVersion,
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
    };
    try {
      const { created, object } = await this.create('Event', event);
      if (!created) {
        await this.patch('Event', namespace, eventName, {
          count: ((object.count as number) ?? 1) + 1,
          lastTimestamp: now,
        });
      }
    } catch {
      // Deliberately swallowed (see above); the caller's log has the action itself.
    }
  }

  async #coreGet(kind: string, namespace: string, name: string): Promise<unknown> {
    const c = this.#core;
    switch (kind) {
      case 'Pod':
        return c.readNamespacedPod({ namespace, name });
      case 'Service':
        return c.readNamespacedService({ namespace, name });
      case 'Secret':
        return c.readNamespacedSecret({ namespace, name });
      case 'ConfigMap':
        return c.readNamespacedConfigMap({ namespace, name });
      case 'PersistentVolumeClaim':
        return c.readNamespacedPersistentVolumeClaim({ namespace, name });
      case 'ServiceAccount':
        return c.readNamespacedServiceAccount({ namespace, name });
      case 'Event':
        return c.readNamespacedEvent({ namespace, name });
    }
    throw new CairnError('InvalidSpec', `get ${kind} is not supported`, { code: 400 });
  }

  async #coreList(
    kind: string,
    namespace: string | undefined,
    opts: ListOptions,
  ): Promise<{ items: unknown[] }> {
    const c = this.#core;
    if (namespace === undefined)
      throw new CairnError('InvalidSpec', `list ${kind} needs a namespace`, { code: 400 });
    const p = { namespace, ...opts };
    switch (kind) {
      case 'Pod':
        return c.listNamespacedPod(p);
      case 'Service':
        return c.listNamespacedService(p);
      case 'Secret':
        return c.listNamespacedSecret(p);
      case 'PersistentVolumeClaim':
        return c.listNamespacedPersistentVolumeClaim(p);
      case 'Event':
        return c.listNamespacedEvent(p);
    }
    throw new CairnError('InvalidSpec', `list ${kind} is not supported`, { code: 400 });
  }

  async #coreCreate(kind: string, namespace: string, body: KubeObject): Promise<unknown> {
    const c = this.#core;
    switch (kind) {
      case 'Event':
        return c.createNamespacedEvent({ namespace, body: body as K8s.CoreV1Event });
      case 'Secret':
        return c.createNamespacedSecret({ namespace, body: body as K8s.V1Secret });
      case 'PersistentVolumeClaim':
        return c.createNamespacedPersistentVolumeClaim({
          namespace,
          body: body as K8s.V1PersistentVolumeClaim,
        });
      case 'Service':
        return c.createNamespacedService({ namespace, body: body as K8s.V1Service });
    }
    throw new CairnError('InvalidSpec', `create ${kind} is not supported`, { code: 400 });
  }

  async #coreDelete(kind: string, namespace: string, name: string, body: object): Promise<unknown> {
    const c = this.#core;
    switch (kind) {
      case 'Pod':
        return c.deleteNamespacedPod({ namespace, name, body });
      case 'Event':
        return c.deleteNamespacedEvent({ namespace, name, body });
    }
    throw new CairnError('InvalidSpec', `delete ${kind} is not supported`, { code: 400 });
  }
}
