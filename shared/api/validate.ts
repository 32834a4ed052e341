/**
 * Runtime validation of Cairn objects against the same schemas the CRDs carry: JSON Schema
 * checks with defaults applied (ajv), then the CEL rules of `x-kubernetes-validations` (cel-js).
 * Messages name the field the way the Kubernetes API server does, e.g.
 * `spec.storageDestination.bucket: Required value: bucket is required when type is s3 or gcs`.
 */
import { evaluate } from '@marcbachmann/cel-js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CairnError, InvalidSpec } from '../errors.ts';
import { jsonSchemaOf } from './crd.ts';
import { KINDS, kindDef } from './index.ts';
import type { CelRule } from './schema.ts';

export interface FieldError {
  field: string;
  message: string;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
ajv.addFormat('date-time', {
  type: 'string',
  validate: (s: string) =>
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)),
});
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });

const compiled = new Map<string, { fn: ValidateFunction; schema: Record<string, unknown> }>();
function compiledFor(kind: string) {
  let c = compiled.get(kind);
  if (!c) {
    const def = kindDef(kind);
    if (!def)
      throw new InvalidSpec(
        'kind',
        `unknown kind ${JSON.stringify(kind)}: expected one of ${KINDS.map((k) => k.kind).join(', ')}`,
      );
    const schema = jsonSchemaOf(def);
    c = { fn: ajv.compile(schema), schema };
    compiled.set(kind, c);
  }
  return c;
}

function dotted(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`))
    .join('')
    .replace(/^\./, '');
}

const show = (v: unknown) => JSON.stringify(v);

function describe(e: ErrorObject): FieldError {
  const at = dotted(e.instancePath);
  const join = (child: string) => (at ? `${at}.${child}` : child);
  switch (e.keyword) {
    case 'required':
      return { field: join(String(e.params.missingProperty)), message: 'Required value' };
    case 'additionalProperties':
      return { field: join(String(e.params.additionalProperty)), message: 'unknown field' };
    case 'enum':
      return {
        field: at,
        message: `Unsupported value: ${show(e.data)}: supported values: ${(e.params.allowedValues as unknown[]).map(show).join(', ')}`,
      };
    case 'type':
      return {
        field: at,
        message: `Invalid value: ${show(e.data)}: must be of type ${String(e.params.type)}`,
      };
    case 'pattern':
      return {
        field: at,
        message: `Invalid value: ${show(e.data)}: should match '${String(e.params.pattern)}'`,
      };
    case 'maxLength':
      return { field: at, message: `Too long: may not be more than ${String(e.params.limit)} bytes` };
    case 'maxItems':
      return { field: at, message: `Too many: must have at most ${String(e.params.limit)} items` };
    default:
      return { field: at, message: `Invalid value: ${show(e.data)}: ${e.message ?? e.keyword}` };
  }
}

/** Evaluates every CEL rule the schema carries, where the object has a value. */
function celErrors(schema: unknown, value: unknown, old: unknown, path: string, out: FieldError[]): void {
  if (value === undefined || value === null || typeof schema !== 'object' || schema === null) return;
  const s = schema as Record<string, unknown>;
  const rules = (s['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  for (const r of rules) {
    const transition = /\boldSelf\b/.test(r.rule);
    if (transition && old === undefined) continue;
    let ok: unknown;
    try {
      ok = evaluate(r.rule, transition ? { self: value, oldSelf: old } : { self: value });
    } catch (err) {
      // A rule that cannot be evaluated on this value is a failure, as the API server treats it.
      ok = false;
      void err;
    }
    if (ok !== true) {
      const field = r.fieldPath ? `${path}${r.fieldPath}` : path;
      const kind =
        r.reason === 'FieldValueRequired'
          ? 'Required value'
          : r.reason === 'FieldValueForbidden'
            ? 'Forbidden'
            : `Invalid value: ${show(typeof value === 'object' ? 'object' : value)}`;
      out.push({ field, message: `${kind}: ${r.message}` });
    }
  }
  const props = s.properties as Record<string, unknown> | undefined;
  if (props && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    const o = (old ?? undefined) as Record<string, unknown> | undefined;
    for (const [k, sub] of Object.entries(props))
      celErrors(sub, v[k], o?.[k], path ? `${path}.${k}` : k, out);
  }
  if (s.items && Array.isArray(value)) {
    value.forEach((item, i) => {
      celErrors(s.items, item, undefined, `${path}[${i}]`, out);
    });
  }
}

/**
 * Validates `obj` (a whole object of one of Cairn's kinds) and fills in defaults, in place.
 * Returns the field errors; empty means valid. `old` enables the transition rules of an update.
 */
export function fieldErrors(kind: string, obj: unknown, old?: unknown): FieldError[] {
  const { fn, schema } = compiledFor(kind);
  const errors: FieldError[] = [];
  if (!fn(obj)) errors.push(...(fn.errors ?? []).map(describe));
  if (errors.length === 0) celErrors(schema, obj, old, '', errors);
  return errors;
}

/** Validates and defaults `obj` in place; throws an InvalidSpec error listing every field error. */
export function validateObject<T>(kind: string, obj: T, old?: unknown): T {
  const errors = fieldErrors(kind, obj, old);
  const first = errors[0];
  if (first) {
    throw new CairnError('InvalidSpec', errors.map((e) => `${e.field}: ${e.message}`).join('; '), {
      code: 422,
      field: first.field,
    });
  }
  return obj;
}
