/**
 * Reads the eventing manifests (`eventing/`) the way `kubectl apply -k` would see them, for the
 * local sources and broker: a kustomization's `resources` (files and folders, recursively), its
 * `namespace`, `labels`/`commonLabels`, or, without a kustomization, every *.yaml in the folder.
 * Other kustomize features (patches, generators, components) are refused by name, not ignored.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
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
]);

export interface LoadOptions {
  /** Namespace of objects that name none and get none from a kustomization; default `default`. */
  defaultNamespace?: string;
}

/** All objects in a file or folder, each with metadata.namespace set. */
export async function loadManifests(path: string, opts: LoadOptions = {}): Promise<Manifest[]> {
  const objects = await loadPath(resolve(path));
  const ns = opts.defaultNamespace ?? 'default';
  for (const o of objects) if (!o.metadata.namespace) o.metadata.namespace = ns;
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

interface Kustomization {
  resources?: string[];
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
  for (const o of out) {
    if (k.namespace) o.metadata.namespace = k.namespace;
    if (Object.keys(labels).length > 0) o.metadata.labels = { ...o.metadata.labels, ...labels };
    if (k.commonAnnotations) o.metadata.annotations = { ...o.metadata.annotations, ...k.commonAnnotations };
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
