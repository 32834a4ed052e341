/**
 * The object store: one bucket per storage (a resource, shared by its versions), a global
 * monotonic resourceVersion, a bounded history of changes for watches that resume from a
 * resourceVersion, and write-through to the journal when the server is durable.
 */
import type { Logger } from '../../shared/log.ts';
import { deleteLine, Journal, type JournalRecord, putLine } from './journal.ts';
import type { KubeObject } from './types.ts';

export interface Stored {
  readonly obj: KubeObject;
  /** The object serialised once, reused by lists, watches and the journal. */
  readonly json: string;
  readonly rv: number;
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  readonly type: ChangeType;
  readonly storage: string;
  readonly key: string;
  readonly rv: number;
  readonly obj: KubeObject;
  readonly json: string;
  /** The object before the change (MODIFIED, DELETED). */
  readonly prev: KubeObject | undefined;
}

class Bucket {
  readonly items = new Map<string, Stored>();
  #sorted: string[] | undefined;
  /** Keys in etcd order (namespace, then name). */
  sortedKeys(): string[] {
    this.#sorted ??= [...this.items.keys()].sort();
    return this.#sorted;
  }
  set(key: string, s: Stored) {
    if (!this.items.has(key)) this.#sorted = undefined;
    this.items.set(key, s);
  }
  delete(key: string) {
    if (this.items.delete(key)) this.#sorted = undefined;
  }
}

export function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class Store {
  #rv = 0;
  readonly #buckets = new Map<string, Bucket>();
  readonly #history: Change[] = [];
  /** Every change with rv > historyStart is in #history. */
  #historyStart = 0;
  readonly #historyMax: number;
  readonly #listeners = new Set<(c: Change) => void>();
  #journal: Journal | undefined;

  constructor(opts: { historySize?: number } = {}) {
    this.#historyMax = opts.historySize ?? 100_000;
  }

  /** Loads a durable state directory and starts journalling to it. */
  async attach(dir: string, log: Logger): Promise<void> {
    const records = await Journal.read(dir);
    this.#load(records);
    this.#journal = await Journal.open(dir, () => this.#snapshot(), log);
  }

  #load(records: JournalRecord[]) {
    for (const r of records) {
      if ('meta' in r) {
        this.#rv = Math.max(this.#rv, r.meta.rv);
        continue;
      }
      this.#rv = Math.max(this.#rv, r.rv);
      const b = this.#bucket(r.s);
      if ('d' in r) b.delete(r.k);
      else {
        const obj = r.o as KubeObject;
        b.set(r.k, { obj, json: JSON.stringify(obj), rv: r.rv });
      }
    }
    this.#historyStart = this.#rv;
  }

  #snapshot() {
    const buckets = this.#buckets;
    return {
      rv: this.#rv,
      *lines() {
        for (const [storage, b] of buckets) {
          for (const [key, s] of b.items) yield putLine(s.rv, storage, key, s.json);
        }
      },
    };
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  #bucket(storage: string): Bucket {
    let b = this.#buckets.get(storage);
    if (!b) {
      b = new Bucket();
      this.#buckets.set(storage, b);
    }
    return b;
  }

  get(storage: string, key: string): Stored | undefined {
    return this.#buckets.get(storage)?.items.get(key);
  }

  /** Objects in key order; with a namespace, only that namespace's. */
  list(storage: string, namespace?: string): Stored[] {
    const b = this.#buckets.get(storage);
    if (!b) return [];
    const keys = b.sortedKeys();
    const out: Stored[] = [];
    if (namespace === undefined) {
      for (const k of keys) out.push(b.items.get(k)!);
      return out;
    }
    const prefix = `${namespace}/`;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < keys.length && keys[i]!.startsWith(prefix); i++) out.push(b.items.get(keys[i]!)!);
    return out;
  }

  /** The storages that hold (or held) objects. */
  storages(): string[] {
    return [...this.#buckets.keys()];
  }

  count(storage: string): number {
    return this.#buckets.get(storage)?.items.size ?? 0;
  }

  /** Hands out the next resourceVersion (the caller stamps it into the object). */
  nextResourceVersion(): number {
    return ++this.#rv;
  }

  /** Stores an object already stamped with `rv`; resolves once durable, then tells watchers. */
  put(storage: string, obj: KubeObject, rv: number, type: 'ADDED' | 'MODIFIED'): Promise<Stored> {
    const key = keyOf(obj.metadata.namespace, obj.metadata.name!);
    const b = this.#bucket(storage);
    const prev = b.items.get(key)?.obj;
    const json = JSON.stringify(obj);
    const stored: Stored = { obj, json, rv };
    b.set(key, stored);
    const change: Change = { type, storage, key, rv, obj, json, prev };
    return this.#commit(change, () => putLine(rv, storage, key, json)).then(() => stored);
  }

  /** Removes an object; `last` is its final state stamped with the deletion's resourceVersion. */
  remove(storage: string, last: KubeObject, rv: number): Promise<Stored> {
    const key = keyOf(last.metadata.namespace, last.metadata.name!);
    const b = this.#bucket(storage);
    const prev = b.items.get(key)?.obj;
    b.delete(key);
    const json = JSON.stringify(last);
    const change: Change = { type: 'DELETED', storage, key, rv, obj: last, json, prev };
    return this.#commit(change, () => deleteLine(rv, storage, key)).then(() => ({ obj: last, json, rv }));
  }

  #commit(change: Change, line: () => string): Promise<void> {
    if (!this.#journal) {
      this.#publish(change);
      return Promise.resolve();
    }
    // Watchers hear of a change only once it is durable, and in resourceVersion order
    // (the journal resolves appends in the order they were made).
    return this.#journal.append(line()).then(() => this.#publish(change));
  }

  #publish(change: Change) {
    this.#history.push(change);
    if (this.#history.length > this.#historyMax * 1.25) {
      const drop = this.#history.length - this.#historyMax;
      this.#historyStart = this.#history[drop - 1]!.rv;
      this.#history.splice(0, drop);
    }
    for (const l of this.#listeners) l(change);
  }

  /** Changes after `rv` still held, or undefined when `rv` is older than the history. */
  changesSince(rv: number): Change[] | undefined {
    if (rv < this.#historyStart) return undefined;
    const h = this.#history;
    let lo = 0;
    let hi = h.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (h[mid]!.rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return h.slice(lo);
  }

  /** The resourceVersion of the last change watchers have been told of. */
  get publishedResourceVersion(): number {
    return this.#history.at(-1)?.rv ?? this.#historyStart;
  }

  get oldestResourceVersion(): number {
    return this.#historyStart;
  }

  subscribe(fn: (c: Change) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async close(): Promise<void> {
    await this.#journal?.close();
    this.#journal = undefined;
  }
}
