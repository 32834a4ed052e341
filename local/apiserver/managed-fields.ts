/**
 * `metadata.managedFields` and server-side apply's field ownership, as kube-apiserver keeps them
 * (k8s.io/apimachinery/pkg/util/managedfields and sigs.k8s.io/structured-merge-diff, whose Go
 * implementation no npm package carries; written here after its documented rules):
 *
 * - a field set is the set of paths an object sets: `f:<field>` for object keys, `k:{"key":…}` for
 *   items of lists merged by key, `v:<json>` for items of set lists; an atomic list is one leaf.
 *   apiVersion, kind and the server-set metadata (name, namespace, uid, resourceVersion,
 *   generation, creationTimestamp, managedFields) are never owned.
 * - an Update (create, PUT, JSON/merge/strategic patch) gives its manager the fields it added or
 *   changed, and takes them from every other manager; fields it removed leave every manager. Its
 *   entry's time moves only when it took fields.
 * - an Apply gives its manager exactly the fields of the applied configuration; a field it changes
 *   that another manager owns is a conflict (409) unless forced, when the other manager loses it;
 *   fields it applied before and applies no more are removed from the object unless another
 *   manager owns them (or something under them).
 * - entries are keyed by manager, operation and subresource, and listed Apply first, then by time.
 *
 * Approximations: one field set per entry whatever its apiVersion (every resource here has one
 * version); no "before-first-apply" or "ancient-changes" entries; unions are not normalised.
 */
import { kubeTime } from '../../shared/clock.ts';
import { StatusError } from './errors.ts';
import type { PatchMeta } from './patch.ts';
import type { Json, KubeObject } from './types.ts';
import { isObject } from './types.ts';

/** A path: its elements (`f:data`, `k:{"name":"a"}`, `v:"x"`) joined by a newline. */
export type FieldSet = Set<string>;
export type Operation = 'Apply' | 'Update';

export interface Manager {
  manager: string;
  operation: Operation;
  subresource?: string;
  apiVersion: string;
  time?: string;
  set: FieldSet;
  /** The FieldsV1 this set was read from, reused while the set is unchanged (encoding costs). */
  encoded?: { [k: string]: Json };
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: Operation;
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: { [k: string]: Json };
  subresource?: string;
}

const SEP = '\n';
const join = (path: string[]) => path.join(SEP);
const split = (key: string) => (key === '' ? [] : key.split(SEP));

/** Paths apimachinery strips before tracking (managedfields/internal/stripmeta.go). */
const STRIPPED = new Set(
  [
    ['f:apiVersion'],
    ['f:kind'],
    ['f:metadata'],
    ...[
      'name',
      'namespace',
      'creationTimestamp',
      'selfLink',
      'uid',
      'generation',
      'managedFields',
      'resourceVersion',
    ].map((f) => ['f:metadata', `f:${f}`]),
  ].map(join),
);

function strip(set: FieldSet): FieldSet {
  for (const p of [...set]) {
    const first = split(p).slice(0, 2);
    if (STRIPPED.has(p) || (first.length === 2 && STRIPPED.has(join(first)))) set.delete(p);
    if (p.startsWith(`f:apiVersion${SEP}`) || p.startsWith(`f:kind${SEP}`)) set.delete(p);
  }
  return set;
}

/** The element naming a list item, or undefined for an atomic list. */
function itemElement(item: unknown, lm: ReturnType<PatchMeta>): string | undefined {
  if (!lm) return undefined;
  if ('set' in lm) return `v:${JSON.stringify(item)}`;
  if (!isObject(item)) return `v:${JSON.stringify(item)}`;
  return `k:${JSON.stringify({ [lm.mergeKey]: item[lm.mergeKey] })}`;
}

/** Every path `value` sets (its own path not included). */
export function fieldsOf(
  value: unknown,
  meta: PatchMeta,
  names: string[] = [],
  path: string[] = [],
): FieldSet {
  const out: FieldSet = new Set();
  const walk = (v: unknown, fieldNames: string[], p: string[]) => {
    if (isObject(v)) {
      for (const [k, child] of Object.entries(v)) {
        if (child === undefined) continue;
        const cp = [...p, `f:${k}`];
        out.add(join(cp));
        walk(child, [...fieldNames, k], cp);
      }
    } else if (Array.isArray(v)) {
      const lm = meta(fieldNames);
      for (const item of v) {
        const el = itemElement(item, lm);
        if (el === undefined) return; // atomic: the list's own path is the leaf
        const ip = [...p, el];
        out.add(join(ip));
        if (isObject(item) && lm && 'mergeKey' in lm) walk(item, fieldNames, ip);
      }
    }
  };
  walk(value, names, path);
  return out;
}

/** The fields an applied configuration sets (the applier's field set). */
export function appliedFields(applied: unknown, meta: PatchMeta): FieldSet {
  return strip(fieldsOf(applied, meta));
}

export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** Deep equality of JSON values, without allocating. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    if (ra[k] === undefined) continue;
    n++;
    if (!same(ra[k], rb[k])) return false;
  }
  for (const k in rb) if (rb[k] !== undefined) n--;
  return n === 0;
}

/** What changed from `a` to `b`, path by path (typed.Compare). */
export function compare(a: unknown, b: unknown, meta: PatchMeta): Comparison {
  const c: Comparison = { added: new Set(), modified: new Set(), removed: new Set() };
  const subtree = (v: unknown, names: string[], p: string[], into: FieldSet) => {
    into.add(join(p));
    for (const x of fieldsOf(v, meta, names, p)) into.add(x);
  };
  const walk = (x: unknown, y: unknown, names: string[], p: string[]) => {
    if (same(x, y)) return; // most of an object is untouched by most writes
    if (isObject(x) && isObject(y)) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
        const cp = [...p, `f:${k}`];
        const [xv, yv] = [x[k], y[k]];
        if (xv === undefined && yv === undefined) continue;
        if (xv === undefined) subtree(yv, [...names, k], cp, c.added);
        else if (yv === undefined) subtree(xv, [...names, k], cp, c.removed);
        else walk(xv, yv, [...names, k], cp);
      }
      return;
    }
    if (Array.isArray(x) && Array.isArray(y)) {
      const lm = meta(names);
      if (lm) {
        const index = (list: unknown[]) => {
          const m = new Map<string, unknown>();
          for (const item of list) m.set(itemElement(item, lm)!, item);
          return m;
        };
        const [xi, yi] = [index(x), index(y)];
        const keyed = 'mergeKey' in lm;
        for (const el of new Set([...xi.keys(), ...yi.keys()])) {
          const ip = [...p, el];
          if (!xi.has(el)) {
            c.added.add(join(ip));
            if (keyed) for (const f of fieldsOf(yi.get(el), meta, names, ip)) c.added.add(f);
          } else if (!yi.has(el)) {
            c.removed.add(join(ip));
            if (keyed) for (const f of fieldsOf(xi.get(el), meta, names, ip)) c.removed.add(f);
          } else if (keyed) walk(xi.get(el), yi.get(el), names, ip);
        }
        return;
      }
    }
    if (JSON.stringify(x) !== JSON.stringify(y)) c.modified.add(join(p));
  };
  walk(a, b, [], []);
  for (const s of [c.added, c.modified, c.removed]) strip(s);
  return c;
}

/** Go's value.Compare order: numbers, strings, booleans, lists, maps, null. */
function valueRank(v: unknown): number {
  if (typeof v === 'number') return 0;
  if (typeof v === 'string') return 1;
  if (typeof v === 'boolean') return 2;
  if (Array.isArray(v)) return 3;
  if (isObject(v)) return 4;
  return 5;
}

function compareValues(a: unknown, b: unknown): number {
  const d = valueRank(a) - valueRank(b);
  if (d !== 0) return d;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compareValues(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if (isObject(a) && isObject(b)) return compareFieldLists(a, b);
  return 0;
}

/** A key's fields in name order, compared name by name, then value by value (value.FieldList). */
function compareFieldLists(a: Record<string, unknown>, b: Record<string, unknown>): number {
  const [ka, kb] = [Object.keys(a).sort(), Object.keys(b).sort()];
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
    const c = compareValues(a[ka[i]!], b[kb[i]!]);
    if (c !== 0) return c;
  }
  return ka.length - kb.length;
}

const ELEMENT_RANK: Record<string, number> = { f: 0, k: 1, v: 2, i: 3 };

/** fieldpath.PathElement.Compare: fields, then keys, then values, then indexes. */
function compareElements(a: string, b: string): number {
  const d = ELEMENT_RANK[a[0]!]! - ELEMENT_RANK[b[0]!]!;
  if (d !== 0) return d;
  const [x, y] = [a.slice(2), b.slice(2)];
  switch (a[0]) {
    case 'f':
      return x < y ? -1 : x > y ? 1 : 0;
    case 'i':
      return Number(x) - Number(y);
    case 'k':
      return compareFieldLists(
        JSON.parse(x) as Record<string, unknown>,
        JSON.parse(y) as Record<string, unknown>,
      );
    default:
      return compareValues(JSON.parse(x), JSON.parse(y));
  }
}

const isElement = (k: string) => /^[fkvi]:/.test(k);

/** A field set as the FieldsV1 tree (`{"f:data": {".": {}, "f:a": {}}}`), ordered as fieldpath's ToJSON writes it. */
export function toFieldsV1(set: FieldSet): { [k: string]: Json } {
  interface Node {
    member: boolean;
    children: Map<string, Node>;
  }
  const root: Node = { member: false, children: new Map() };
  for (const key of set) {
    let node = root;
    for (const el of split(key)) {
      let next = node.children.get(el);
      if (!next) {
        next = { member: false, children: new Map() };
        node.children.set(el, next);
      }
      node = next;
    }
    node.member = true;
  }
  const write = (node: Node): { [k: string]: Json } => {
    const out: { [k: string]: Json } = {};
    if (node.member && node.children.size > 0) out['.'] = {};
    for (const el of [...node.children.keys()].sort(compareElements)) out[el] = write(node.children.get(el)!);
    return out;
  };
  return write(root);
}

/** The set a FieldsV1 tree holds; unknown element kinds are dropped, as fieldpath's FromJSON drops them. */
export function fromFieldsV1(tree: unknown): FieldSet {
  const out: FieldSet = new Set();
  const walk = (node: unknown, p: string[]) => {
    if (!isObject(node)) return;
    for (const [k, child] of Object.entries(node)) {
      if (!isElement(k)) continue;
      const cp = [...p, k];
      const children = isObject(child) ? Object.keys(child).filter(isElement) : [];
      if (children.length === 0 || (isObject(child) && '.' in child)) out.add(join(cp));
      walk(child, cp);
    }
  };
  walk(tree, []);
  return out;
}

const keyOf = (m: Pick<Manager, 'manager' | 'operation' | 'subresource'>) =>
  JSON.stringify([m.manager, m.operation, m.subresource ?? '']);

export type Managers = Map<string, Manager>;

/** The entries of an object (undecodable ones are dropped, as the server drops them). */
export function decodeManagers(entries: unknown): Managers {
  const out: Managers = new Map();
  if (!Array.isArray(entries)) return out;
  for (const e of entries) {
    if (!isObject(e) || typeof e.manager !== 'string') continue;
    if (e.operation !== 'Apply' && e.operation !== 'Update') continue;
    const m: Manager = {
      manager: e.manager,
      operation: e.operation,
      apiVersion: typeof e.apiVersion === 'string' ? e.apiVersion : '',
      set: fromFieldsV1(e.fieldsV1),
      ...(isObject(e.fieldsV1) ? { encoded: e.fieldsV1 as { [k: string]: Json } } : {}),
      ...(typeof e.time === 'string' ? { time: e.time } : {}),
      ...(typeof e.subresource === 'string' && e.subresource ? { subresource: e.subresource } : {}),
    };
    out.set(keyOf(m), m);
  }
  return out;
}

/** fieldmanager's sortEncodedManagedFields: Apply before Update, then by time, manager, subresource. */
export function encodeManagers(managers: Managers): ManagedFieldsEntry[] {
  const list = [...managers.values()].filter((m) => m.set.size > 0);
  list.sort(
    (a, b) =>
      a.operation.localeCompare(b.operation) ||
      (a.time ?? '').localeCompare(b.time ?? '') ||
      a.manager.localeCompare(b.manager) ||
      a.apiVersion.localeCompare(b.apiVersion) ||
      (a.subresource ?? '').localeCompare(b.subresource ?? ''),
  );
  return list.map((m) => ({
    manager: m.manager,
    operation: m.operation,
    apiVersion: m.apiVersion,
    ...(m.time ? { time: m.time } : {}),
    fieldsType: 'FieldsV1',
    fieldsV1: m.encoded ?? toFieldsV1(m.set),
    ...(m.subresource ? { subresource: m.subresource } : {}),
  }));
}

/**
 * The managers an incoming object starts from (fieldmanager's decodeLiveOrNew): the live ones,
 * unless the request set its own (a single empty entry resets them). Subresource writes always
 * keep the live ones.
 */
export function managersFor(live: KubeObject | undefined, incoming: unknown, subresource?: string): Managers {
  const liveManagers = decodeManagers(live?.metadata.managedFields);
  if (subresource || !Array.isArray(incoming)) return liveManagers;
  if (incoming.length === 1 && isObject(incoming[0]) && Object.keys(incoming[0]).length === 0)
    return new Map();
  const asked = decodeManagers(incoming);
  return asked.size === 0 ? liveManagers : asked;
}

export interface WriteBy {
  manager: string;
  operation: Operation;
  subresource?: string;
  apiVersion: string;
  /** Apply only: the applied configuration's fields. */
  applied?: FieldSet;
  force?: boolean;
}

function drop(set: FieldSet, paths: FieldSet): FieldSet {
  return new Set([...set].filter((p) => !paths.has(p)));
}

/** One path in the conflict message: `.data.a`, `.spec.containers[name="c"].image`. */
export function pathString(key: string): string {
  return split(key)
    .map((el) => {
      if (el.startsWith('f:')) return `.${el.slice(2)}`;
      if (el.startsWith('v:')) return `[=${el.slice(2)}]`;
      const o = JSON.parse(el.slice(2)) as Record<string, unknown>;
      return `[${Object.entries(o)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}]`;
    })
    .join('');
}

function describeManager(m: Manager): string {
  if (m.operation === 'Apply') return JSON.stringify(m.manager);
  const sub = m.subresource ? ` with subresource ${JSON.stringify(m.subresource)}` : '';
  return `${JSON.stringify(m.manager)}${sub} using ${m.apiVersion}`;
}

/** The 409 an apply answers when it would change fields others own (internal.NewConflictError). */
function conflictError(conflicts: { manager: Manager; paths: string[] }[]): StatusError {
  const all = conflicts.flatMap((c) => c.paths.map((p) => ({ manager: c.manager, path: p })));
  const causes = all.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${describeManager(c.manager)}`,
    field: pathString(c.path),
  }));
  let message: string;
  if (all.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${describeManager(all[0]!.manager)}: ${pathString(all[0]!.path)}`;
  } else {
    const parts = conflicts
      .sort((a, b) => a.manager.manager.localeCompare(b.manager.manager))
      .map((c) =>
        c.paths.length === 1
          ? `conflict with ${describeManager(c.manager)}: ${pathString(c.paths[0]!)}`
          : `conflicts with ${describeManager(c.manager)}:\n${c.paths.map((p) => `- ${pathString(p)}`).join('\n')}`,
      );
    message = `Apply failed with ${all.length} conflicts: ${parts.join('\n')}`;
  }
  return new StatusError(409, 'Conflict', message, { causes });
}

/**
 * The managers after a write from `live` to `next` (Updater.Update / Updater.Apply with the
 * managedFieldsUpdater's timestamps). Throws the apply conflict unless forced.
 */
export function nextManagers(
  managers: Managers,
  live: unknown,
  next: unknown,
  by: WriteBy,
  meta: PatchMeta,
  now: Date,
): Managers {
  const out: Managers = new Map([...managers].map(([k, m]) => [k, { ...m }]));
  const self = keyOf(by);
  const c = compare(live, next, meta);
  const changed = new Set([...c.modified, ...c.added]);
  const conflicts: { manager: Manager; paths: string[] }[] = [];
  for (const [k, m] of out) {
    if (k === self) continue;
    const hit = [...m.set].filter((p) => changed.has(p));
    if (hit.length > 0) conflicts.push({ manager: m, paths: hit.sort() });
  }
  if (by.operation === 'Apply' && !by.force && conflicts.length > 0) throw conflictError(conflicts);
  const shrink = (m: Manager, paths: FieldSet) => {
    const left = drop(m.set, paths);
    if (left.size !== m.set.size) {
      m.set = left;
      delete m.encoded;
    }
  };
  for (const [k, m] of out) {
    if (k === self) continue;
    shrink(m, changed);
    shrink(m, c.removed);
  }
  const prev = out.get(self);
  const base = { manager: by.manager, operation: by.operation, apiVersion: by.apiVersion };
  const sub = by.subresource ? { subresource: by.subresource } : {};
  if (by.operation === 'Apply') {
    out.set(self, { ...base, ...sub, set: by.applied ?? new Set(), time: kubeTime(now) });
  } else {
    const took = changed;
    if (prev) shrink(prev, c.removed);
    const kept = prev?.set ?? new Set<string>();
    if (took.size > 0)
      out.set(self, { ...base, ...sub, set: new Set([...kept, ...took]), time: kubeTime(now) });
  }
  for (const [k, m] of out) if (m.set.size === 0) out.delete(k);
  return out;
}

/** Whether some member of `owned` is `path` or lies under it. */
function ownsUnder(owned: FieldSet, path: string): boolean {
  for (const p of owned) if (p === path || p.startsWith(path + SEP)) return true;
  return false;
}

/** Removes one path from a value in place (a key, a keyed item, a set item). */
function removePath(root: unknown, path: string[], meta: PatchMeta): void {
  let node: unknown = root;
  const names: string[] = [];
  for (let i = 0; i < path.length; i++) {
    const el = path[i]!;
    const last = i === path.length - 1;
    if (el.startsWith('f:')) {
      if (!isObject(node)) return;
      const k = el.slice(2);
      if (last) {
        delete node[k];
        return;
      }
      node = node[k];
      names.push(k);
    } else {
      if (!Array.isArray(node)) return;
      const lm = meta(names);
      const idx = node.findIndex((item) => itemElement(item, lm) === el);
      if (idx < 0) return;
      if (last) {
        node.splice(idx, 1);
        return;
      }
      node = node[idx];
    }
  }
}

/**
 * Apply's pruning (Updater.prune): what the manager applied before and applies no more goes,
 * unless another manager, or this apply, owns it or something under it.
 */
export function pruneUnapplied(merged: unknown, managers: Managers, by: WriteBy, meta: PatchMeta): void {
  const self = keyOf(by);
  const last = managers.get(self)?.set ?? new Set<string>();
  const owned = new Set<string>(by.applied ?? []);
  for (const [k, m] of managers) if (k !== self) for (const p of m.set) owned.add(p);
  const gone = [...last].filter((p) => !ownsUnder(owned, p)).map(split);
  gone.sort((a, b) => b.length - a.length);
  for (const p of gone) removePath(merged, p, meta);
}
