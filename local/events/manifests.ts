/**
 * Reads the eventing manifests (`eventing/`) the way `kubectl apply -k` would see them, for the
 * local sources and broker: a kustomization's `resources` (files and folders, recursively), its
 * `namespace` (namespaced kinds only), `labels`/`commonLabels`, `commonAnnotations` and `patches`
 * (inline or from a file, with a `target` of kind/name/namespace/group/version: a JSON 6902 op
 * list, an object merged as a JSON merge patch — close to a strategic merge for these kinds — or
 * `$patch: delete`, which drops the objects it targets);
 * or, without a kustomization, every *.yaml in the folder. Other kustomize features (generators,
 * components, replacements) are refused by name, not ignored.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import jsonpatch from 'fast-json-patch';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import type { Manifest } from './knative.ts';

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const HANDLED = new Set([
  'apiVersion',
  'kind',
  'resources',
  'namespace',
  'labels',
  'commonLabels',
  'commonAnnotations',
  'patches',
]);

/** Kinds kustomize's `namespace` leaves alone (and that get no default namespace here). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'APIService',
]);

export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED.has(kind);
}

export interface LoadOptions {
  /** Namespace of objects that name none and get none from a kustomization; default `default`. */
  defaultNamespace?: string;
}

/** All objects in a file or folder, each with metadata.namespace set. */
export async function loadManifests(path: string, opts: LoadOptions = {}): Promise<Manifest[]> {
  const objects = await loadPath(resolve(path));
  const ns = opts.defaultNamespace ?? 'default';
  for (const o of objects) if (!o.metadata.namespace && !isClusterScoped(o.kind)) o.metadata.namespace = ns;
  return objects;
}

async function loadPath(path: string): Promise<Manifest[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return parseManifests(await readFile(path, 'utf8'), path);
  for (const name of KUSTOMIZATION_FILES) {
    const file = join(path, name);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) return loadKustomization(path, text, file);
  }
  const files = (await readdir(path)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const out: Manifest[] = [];
  for (const f of files) out.push(...(await loadPath(join(path, f))));
  return out;
}

interface PatchTarget {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

interface Kustomization {
  resources?: string[];
  patches?: { target?: PatchTarget; patch?: string; path?: string }[];
  namespace?: string;
  commonLabels?: Record<string, string>;
  commonAnnotations?: Record<string, string>;
  labels?: { pairs?: Record<string, string> }[];
}

async function loadKustomization(dir: string, text: string, file: string): Promise<Manifest[]> {
  const docs = parseAllDocuments(text);
  const k = (docs[0]?.toJS() ?? {}) as Kustomization & Record<string, unknown>;
  const unknown = Object.keys(k).filter((key) => !HANDLED.has(key));
  if (unknown.length > 0) {
    throw new Error(`${file}: the local runtime does not support kustomize field(s) ${unknown.join(', ')}`);
  }
  const out: Manifest[] = [];
  for (const r of k.resources ?? []) {
    if (/^[a-z]+:\/\//.test(r)) throw new Error(`${file}: remote resource ${r} is not supported locally`);
    out.push(...(await loadPath(join(dir, r))));
  }
  const labels = { ...k.commonLabels, ...Object.assign({}, ...(k.labels ?? []).map((l) => l.pairs ?? {})) };
  for (const [i, p] of (k.patches ?? []).entries()) {
    const text = p.patch ?? (p.path ? await readFile(join(dir, p.path), 'utf8') : undefined);
    if (text === undefined) throw new Error(`${file}: patches[${i}] has neither patch nor path`);
    const body = parseYaml(text) as unknown;
    const targets = out.filter((o) => (p.target ? matchesTarget(o, p.target) : sameObject(o, body)));
    if (isDeletePatch(body)) {
      // A strategic-merge `$patch: delete` removes the objects it targets (kustomize's way to
      // drop a resource that a base brings).
      for (const o of targets) out.splice(out.indexOf(o), 1);
      continue;
    }
    for (const o of targets) {
      const patched = Array.isArray(body)
        ? jsonpatch.applyPatch(structuredClone(o), body as jsonpatch.Operation[], true, false).newDocument
        : mergePatch(structuredClone(o), body);
      Object.assign(o, patched);
    }
  }
  for (const o of out) {
    if (k.namespace && !isClusterScoped(o.kind)) o.metadata.namespace = k.namespace;
    if (Object.keys(labels).length > 0) o.metadata.labels = { ...o.metadata.labels, ...labels };
    if (k.commonAnnotations) o.metadata.annotations = { ...o.metadata.annotations, ...k.commonAnnotations };
  }
  return out;
}

function matchesTarget(o: Manifest, t: PatchTarget): boolean {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/', 2) : ['', o.apiVersion];
  const re = (pattern: string | undefined, v: string) =>
    pattern === undefined || new RegExp(`^(?:${pattern})$`).test(v);
  return (
    re(t.kind, o.kind) &&
    re(t.name, o.metadata.name) &&
    re(t.namespace, o.metadata.namespace ?? '') &&
    re(t.group, group ?? '') &&
    re(t.version, version ?? '')
  );
}

function isDeletePatch(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { $patch?: unknown }).$patch === 'delete';
}

/** A patch without target applies to the object it names. */
function sameObject(o: Manifest, body: unknown): boolean {
  const b = body as Partial<Manifest> | null;
  return !!b && b.kind === o.kind && b.metadata?.name === o.metadata.name;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The objects of a multi-document YAML text (Lists are flattened). */
export function parseManifests(text: string, origin = '<input>'): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${origin}: ${doc.errors[0]!.message}`);
    const v = doc.toJS() as unknown;
    if (v === null || v === undefined) continue;
    for (const o of flatten(v)) out.push(checkManifest(o, origin));
  }
  return out;
}

function flatten(v: unknown): unknown[] {
  const o = v as { kind?: unknown; items?: unknown };
  if (
    typeof o === 'object' &&
    o !== null &&
    typeof o.kind === 'string' &&
    o.kind.endsWith('List') &&
    Array.isArray(o.items)
  ) {
    return o.items.flatMap(flatten);
  }
  return [v];
}

function checkManifest(v: unknown, origin: string): Manifest {
  const o = v as Partial<Manifest>;
  if (typeof o !== 'object' || o === null || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
    throw new Error(`${origin}: a document without apiVersion and kind`);
  }
  if (typeof o.metadata?.name !== 'string' || o.metadata.name === '') {
    throw new Error(`${origin}: ${o.kind} without metadata.name`);
  }
  return o as Manifest;
}
