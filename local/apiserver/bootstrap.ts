/**
 * Brings a fresh or reloaded store to life: the built-in resources, the default namespaces, and
 * the resources of every stored CRD (kept in step with CRD writes from then on).
 */

import { randomUUID } from 'node:crypto';
import { type Clock, kubeTime, systemClock } from '../../shared/clock.ts';
import { type Logger, silentLogger } from '../../shared/log.ts';
import { jobs } from './builtins/batch.ts';
import { coreTypes } from './builtins/core.ts';
import { customresourcedefinitions, resourcesOfCrd } from './builtins/crds.ts';
import { eventsV1 } from './builtins/events.ts';
import { ObjectService } from './objects.ts';
import { Registry } from './registry.ts';
import { keyOf, Store } from './store.ts';
import type { KubeObject } from './types.ts';
import { apiVersionOf } from './types.ts';

const crdStorage = customresourcedefinitions.storage;

export function registerBuiltins(registry: Registry, svc: ObjectService): void {
  for (const rt of [...coreTypes, jobs, eventsV1, customresourcedefinitions]) {
    registry.add(rt);
  }
  for (const rt of [...coreTypes, jobs, customresourcedefinitions])
    svc.setStorageVersion(rt.storage, apiVersionOf(rt));
}

function syncCrd(registry: Registry, svc: ObjectService, crd: KubeObject, gone: boolean) {
  const spec = crd.spec as {
    group: string;
    names: { plural: string };
    versions: Array<{ name: string; storage: boolean }>;
  };
  const storage = `${spec.group}/${spec.names.plural}`;
  registry.removeStorage(storage);
  if (gone) return;
  for (const rt of resourcesOfCrd(crd)) registry.add(rt);
  const sv = spec.versions.find((v) => v.storage);
  if (sv) svc.setStorageVersion(storage, `${spec.group}/${sv.name}`);
}

export function registerCrds(store: Store, registry: Registry, svc: ObjectService): void {
  for (const s of store.list(crdStorage)) syncCrd(registry, svc, s.obj, false);
  store.subscribe((c) => {
    if (c.storage === crdStorage) syncCrd(registry, svc, c.obj, c.type === 'DELETED');
  });
}

/** `default`, `kube-system`, `kube-public` and `kube-node-lease` exist as in every cluster. */
export async function ensureNamespaces(store: Store, clock: Clock): Promise<void> {
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    if (store.get('/namespaces', keyOf(undefined, name))) continue;
    const rv = store.nextResourceVersion();
    const ns: KubeObject = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name,
        uid: randomUUID(),
        resourceVersion: String(rv),
        creationTimestamp: kubeTime(clock.now()),
        labels: { 'kubernetes.io/metadata.name': name },
      },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    };
    await store.put('/namespaces', ns, rv, 'ADDED');
  }
}

/**
 * The object life cycle without HTTP: a store (memory only, or durable with `stateDir`), the
 * built-in resources, the default namespaces and every stored CRD's resources. The server
 * (index.ts) runs on this; tests use it to run the server's own validation and writes in-process.
 */
export async function createObjectService(
  opts: { clock: Clock; stateDir?: string; watchHistory?: number; log?: Logger } = { clock: systemClock },
): Promise<ObjectService> {
  const store = new Store({ historySize: opts.watchHistory });
  if (opts.stateDir) await store.attach(opts.stateDir, opts.log ?? silentLogger);
  const registry = new Registry();
  const svc = new ObjectService(store, registry, opts.clock);
  registerBuiltins(registry, svc);
  registerCrds(store, registry, svc);
  await ensureNamespaces(store, opts.clock);
  return svc;
}
