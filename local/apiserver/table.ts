/**
 * `meta.k8s.io/v1 Table` answers (what `kubectl get` asks for): the columns of a built-in, or of a
 * CRD's additionalPrinterColumns evaluated with Kubernetes JSONPath.
 */
import { JSONPath } from 'jsonpath-plus';
import { humanDuration } from '../../shared/units.ts';
import type { Json, KubeObject, PrinterColumn, ResourceType, TableColumns } from './types.ts';

// apimachinery's duration.HumanDuration, for AGE-like cells: one copy, in shared/ (a function
// writes the same form into a Backup's status).
export { humanDuration };

export function age(ts: string | undefined, now: Date): string {
  if (!ts) return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<invalid>' : humanDuration(now.getTime() - t);
}

const nameColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description:
    'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  priority: 0,
};

/** Kubernetes JSONPath (`.status.conditions[?(@.type=="Ready")].status`) → first match. */
export function jsonPathFirst(obj: unknown, path: string): unknown {
  let expr = path.trim();
  if (expr.startsWith('{') && expr.endsWith('}')) expr = expr.slice(1, -1);
  if (!expr.startsWith('$')) expr = `$${expr.startsWith('.') || expr.startsWith('[') ? '' : '.'}${expr}`;
  try {
    const r = JSONPath({ path: expr, json: obj as object, wrap: true, eval: 'safe' }) as unknown[];
    return r[0];
  } catch {
    return undefined;
  }
}

/** tableconvertor.cellForJSONValue */
function cell(type: string, v: unknown, now: Date): Json {
  if (v === undefined || v === null) return null;
  switch (type) {
    case 'integer':
      return typeof v === 'number' ? Math.trunc(v) : null;
    case 'number':
      return typeof v === 'number' ? v : null;
    case 'boolean':
      return typeof v === 'boolean' ? v : null;
    case 'string':
      return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
    case 'date':
      return typeof v === 'string' ? (Number.isNaN(Date.parse(v)) ? '<invalid>' : age(v, now)) : null;
    default:
      return null;
  }
}

const ageColumn: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export function crdTable(columns: PrinterColumn[] | undefined): TableColumns {
  const cols = columns && columns.length > 0 ? columns : [ageColumn];
  return {
    columns: [
      nameColumn,
      ...cols.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? '',
        description: c.description ?? '',
        priority: c.priority ?? 0,
      })),
    ],
    cells: (obj, now) => [
      obj.metadata.name ?? '',
      ...cols.map((c) => cell(c.type, jsonPathFirst(obj, c.jsonPath), now)),
    ],
  };
}

/** The default for a built-in with no table of its own: NAME, CREATED AT. */
export const defaultTable: TableColumns = {
  columns: [
    nameColumn,
    {
      name: 'Created At',
      type: 'date',
      description:
        'CreationTimestamp is a timestamp representing the server time when this object was created.',
      priority: 0,
    },
  ],
  cells: (obj) => [obj.metadata.name ?? '', obj.metadata.creationTimestamp ?? null],
};

export const ageTable = (
  extra: TableColumns['columns'],
  cells: (o: KubeObject, now: Date) => Json[],
): TableColumns => ({
  columns: [
    nameColumn,
    ...extra,
    {
      name: 'Age',
      type: 'string',
      description:
        'CreationTimestamp is a timestamp representing the server time when this object was created.',
      priority: 0,
    },
  ],
  cells: (o, now) => [o.metadata.name ?? '', ...cells(o, now), age(o.metadata.creationTimestamp, now)],
});

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function partialMetadata(obj: KubeObject): Json {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata as Json };
}

export function tableRow(rt: ResourceType, obj: KubeObject, now: Date, include: IncludeObject): Json {
  const t = rt.table ?? defaultTable;
  const row: { [k: string]: Json } = { cells: t.cells(obj, now) };
  if (include === 'Metadata') row.object = partialMetadata(obj);
  else if (include === 'Object') row.object = obj as unknown as Json;
  return row;
}

export function table(
  rt: ResourceType,
  objs: KubeObject[],
  now: Date,
  include: IncludeObject,
  meta: { [k: string]: Json },
  headers = true,
): Json {
  const t = rt.table ?? defaultTable;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: headers ? (t.columns as Json) : null,
    rows: objs.map((o) => tableRow(rt, o, now, include)),
  };
}
