/**
 * What the real server does to a custom resource before it validates it (apiextensions-apiserver's
 * pruning and structural defaulting): drop null values that are not nullable, apply `default`s,
 * and prune fields the schema does not know unless `x-kubernetes-preserve-unknown-fields` says to
 * keep them. Returns the pruned paths so `fieldValidation=Strict|Warn` can report them.
 */
import type { Schema } from '../types.ts';
import { isObject } from '../types.ts';

const metaKeys = new Set(['apiVersion', 'kind', 'metadata']);

/** Defaults and prunes `obj` in place; returns the dotted paths of pruned fields. */
export function pruneAndDefault(obj: Record<string, unknown>, schema: Schema): string[] {
  const pruned: string[] = [];
  walkObject(obj, schema, '', pruned, true);
  return pruned;
}

function walk(value: unknown, schema: Schema | undefined, path: string, pruned: string[]): void {
  if (!schema) return;
  if (isObject(value))
    walkObject(value, schema, path, pruned, schema['x-kubernetes-embedded-resource'] === true);
  else if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => {
      walk(item, schema.items, `${path}[${i}]`, pruned);
    });
  }
}

function walkObject(
  obj: Record<string, unknown>,
  schema: Schema,
  path: string,
  pruned: string[],
  embedded: boolean,
) {
  const props = schema.properties;
  const addl = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
  const preserve =
    schema['x-kubernetes-preserve-unknown-fields'] === true || schema.additionalProperties === true;
  // Null values of fields that may not be null are dropped, then defaulted (as the real server does).
  for (const [k, v] of Object.entries(obj)) {
    const sub = props?.[k] ?? addl;
    if (v === null && sub && !sub.nullable) delete obj[k];
  }
  if (props) {
    for (const [k, sub] of Object.entries(props)) {
      if (obj[k] === undefined && sub.default !== undefined) obj[k] = structuredClone(sub.default);
    }
  }
  for (const k of Object.keys(obj)) {
    const child = path ? `${path}.${k}` : k;
    if (embedded && metaKeys.has(k)) {
      if (props?.[k]) walk(obj[k], props[k], child, pruned);
      continue;
    }
    const sub = props?.[k] ?? addl;
    if (sub) walk(obj[k], sub, addl && !props?.[k] ? `${path}[${k}]` : child, pruned);
    else if (!preserve) {
      pruned.push(child);
      delete obj[k];
    }
  }
}

/** The schema at a dotted/list path (for SSA list keys and CEL fieldPath). */
export function schemaAt(schema: Schema | undefined, path: string[]): Schema | undefined {
  let s = schema;
  for (const p of path) {
    if (!s) return undefined;
    const next: Schema | undefined =
      s.properties?.[p] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
    s = next?.type === 'array' ? next : next;
  }
  return s;
}
