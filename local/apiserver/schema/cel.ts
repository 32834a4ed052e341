/**
 * `x-kubernetes-validations`: CEL rules evaluated with @marcbachmann/cel-js, wired the way
 * apiextensions-apiserver wires them: `self` is the value at the schema node, `oldSelf` the old
 * value at the same place on update (rules that name `oldSelf` are transition rules and only run
 * when there is one), and failures become field errors at the node (plus `fieldPath`).
 */
import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import { type FieldError, fieldErr } from '../errors.ts';
import type { Schema, ValidationRule } from '../types.ts';
import { isObject } from '../types.ts';

const env = new Environment({
  unlistedVariablesAreDyn: true,
  homogeneousAggregateLiterals: false,
  enableOptionalTypes: true,
});

const cache = new Map<string, ParseResult>();

/** Parses (and caches) a rule; throws the parser's error for a bad rule. */
export function compileRule(expr: string): ParseResult {
  let p = cache.get(expr);
  if (!p) {
    p = env.parse(expr);
    cache.set(expr, p);
  }
  return p;
}

// CEL's reserved words: a property of that name is reached as `__<word>__`.
const CEL_RESERVED = new Set(
  'true false null in as break const continue else for function if import let loop package namespace return var void while'.split(
    ' ',
  ),
);

/**
 * A schema property's name as CEL rules see it (Kubernetes' escaping: `namespace` →
 * `__namespace__`, `__` → `__underscores__`, `.` → `__dot__`, `-` → `__dash__`, `/` → `__slash__`).
 */
export function escapeCelProperty(name: string): string {
  if (CEL_RESERVED.has(name)) return `__${name}__`;
  return name
    .replace(/__/g, '__underscores__')
    .replace(/\./g, '__dot__')
    .replace(/-/g, '__dash__')
    .replace(/\//g, '__slash__');
}

/** JSON → CEL values as Kubernetes types them: integers are int, date-time strings timestamps. */
export function toCel(v: unknown, s: Schema | undefined): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === 'number') {
    const intLike = s?.type === 'integer' || (s?.type !== 'number' && Number.isInteger(v));
    return intLike && Number.isInteger(v) ? BigInt(v) : v;
  }
  if (typeof v === 'string') {
    if (s?.format === 'date-time' || s?.format === 'date') {
      const d = new Date(v);
      return Number.isNaN(d.getTime()) ? v : d;
    }
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => toCel(x, s?.items));
  if (isObject(v)) {
    const out: Record<string, unknown> = {};
    const addl = typeof s?.additionalProperties === 'object' ? s.additionalProperties : undefined;
    for (const [k, x] of Object.entries(v)) {
      const prop = s?.properties?.[k];
      // Declared properties are fields (escaped names); additionalProperties are map keys (as is).
      out[prop ? escapeCelProperty(k) : k] = toCel(x, prop ?? addl);
    }
    return out;
  }
  return v;
}

function typeName(s: Schema): string {
  if (s['x-kubernetes-int-or-string']) return 'string';
  return s.type ?? 'object';
}

const usesOldSelf = (rule: string) => /\boldSelf\b/.test(rule);

function ruleMessage(r: ValidationRule): string {
  return r.message?.trim() || `failed rule: ${r.rule.replace(/\n/g, ' ')}`;
}

/** `.foo.bar`, `.foo['bar']`, `.list[0]` → appended to the node's path. */
function joinFieldPath(base: string, rel: string): string {
  const norm = rel.replace(/\['([^']*)'\]/g, '.$1');
  const trimmed = norm.startsWith('.') ? norm.slice(1) : norm;
  return base ? `${base}.${trimmed}` : trimmed;
}

function errorFor(r: ValidationRule, path: string, type: string, detail: string): FieldError {
  const at = r.fieldPath ? joinFieldPath(path, r.fieldPath) : path;
  switch (r.reason) {
    case 'FieldValueForbidden':
      return fieldErr.forbidden(at, detail);
    case 'FieldValueRequired':
      return fieldErr.required(at, detail);
    case 'FieldValueDuplicate':
      return fieldErr.duplicate(at, type);
    default:
      return fieldErr.invalid(at, type, detail);
  }
}

function evalRules(
  rules: ValidationRule[],
  s: Schema,
  value: unknown,
  old: unknown,
  hasOld: boolean,
  path: string,
  out: FieldError[],
) {
  const self = toCel(value, s);
  const oldSelf = hasOld ? toCel(old, s) : undefined;
  for (const r of rules) {
    const transition = usesOldSelf(r.rule);
    if (transition && !hasOld && !r.optionalOldSelf) continue;
    let result: unknown;
    try {
      result = compileRule(r.rule)({ self, oldSelf });
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      out.push(fieldErr.invalid(path, typeName(s), `${ruleMessage(r)}: ${msg} evaluating rule: ${r.rule}`));
      continue;
    }
    if (result === true) continue;
    let detail = ruleMessage(r);
    if (r.messageExpression) {
      try {
        const m = compileRule(r.messageExpression)({ self, oldSelf });
        if (typeof m === 'string' && m.trim() !== '') detail = m;
      } catch {
        // The real server falls back to `message` (or the default) when messageExpression fails.
      }
    }
    out.push(errorFor(r, path, typeName(s), detail));
  }
}

/** Walks value and schema together and evaluates every rule on the way. */
export function validateCel(
  value: unknown,
  old: unknown,
  s: Schema | undefined,
  path = '',
  hasOld = old !== undefined,
): FieldError[] {
  const out: FieldError[] = [];
  walk(value, old, s, path, hasOld, out);
  return out;
}

function walk(
  value: unknown,
  old: unknown,
  s: Schema | undefined,
  path: string,
  hasOld: boolean,
  out: FieldError[],
) {
  if (!s || value === undefined) return;
  const rules = s['x-kubernetes-validations'];
  if (rules?.length) evalRules(rules, s, value, old, hasOld, path, out);
  if (isObject(value)) {
    const oldObj = hasOld && isObject(old) ? old : undefined;
    const addl = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
    for (const [k, v] of Object.entries(value)) {
      const sub = s.properties?.[k] ?? addl;
      if (!sub) continue;
      const childPath = s.properties?.[k] ? (path ? `${path}.${k}` : k) : `${path}[${k}]`;
      const oldHas = oldObj !== undefined && Object.hasOwn(oldObj, k);
      walk(v, oldHas ? oldObj[k] : undefined, sub, childPath, oldHas, out);
    }
  } else if (Array.isArray(value) && s.items) {
    // Old list items correlate only for map lists (by their keys), as in Kubernetes.
    const keys = s['x-kubernetes-list-type'] === 'map' ? s['x-kubernetes-list-map-keys'] : undefined;
    value.forEach((item, i) => {
      let oldItem: unknown;
      let found = false;
      if (keys && hasOld && Array.isArray(old) && isObject(item)) {
        oldItem = old.find((o) => isObject(o) && keys.every((k) => o[k] === item[k]));
        found = oldItem !== undefined;
      }
      walk(item, oldItem, s.items, `${path}[${i}]`, found, out);
    });
  }
}

/** Compiles every rule of a schema; the errors name the rule's place (for CRD validation). */
export function checkRules(s: Schema, path: string, out: FieldError[]): void {
  (s['x-kubernetes-validations'] ?? []).forEach((r, i) => {
    for (const [what, expr] of [
      ['rule', r.rule],
      ['messageExpression', r.messageExpression],
    ] as const) {
      if (!expr) continue;
      try {
        compileRule(expr);
      } catch (e) {
        const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
        out.push(
          fieldErr.invalid(
            `${path}.x-kubernetes-validations[${i}].${what}`,
            expr,
            `compilation failed: ${msg}`,
          ),
        );
      }
    }
  });
  for (const [k, sub] of Object.entries(s.properties ?? {})) checkRules(sub, `${path}.properties[${k}]`, out);
  if (s.items) checkRules(s.items, `${path}.items`, out);
  if (typeof s.additionalProperties === 'object')
    checkRules(s.additionalProperties, `${path}.additionalProperties`, out);
}
