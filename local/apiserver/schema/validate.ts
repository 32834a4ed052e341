/**
 * OpenAPI v3 validation of custom resources with ajv, its errors rewritten into the field errors
 * (and the very wording) that apiextensions-apiserver produces from kube-openapi's validator.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { type FieldError, fieldErr } from '../errors.ts';
import type { Schema } from '../types.ts';

const ajv = new Ajv({ allErrors: true, verbose: true, strict: false, logger: false, validateSchema: false });
// The formats Kubernetes checks that CRDs commonly use; others are accepted as the server
// accepts unknown formats.
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/);
ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
ajv.addFormat('uuid', /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/);
ajv.addFormat('int32', {
  type: 'number',
  validate: (n: number) => Number.isInteger(n) && Math.abs(n) <= 2 ** 31,
});
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
// JSON numbers reach kube-apiserver as int64 when written as integers that fit, else as float64;
// `type: integer` takes a float64 only when it is integral and within ±(2^53-1)
// (kube-openapi's validator, swag.IsFloat64AJSONInteger). JavaScript cannot tell `1e20` from
// `100000000000000000000`, so an integer is a safe integer here (a literal between 2^53 and
// 2^63 that kube would take is refused: the one difference).
ajv.addKeyword({
  keyword: 'x-cairn-int64',
  type: 'number',
  schemaType: 'boolean',
  validate: (_on: boolean, n: number) => Number.isSafeInteger(n),
  errors: false,
});

/** Rewrites an OpenAPI v3.0 structural schema into the JSON Schema dialect ajv speaks. */
export function toJsonSchema(s: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-') || k === 'nullable' || k === 'default' || k === 'description' || k === 'example')
      continue;
    if (k === 'properties' && v && typeof v === 'object') {
      out.properties = Object.fromEntries(
        Object.entries(v as Record<string, Schema>).map(([p, sub]) => [p, toJsonSchema(sub)]),
      );
    } else if ((k === 'items' || k === 'not') && v && typeof v === 'object')
      out[k] = toJsonSchema(v as Schema);
    else if (k === 'additionalProperties') out[k] = typeof v === 'object' ? toJsonSchema(v as Schema) : true;
    else if ((k === 'anyOf' || k === 'allOf' || k === 'oneOf') && Array.isArray(v))
      out[k] = v.map((x) => toJsonSchema(x as Schema));
    else if (k === 'exclusiveMinimum' || k === 'exclusiveMaximum') continue;
    else out[k] = v;
  }
  if (s.exclusiveMinimum === true && s.minimum !== undefined) {
    out.exclusiveMinimum = s.minimum;
    delete out.minimum;
  }
  if (s.exclusiveMaximum === true && s.maximum !== undefined) {
    out.exclusiveMaximum = s.maximum;
    delete out.maximum;
  }
  if (s.type === 'integer' || s['x-kubernetes-int-or-string']) out['x-cairn-int64'] = true;
  if (s['x-kubernetes-int-or-string']) out.type = ['integer', 'string'];
  if (s.nullable && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (s.nullable && Array.isArray(out.enum)) out.enum = [...out.enum, null];
  return out;
}

const compiled = new WeakMap<Schema, ValidateFunction>();

function validatorFor(schema: Schema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(toJsonSchema(schema));
    compiled.set(schema, v);
  }
  return v;
}

/** Go's name for a JSON value's type, as kube-openapi reports it. */
export function jsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isSafeInteger(v) ? 'integer' : 'number';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** `/spec/items/0/name` → `spec.items[0].name`, reading the data to tell indexes from keys. */
function fieldPath(pointer: string, root: unknown): string {
  if (!pointer) return '';
  let out = '';
  let cur: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
    cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
  }
  return out;
}

function toFieldError(e: ErrorObject, root: unknown): FieldError | undefined {
  const path = fieldPath(e.instancePath, root);
  const name = path || 'body';
  const p = e.params as Record<string, unknown>;
  const data = e.data;
  switch (e.keyword) {
    case 'required':
      return fieldErr.required(path ? `${path}.${String(p.missingProperty)}` : String(p.missingProperty));
    case 'enum':
      return fieldErr.notSupported(
        path,
        data,
        ((p.allowedValues as unknown[]) ?? [])
          .filter((x) => x !== null)
          .map((x) => (typeof x === 'string' ? x : JSON.stringify(x))),
      );
    case 'x-cairn-int64': {
      const got = jsonTypeName(data);
      return fieldErr.typeInvalid(path, got, `${name} in body must be of type integer: "${got}"`);
    }
    case 'type': {
      const want = String(p.type)
        .split(',')
        .filter((t) => t !== 'null')
        .join(',');
      const got = jsonTypeName(data);
      return fieldErr.typeInvalid(path, got, `${name} in body must be of type ${want}: "${got}"`);
    }
    case 'minimum':
      return fieldErr.invalid(path, data, `${name} in body should be greater than or equal to ${p.limit}`);
    case 'exclusiveMinimum':
      return fieldErr.invalid(path, data, `${name} in body should be greater than ${p.limit}`);
    case 'maximum':
      return fieldErr.invalid(path, data, `${name} in body should be less than or equal to ${p.limit}`);
    case 'exclusiveMaximum':
      return fieldErr.invalid(path, data, `${name} in body should be less than ${p.limit}`);
    case 'multipleOf':
      return fieldErr.invalid(path, data, `${name} in body should be a multiple of ${p.multipleOf}`);
    case 'maxLength':
      return fieldErr.tooLong(path, data, Number(p.limit));
    case 'minLength':
      return fieldErr.invalid(path, data, `${name} in body should be at least ${p.limit} chars long`);
    case 'pattern':
      return fieldErr.invalid(path, data, `${name} in body should match '${p.pattern}'`);
    case 'maxItems':
      return fieldErr.tooMany(path, Array.isArray(data) ? data.length : -1, Number(p.limit));
    case 'minItems':
      return fieldErr.invalid(path, data, `${name} in body should have at least ${p.limit} items`);
    case 'maxProperties':
      return fieldErr.tooMany(
        path,
        data && typeof data === 'object' ? Object.keys(data).length : -1,
        Number(p.limit),
      );
    case 'minProperties':
      return fieldErr.invalid(path, data, `${name} in body should have at least ${p.limit} properties`);
    case 'uniqueItems':
      return fieldErr.invalid(path, data, `${name} in body shouldn't contain duplicates`);
    case 'format':
      return fieldErr.invalid(
        path,
        data,
        `${name} in body must be of type ${p.format}: ${JSON.stringify(data)}`,
      );
    case 'anyOf':
    case 'oneOf':
      return fieldErr.invalid(
        path,
        data,
        `"${name}" must validate ${e.keyword === 'anyOf' ? 'at least' : 'one and only'} one schema (${e.keyword})`,
      );
    case 'not':
      return fieldErr.invalid(path, data, `"${name}" must not validate the schema (not)`);
    default:
      return undefined;
  }
}

/** Validates against the schema; field errors in kube's words. */
export function validateSchema(obj: unknown, schema: Schema): FieldError[] {
  const v = validatorFor(schema);
  const out: FieldError[] = [];
  if (!v(obj)) {
    for (const e of v.errors ?? []) {
      const fe = toFieldError(e, obj);
      if (fe) out.push(fe);
    }
  }
  out.push(...listSetsAndMaps(obj, schema, ''));
  return out;
}

/**
 * apiextensions-apiserver's ValidateListSetsAndMaps: a `set` list holds no value twice, a `map`
 * list no two items with the same keys (`spec.x[1]: Duplicate value: "a"`).
 */
function listSetsAndMaps(value: unknown, schema: Schema | undefined, path: string): FieldError[] {
  if (!schema || value === null || typeof value !== 'object') return [];
  const out: FieldError[] = [];
  if (Array.isArray(value)) {
    const type = schema['x-kubernetes-list-type'];
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    if (type === 'set' || (type === 'map' && keys.length > 0)) {
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const id =
          type === 'set'
            ? JSON.stringify(item)
            : JSON.stringify(
                keys.map((k) =>
                  item && typeof item === 'object' ? (item as Record<string, unknown>)[k] : undefined,
                ),
              );
        if (seen.has(id)) {
          const shown =
            type === 'set'
              ? item
              : Object.fromEntries(keys.map((k) => [k, (item as Record<string, unknown>)[k]]));
          out.push(fieldErr.duplicate(`${path}[${i}]`, shown));
        }
        seen.add(id);
      });
    }
    value.forEach((item, i) => {
      out.push(...listSetsAndMaps(item, schema.items, `${path}[${i}]`));
    });
    return out;
  }
  const o = value as Record<string, unknown>;
  const addl = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
  for (const [k, v] of Object.entries(o)) {
    const sub = schema.properties?.[k] ?? addl;
    const child = schema.properties?.[k] ? (path ? `${path}.${k}` : k) : `${path}[${k}]`;
    out.push(...listSetsAndMaps(v, sub, child));
  }
  return out;
}
