/**
 * The four PATCH flavours the API server accepts.
 * - JSON patch (RFC 6902): fast-json-patch.
 * - JSON merge patch (RFC 7386): ten lines, written here because it is the RFC's own pseudo-code.
 * - Strategic merge patch: hand-written. Kubernetes' implementation lives in Go
 *   (apimachinery/pkg/util/strategicpatch) and nothing on npm implements it; kubectl's
 *   client-side apply sends it for built-ins, so the directives kubectl emits are handled
 *   (`$patch: delete|replace|merge`, `$setElementOrder/`, `$deleteFromPrimitiveList/`, `$retainKeys`).
 * - Server-side apply: approximated as a merge of the applied object (see applyMerge).
 */
import jsonpatch from 'fast-json-patch';
import { StatusError, statusErr } from './errors.ts';
import { isObject } from './types.ts';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  switch (ct) {
    case 'application/json-patch+json':
      return 'json';
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+cbor':
      return 'apply';
    default:
      return undefined;
  }
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops))
    throw statusErr.badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  try {
    return jsonpatch.applyPatch(structuredClone(target), ops as jsonpatch.Operation[], true, false)
      .newDocument;
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    throw new StatusError(
      422,
      'Invalid',
      `the server rejected our request due to an error in our request: ${msg}`,
    );
  }
}

/** How a list at a path merges: by a key, as a set of primitives, or replaced whole. */
export type ListMeta = { mergeKey: string } | { set: true } | undefined;
/** path: the field names from the root (list items add nothing). */
export type PatchMeta = (path: string[]) => ListMeta;

const containerLists = new Set(['containers', 'initContainers', 'ephemeralContainers']);
const byField: Record<string, string> = {
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  ownerReferences: 'uid',
  conditions: 'type',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
};

/** The patch strategies of the built-in types (the `patchStrategy`/`patchMergeKey` tags in k8s.io/api). */
export const builtinPatchMeta: PatchMeta = (path) => {
  const last = path[path.length - 1] ?? '';
  const parent = path[path.length - 2] ?? '';
  if (containerLists.has(last)) return { mergeKey: 'name' };
  if (last === 'ports') return { mergeKey: containerLists.has(parent) ? 'containerPort' : 'port' };
  if (last === 'finalizers' && parent === 'metadata') return { set: true };
  const key = byField[last];
  return key ? { mergeKey: key } : undefined;
};

const orderPrefix = '$setElementOrder/';
const deletePrimPrefix = '$deleteFromPrimitiveList/';

export function strategicMerge(
  original: unknown,
  patch: unknown,
  meta: PatchMeta,
  path: string[] = [],
): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  const base = isObject(original) && directive !== 'replace' ? { ...original } : {};
  const orders: Record<string, unknown[]> = {};
  const retain = Array.isArray(patch.$retainKeys) ? (patch.$retainKeys as string[]) : undefined;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith(orderPrefix)) {
      orders[k.slice(orderPrefix.length)] = v as unknown[];
      continue;
    }
    if (k.startsWith(deletePrimPrefix)) {
      const field = k.slice(deletePrimPrefix.length);
      const cur = base[field];
      if (Array.isArray(cur) && Array.isArray(v)) base[field] = cur.filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete base[k];
      continue;
    }
    const sub = [...path, k];
    if (Array.isArray(v)) base[k] = mergeList(base[k], v, meta(sub), meta, sub);
    else if (isObject(v)) {
      const merged = strategicMerge(base[k], v, meta, sub);
      if (merged === undefined) delete base[k];
      else base[k] = merged;
    } else base[k] = v;
  }
  for (const [field, order] of Object.entries(orders)) {
    const cur = base[field];
    if (Array.isArray(cur)) base[field] = reorder(cur, order, meta([...path, field]));
  }
  if (retain) for (const k of Object.keys(base)) if (!retain.includes(k)) delete base[k];
  return base;
}

function mergeList(
  original: unknown,
  patch: unknown[],
  lm: ListMeta,
  meta: PatchMeta,
  path: string[],
): unknown[] {
  const orig = Array.isArray(original) ? original : [];
  if (!lm) return structuredClone(patch.filter((x) => !(isObject(x) && x.$patch !== undefined)));
  if ('set' in lm) {
    const out = [...orig];
    for (const x of patch) if (!out.includes(x)) out.push(x);
    return out;
  }
  const key = lm.mergeKey;
  if (patch.some((x) => isObject(x) && x.$patch === 'replace')) {
    return structuredClone(patch.filter((x) => !(isObject(x) && x.$patch === 'replace')));
  }
  const out: unknown[] = [...orig];
  for (const item of patch) {
    if (!isObject(item)) {
      out.push(item);
      continue;
    }
    const idx = out.findIndex((o) => isObject(o) && o[key] === item[key]);
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], item, meta, path);
    else out.push(strategicMerge(undefined, item, meta, path));
  }
  return out;
}

function reorder(list: unknown[], order: unknown[], lm: ListMeta): unknown[] {
  const keyOf = (x: unknown) => (lm && 'mergeKey' in lm && isObject(x) ? x[lm.mergeKey] : x);
  const wanted = order.map(keyOf);
  const listed = wanted
    .map((k) => list.find((x) => keyOf(x) === k))
    .filter((x): x is NonNullable<typeof x> => x !== undefined);
  const rest = list.filter((x) => !wanted.includes(keyOf(x)));
  return [...listed, ...rest];
}

/**
 * Server-side apply, simplified: the applied configuration is merged into the live object
 * (maps recursively, keyed lists by their keys, other lists replaced). What is missing against
 * the real thing: managedFields, field ownership and conflicts, and removal of fields that a
 * manager stops applying.
 */
export function applyMerge(live: unknown, applied: unknown, meta: PatchMeta, path: string[] = []): unknown {
  if (!isObject(applied)) return structuredClone(applied);
  const out: Record<string, unknown> = isObject(live) ? { ...live } : {};
  for (const [k, v] of Object.entries(applied)) {
    const sub = [...path, k];
    if (v === null) out[k] = null;
    else if (Array.isArray(v)) {
      const lm = meta(sub);
      const cur = out[k];
      if (lm && 'mergeKey' in lm && Array.isArray(cur)) {
        const merged = [...cur];
        for (const item of v) {
          const idx = merged.findIndex(
            (o) => isObject(o) && isObject(item) && o[lm.mergeKey] === item[lm.mergeKey],
          );
          if (idx >= 0) merged[idx] = applyMerge(merged[idx], item, meta, sub);
          else merged.push(structuredClone(item));
        }
        out[k] = merged;
      } else if (lm && 'set' in lm && Array.isArray(cur)) {
        out[k] = [...cur, ...v.filter((x) => !cur.includes(x))];
      } else out[k] = structuredClone(v);
    } else if (isObject(v)) out[k] = applyMerge(out[k], v, meta, sub);
    else out[k] = v;
  }
  return out;
}
