/**
 * Trigger filters, with Knative's semantics (pkg/eventfilter):
 *
 * - `filter.attributes`: every attribute must be present and equal; an empty value means "present
 *   and non-empty" (TriggerAnyFilter). No attributes: everything passes.
 * - `filters` (the Subscriptions API dialects), when non-empty, replace `filter`: the list is ANDed;
 *   each entry has exactly one of exact / prefix / suffix (all keys must match; attribute names and
 *   values non-empty), all (AND), any (OR), not. `cesql` is refused with a clear error: the local
 *   broker has no CE SQL engine.
 *
 * Attribute values are compared as strings; `time` in its RFC 3339 form.
 */
import type { CloudEventLike } from '../../shared/events.ts';
import type { SubscriptionsAPIFilter, TriggerSpec } from '../events/knative.ts';

export type EventPredicate = (ev: CloudEventLike) => boolean;

export class UnsupportedFilter extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedFilter';
  }
}

/** An attribute of an event as a string, or undefined when the event has none. */
export function lookupAttribute(ev: CloudEventLike, attr: string): string | undefined {
  const v = attr === 'schemaurl' ? ev.dataschema : attr === 'datamediatype' ? mediaType(ev) : ev[attr];
  if (v === undefined || v === null || attr === 'data' || attr === 'data_base64') return undefined;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return undefined;
  return String(v);
}

function mediaType(ev: CloudEventLike): string | undefined {
  return ev.datacontenttype?.split(';')[0]?.trim();
}

/** The predicate of a Trigger's spec (`filters` win over `filter` when non-empty). */
export function triggerPredicate(spec: Pick<TriggerSpec, 'filter' | 'filters'>): EventPredicate {
  if (spec.filters && spec.filters.length > 0) return compileAll(spec.filters, 'spec.filters');
  return attributesFilter(spec.filter?.attributes);
}

export function attributesFilter(attrs: Record<string, string> | undefined): EventPredicate {
  if (!attrs) return () => true;
  const entries = Object.entries(attrs);
  return (ev) =>
    entries.every(([k, want]) => {
      const got = lookupAttribute(ev, k);
      if (got === undefined) return false;
      return want === '' ? got !== '' : got === want;
    });
}

/** One list of Subscriptions API filters, ANDed (also ApiServerSource.spec.filters). */
export function compileAll(filters: SubscriptionsAPIFilter[], path: string): EventPredicate {
  const preds = filters.map((f, i) => compile(f, `${path}[${i}]`));
  return (ev) => preds.every((p) => p(ev));
}

function compile(f: SubscriptionsAPIFilter, path: string): EventPredicate {
  const dialects = Object.keys(f).filter((k) => (f as Record<string, unknown>)[k] !== undefined);
  if (dialects.length !== 1) {
    throw new UnsupportedFilter(
      `${path}: exactly one dialect per filter, got ${dialects.join(', ') || 'none'}`,
    );
  }
  if (f.exact) return mapFilter(f.exact, `${path}.exact`, (got, want) => got === want);
  if (f.prefix) return mapFilter(f.prefix, `${path}.prefix`, (got, want) => got.startsWith(want));
  if (f.suffix) return mapFilter(f.suffix, `${path}.suffix`, (got, want) => got.endsWith(want));
  if (f.all) return compileAll(f.all, `${path}.all`);
  if (f.any) {
    const preds = f.any.map((g, i) => compile(g, `${path}.any[${i}]`));
    return preds.length === 0 ? () => true : (ev) => preds.some((p) => p(ev));
  }
  if (f.not) {
    const inner = compile(f.not, `${path}.not`);
    return (ev) => !inner(ev);
  }
  if (f.cesql !== undefined) {
    throw new UnsupportedFilter(
      `${path}.cesql: CE SQL filters are not supported by the local broker (${f.cesql})`,
    );
  }
  throw new UnsupportedFilter(`${path}: unknown filter dialect ${dialects[0]}`);
}

function mapFilter(
  m: Record<string, string>,
  path: string,
  match: (got: string, want: string) => boolean,
): EventPredicate {
  const entries = Object.entries(m);
  for (const [k, v] of entries) {
    if (k === '' || v === '')
      throw new UnsupportedFilter(`${path}: attribute names and values must not be empty`);
  }
  return (ev) =>
    entries.every(([k, want]) => {
      const got = lookupAttribute(ev, k);
      return got !== undefined && match(got, want);
    });
}
