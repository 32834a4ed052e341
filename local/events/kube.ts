/**
 * The little the local event sources and job runner need from the Kubernetes API, through
 * @kubernetes/client-node and the HTTP API only (so they work against the emulator and a real
 * cluster alike): a KubeConfig from a URL or a file, discovery of a kind's resource, and a
 * list-then-watch loop that resumes from the last resourceVersion and lists again on 410 Gone,
 * like client-go's reflector.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from '../../shared/log.ts';
import type { LabelSelector } from './knative.ts';

/**
 * A KubeConfig, a kubeconfig file's path, or the URL of a server that wants no credentials (such
 * as `kubectl proxy`; http allowed). The local emulator wants its token: pass its kubeconfig.
 */
export type KubeTarget = KubeConfig | string;

export function toKubeConfig(target: KubeTarget): KubeConfig {
  if (target instanceof KubeConfig) return target;
  const kc = new KubeConfig();
  if (/^https?:\/\//.test(target)) {
    kc.loadFromOptions({
      clusters: [{ name: 'local', server: target.replace(/\/$/, ''), skipTLSVerify: true }],
      users: [{ name: 'local' }],
      contexts: [{ name: 'local', cluster: 'local', user: 'local' }],
      currentContext: 'local',
    });
  } else {
    kc.loadFromFile(target);
  }
  return kc;
}

export function serverOf(kc: KubeConfig): string {
  const c = kc.getCurrentCluster();
  if (!c) throw new Error('the kubeconfig has no current cluster');
  return c.server;
}

export interface ResourceInfo {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** The resource serving `kind` in `apiVersion`, from the server's discovery; undefined if none. */
export async function discover(
  kc: KubeConfig,
  apiVersion: string,
  kind: string,
): Promise<ResourceInfo | undefined> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
  const list = group
    ? await kc.makeApiClient(CustomObjectsApi).getAPIResources({ group: group!, version: version! })
    : await kc.makeApiClient(CoreV1Api).getAPIResources();
  const r = list.resources.find((x) => x.kind === kind && !x.name.includes('/'));
  return r ? { apiVersion, kind, plural: r.name, namespaced: r.namespaced } : undefined;
}

/** The collection URL path of a resource, in one namespace or (namespace undefined) in all. */
export function collectionPath(r: ResourceInfo, namespace?: string): string {
  const base = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  return r.namespaced && namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

/** A metav1.LabelSelector as the `labelSelector` query string. */
export function selectorString(sel: LabelSelector | undefined): string | undefined {
  if (!sel) return undefined;
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.length > 0 ? parts.join(',') : undefined;
}

/** Whether labels satisfy a metav1.LabelSelector (empty selector: everything). */
export function selectorMatches(
  sel: LabelSelector | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel?.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const inValues = has && (e.values ?? []).includes(l[e.key]!);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface KubeObject extends KubernetesObject {
  [k: string]: unknown;
}

export interface WatchLoopOptions {
  kc: KubeConfig;
  resource: ResourceInfo;
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  /** The objects of the first list and of every relist after 410 Gone. */
  onList?: (items: KubeObject[], relist: boolean) => void | Promise<void>;
  /** A watch delta, in the order the server sent it. */
  onEvent: (type: WatchEventType, obj: KubeObject) => void;
  log: Logger;
  /** Delay before a watch is opened again after it ended with an error; default 500 ms. */
  retryDelayMs?: number;
}

export interface WatchLoop {
  /** Resolves once the first list is done and a watch is open (it keeps trying until then). */
  ready: Promise<void>;
  stop(): void;
}

/** List, then watch from the list's resourceVersion; resume on disconnect, relist on 410 Gone. */
export function watchLoop(opts: WatchLoopOptions): WatchLoop {
  const objects = KubernetesObjectApi.makeApiClient(opts.kc);
  const watch = new Watch(opts.kc);
  const path = collectionPath(opts.resource, opts.namespace);
  const log = opts.log.child({ watch: path, labelSelector: opts.labelSelector });
  let stopped = false;
  let current: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let resourceVersion: string | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  let isReady = false;

  const list = async (relist: boolean) => {
    const res = (await objects.list(
      opts.resource.apiVersion,
      opts.resource.kind,
      opts.resource.namespaced ? opts.namespace : undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      opts.labelSelector,
    )) as unknown as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
    resourceVersion = res.metadata?.resourceVersion;
    const items = (res.items ?? []).map((o) => ({
      ...o,
      apiVersion: o.apiVersion ?? opts.resource.apiVersion,
      kind: o.kind ?? opts.resource.kind,
    }));
    await opts.onList?.(items, relist);
  };

  const again = (relist: boolean, delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => void run(relist), delay);
  };

  const run = async (relist: boolean) => {
    if (stopped) return;
    try {
      if (relist || resourceVersion === undefined) await list(relist);
    } catch (e) {
      log.warn('list failed; trying again', { error: e });
      again(relist, opts.retryDelayMs ?? 500);
      return;
    }
    let gone = false;
    let ended = false;
    try {
      current = await watch.watch(
        path,
        { resourceVersion, allowWatchBookmarks: true, labelSelector: opts.labelSelector },
        (type: string, obj: KubeObject) => {
          if (type === 'BOOKMARK') {
            resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
            return;
          }
          if (type === 'ERROR') {
            const status = obj as { code?: number; message?: string };
            if (status.code === 410) gone = true;
            else log.warn('watch error', { status });
            return;
          }
          if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
          resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
          opts.onEvent(type, obj);
        },
        (err: unknown) => {
          ended = true;
          if (stopped) return;
          const code = (err as { statusCode?: number } | null)?.statusCode;
          if (code === 410) gone = true;
          if (gone) log.info('watch expired (410 Gone); listing again, no events for the gap');
          else if (err && (err as Error).name !== 'TimeoutError') log.debug('watch ended', { error: err });
          again(gone, err && !gone ? (opts.retryDelayMs ?? 500) : 0);
        },
      );
      if (!isReady && !ended) {
        isReady = true;
        markReady();
      }
    } catch (e) {
      log.warn('watch could not start; trying again', { error: e });
      again(false, opts.retryDelayMs ?? 500);
    }
  };

  void run(true);
  return {
    ready,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      current?.abort();
    },
  };
}
