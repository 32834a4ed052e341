/**
 * The controllers that the real control plane runs for deletion, in one place:
 * - the garbage collector (ownerReferences: background, foreground, orphan; dependents whose
 *   owners are all gone are deleted, as kube-controller-manager's GC does),
 * - the namespace controller (a Terminating namespace is emptied, then removed),
 * - the CRD finalizer (a deleted CRD's instances go first).
 * They run asynchronously after the change that triggered them, as in a cluster.
 */
import type { Logger } from '../../shared/log.ts';
import { StatusError } from './errors.ts';
import { finalizers, type ObjectService } from './objects.ts';
import type { Change, Stored } from './store.ts';
import { keyOf } from './store.ts';
import type { KubeObject, OwnerReference, ResourceType } from './types.ts';
import { isObject } from './types.ts';

interface Ref {
  storage: string;
  key: string;
}

const nsStorage = '/namespaces';
const crdStorage = 'apiextensions.k8s.io/customresourcedefinitions';

export class Controllers {
  readonly #svc: ObjectService;
  readonly #log: Logger;
  /** uid → where the object is. */
  readonly #byUid = new Map<string, Ref>();
  /** owner uid → dependents' uids. */
  readonly #dependents = new Map<string, Set<string>>();
  readonly #queue: Array<() => Promise<void>> = [];
  #running = false;
  #idle: Array<() => void> = [];
  #unsubscribe: () => void;
  #closed = false;

  constructor(svc: ObjectService, log: Logger) {
    this.#svc = svc;
    this.#log = log;
    for (const storage of svc.store.storages()) {
      for (const s of svc.store.list(storage)) this.#index(storage, s.obj, undefined);
    }
    this.#unsubscribe = svc.store.subscribe((c) => this.#onChange(c));
    // After a restart, finish what was under way: deletions in progress and orphaned dependents.
    for (const storage of svc.store.storages()) {
      for (const s of svc.store.list(storage)) this.#react(storage, s.obj, 'MODIFIED');
    }
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe();
  }

  /** Resolves when no controller work is queued (tests). */
  settled(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #index(storage: string, obj: KubeObject, prev: KubeObject | undefined) {
    const uid = obj.metadata.uid;
    if (!uid) return;
    this.#byUid.set(uid, { storage, key: keyOf(obj.metadata.namespace, obj.metadata.name!) });
    for (const r of prev?.metadata.ownerReferences ?? []) this.#dependents.get(r.uid)?.delete(uid);
    for (const r of obj.metadata.ownerReferences ?? []) {
      let set = this.#dependents.get(r.uid);
      if (!set) {
        set = new Set();
        this.#dependents.set(r.uid, set);
      }
      set.add(uid);
    }
  }

  #unindex(obj: KubeObject) {
    const uid = obj.metadata.uid;
    if (!uid) return;
    this.#byUid.delete(uid);
    for (const r of obj.metadata.ownerReferences ?? []) this.#dependents.get(r.uid)?.delete(uid);
  }

  #onChange(c: Change) {
    if (c.type === 'DELETED') this.#unindex(c.obj);
    else this.#index(c.storage, c.obj, c.prev);
    this.#react(c.storage, c.obj, c.type);
  }

  #react(storage: string, obj: KubeObject, type: Change['type']) {
    const uid = obj.metadata.uid!;
    const m = obj.metadata;
    if (type === 'DELETED') {
      // Owners gone: their dependents may now be garbage.
      for (const dep of this.#dependents.get(uid) ?? []) this.#enqueue(() => this.#attemptToDelete(dep));
      this.#dependents.delete(uid);
      // A dependent gone may unblock an owner being deleted in the foreground.
      for (const r of m.ownerReferences ?? []) this.#enqueue(() => this.#processDeleting(r.uid));
      if (m.namespace) this.#enqueue(() => this.#namespaceCheck(m.namespace!));
      const crd = this.#crdOf(storage);
      if (crd) this.#enqueue(() => this.#crdCheck(crd));
      return;
    }
    if ((m.ownerReferences ?? []).length > 0) this.#enqueue(() => this.#attemptToDelete(uid));
    if (m.deletionTimestamp) {
      if (m.finalizers?.includes(finalizers.orphan) || m.finalizers?.includes(finalizers.foreground)) {
        this.#enqueue(() => this.#processDeleting(uid));
      }
      if (storage === nsStorage) this.#enqueue(() => this.#namespaceCheck(m.name!));
      if (storage === crdStorage) this.#enqueue(() => this.#crdCheck(m.name!));
    }
    for (const r of m.ownerReferences ?? []) {
      const owner = this.#lookup(r.uid);
      if (owner?.obj.metadata.deletionTimestamp) this.#enqueue(() => this.#processDeleting(r.uid));
    }
  }

  #enqueue(job: () => Promise<void>) {
    if (this.#closed) return;
    this.#queue.push(job);
    if (!this.#running) {
      this.#running = true;
      setImmediate(() => void this.#drain());
    }
  }

  async #drain() {
    while (this.#queue.length > 0 && !this.#closed) {
      const job = this.#queue.shift()!;
      try {
        await job();
      } catch (e) {
        if (e instanceof StatusError && (e.code === 404 || e.code === 409)) continue;
        this.#log.warn('controller work failed', { error: e });
      }
    }
    this.#running = false;
    const idle = this.#idle.splice(0);
    for (const f of idle) f();
  }

  #lookup(uid: string): (Stored & { rt: ResourceType }) | undefined {
    const ref = this.#byUid.get(uid);
    if (!ref) return undefined;
    const s = this.#svc.store.get(ref.storage, ref.key);
    const rt = this.#svc.registry.byStorage(ref.storage)[0];
    if (!s || !rt || s.obj.metadata.uid !== uid) return undefined;
    return { ...s, rt };
  }

  /** An owner is "there" only if it exists with that uid and a namespaced owner is in the dependent's namespace. */
  #ownerState(dep: KubeObject, r: OwnerReference): 'solid' | 'dangling' | 'waiting' {
    const owner = this.#lookup(r.uid);
    if (!owner) {
      // The real GC leaves a dependent alone while it cannot resolve the owner's kind.
      const [group, version] = r.apiVersion.includes('/') ? r.apiVersion.split('/') : ['', r.apiVersion];
      const known =
        this.#svc.registry.byKind(group ?? '', version ?? '', r.kind) ??
        this.#svc.registry.byGroupKind(group ?? '', r.kind);
      return known ? 'dangling' : 'solid';
    }
    if (owner.rt.namespaced && owner.obj.metadata.namespace !== dep.metadata.namespace) return 'dangling';
    const om = owner.obj.metadata;
    if (om.deletionTimestamp && om.finalizers?.includes(finalizers.foreground)) return 'waiting';
    return 'solid';
  }

  async #attemptToDelete(uid: string) {
    const dep = this.#lookup(uid);
    if (!dep) return;
    const m = dep.obj.metadata;
    const refs = m.ownerReferences ?? [];
    if (refs.length === 0) return;
    const states = refs.map((r) => this.#ownerState(dep.obj, r));
    const solid = states.filter((s) => s === 'solid').length;
    const waiting = states.some((s) => s === 'waiting');
    if (solid > 0) {
      if (solid === refs.length) return;
      // Other owners remain: drop the references to the ones gone or going.
      await this.#svc.writeAs(dep.rt, dep, (o) => {
        o.metadata.ownerReferences = refs.filter((_, i) => states[i] === 'solid');
      });
      return;
    }
    if (m.deletionTimestamp) return;
    const policy = waiting
      ? 'Foreground'
      : m.finalizers?.includes(finalizers.orphan)
        ? 'Orphan'
        : 'Background';
    this.#log.debug('garbage collecting', {
      kind: dep.obj.kind,
      name: m.name,
      namespace: m.namespace,
      policy,
    });
    await this.#svc.delete(dep.rt, m.namespace, m.name!, {
      propagationPolicy: policy,
      preconditions: { uid },
    });
  }

  /** An owner being deleted with the orphan or foregroundDeletion finalizer. */
  async #processDeleting(uid: string) {
    const owner = this.#lookup(uid);
    if (!owner?.obj.metadata.deletionTimestamp) return;
    const fins = owner.obj.metadata.finalizers ?? [];
    const deps = [...(this.#dependents.get(uid) ?? [])]
      .map((d) => this.#lookup(d))
      .filter((d) => d !== undefined);
    if (fins.includes(finalizers.orphan)) {
      for (const d of deps) {
        await this.#svc.writeAs(d.rt, d, (o) => {
          o.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
          if (o.metadata.ownerReferences.length === 0) delete o.metadata.ownerReferences;
        });
      }
      await this.#svc.removeFinalizer(
        owner.rt,
        owner.obj.metadata.namespace,
        owner.obj.metadata.name!,
        finalizers.orphan,
      );
      return;
    }
    if (fins.includes(finalizers.foreground)) {
      const blocking = deps.filter((d) =>
        (d.obj.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.blockOwnerDeletion === true),
      );
      for (const d of deps)
        if (!d.obj.metadata.deletionTimestamp) await this.#attemptToDelete(d.obj.metadata.uid!);
      if (blocking.length === 0) {
        await this.#svc.removeFinalizer(
          owner.rt,
          owner.obj.metadata.namespace,
          owner.obj.metadata.name!,
          finalizers.foreground,
        );
      }
    }
  }

  async #namespaceCheck(ns: string) {
    const cur = this.#svc.store.get(nsStorage, keyOf(undefined, ns));
    if (!cur?.obj.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const storage of this.#svc.store.storages()) {
      const rt = this.#svc.registry.byStorage(storage)[0];
      if (!rt?.namespaced) continue;
      for (const s of this.#svc.store.list(storage, ns)) {
        remaining++;
        if (!s.obj.metadata.deletionTimestamp) {
          await this.#svc
            .delete(rt, ns, s.obj.metadata.name!, { propagationPolicy: 'Background' })
            .catch(ignoreGone);
        }
      }
    }
    if (remaining > 0) return;
    const nsRt = this.#svc.registry.byStorage(nsStorage)[0]!;
    const now = this.#svc.store.get(nsStorage, keyOf(undefined, ns));
    if (!now) return;
    const spec = isObject(now.obj.spec) ? now.obj.spec : {};
    if (Array.isArray(spec.finalizers) && spec.finalizers.length > 0) {
      if ((now.obj.metadata.finalizers ?? []).length === 0) await this.#svc.finalizeRemove(nsRt, now);
      else
        await this.#svc.writeAs(
          nsRt,
          now,
          (o) => (o.spec = { ...(isObject(o.spec) ? o.spec : {}), finalizers: [] }),
        );
    }
  }

  #crdOf(storage: string): string | undefined {
    const rt = this.#svc.registry.byStorage(storage)[0];
    return rt && !rt.builtin ? `${rt.plural}.${rt.group}` : undefined;
  }

  async #crdCheck(name: string) {
    const cur = this.#svc.store.get(crdStorage, keyOf(undefined, name));
    if (!cur?.obj.metadata.deletionTimestamp || !cur.obj.metadata.finalizers?.includes(finalizers.crdCleanup))
      return;
    const spec = cur.obj.spec as { group: string; names: { plural: string } };
    const storage = `${spec.group}/${spec.names.plural}`;
    const rt = this.#svc.registry.byStorage(storage)[0];
    const items = this.#svc.store.list(storage);
    if (rt) {
      for (const s of items) {
        if (!s.obj.metadata.deletionTimestamp) {
          await this.#svc
            .delete(rt, s.obj.metadata.namespace, s.obj.metadata.name!, { propagationPolicy: 'Background' })
            .catch(ignoreGone);
        }
      }
    }
    if (this.#svc.store.count(storage) === 0) {
      const crdRt = this.#svc.registry.byStorage(crdStorage)[0]!;
      await this.#svc.removeFinalizer(crdRt, undefined, name, finalizers.crdCleanup);
    }
  }
}

function ignoreGone(e: unknown) {
  if (e instanceof StatusError && (e.code === 404 || e.code === 409)) return;
  throw e;
}
