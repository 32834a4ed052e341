/**
 * apiextensions.k8s.io/v1 CustomResourceDefinition as a resource, and what a stored CRD turns
 * into: one served ResourceType per served version, all sharing one storage.
 */

import { kubeTime } from '../../../shared/clock.ts';
import { type FieldError, fieldErr } from '../errors.ts';
import { checkRules } from '../schema/cel.ts';
import { crdTable } from '../table.ts';
import type { KubeObject, PrinterColumn, ResourceType, Schema } from '../types.ts';
import { isObject } from '../types.ts';
import { builtin } from './define.ts';
import { kindSchema, list, open, str } from './schemas.ts';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: Schema };
  subresources?: { status?: object; scale?: object };
  additionalPrinterColumns?: PrinterColumn[];
  selectableFields?: Array<{ jsonPath: string }>;
  deprecated?: boolean;
  deprecationWarning?: string;
}
interface CrdNames {
  plural: string;
  singular?: string;
  kind: string;
  listKind?: string;
  shortNames?: string[];
  categories?: string[];
}
interface CrdSpec {
  group: string;
  names: CrdNames;
  scope: 'Namespaced' | 'Cluster';
  versions: CrdVersion[];
}

const specOf = (o: KubeObject): CrdSpec => o.spec as CrdSpec;

function setCondition(
  conds: Array<Record<string, unknown>>,
  type: string,
  reason: string,
  message: string,
  now: Date,
) {
  const existing = conds.find((c) => c.type === type);
  if (existing?.status === 'True') return;
  const c = {
    type,
    status: 'True',
    lastTransitionTime: kubeTime(now),
    reason,
    message,
  };
  if (existing) Object.assign(existing, c);
  else conds.push(c);
}

export const customresourcedefinitions = builtin({
  group: 'apiextensions.k8s.io',
  version: 'v1',
  kind: 'CustomResourceDefinition',
  plural: 'customresourcedefinitions',
  namespaced: false,
  shortNames: ['crd', 'crds'],
  categories: ['api-extensions'],
  hasStatus: true,
  generation: true,
  returnDeletedObject: true,
  schemaName: 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition',
  schema: kindSchema(
    'CustomResourceDefinition represents a resource that should be exposed on the API server.  Its name MUST be in the format <.spec.name>.<.spec.group>.',
    {
      spec: {
        type: 'object',
        description: 'spec describes how the user wants the resources to appear',
        required: ['group', 'names', 'scope', 'versions'],
        properties: {
          group: str('group is the API group of the defined custom resource.'),
          names: open('names specify the resource and kind names for the custom resource.'),
          scope: str(
            'scope indicates whether the defined custom resource is cluster- or namespace-scoped. Allowed values are `Cluster` and `Namespaced`.',
          ),
          versions: list(
            'versions is the list of all API versions of the defined custom resource.',
            open('CustomResourceDefinitionVersion describes a version for CRD.'),
          ),
          conversion: open('conversion defines conversion settings for the CRD.'),
          preserveUnknownFields: {
            type: 'boolean',
            description:
              'preserveUnknownFields indicates that object fields which are not specified in the OpenAPI schema should be preserved when persisting to storage.',
          },
        },
      },
      status: open('status indicates the actual state of the CustomResourceDefinition'),
    },
    ['spec'],
  ),
  defaulter: (o, _old, now) => {
    const spec = isObject(o.spec) ? (o.spec as unknown as CrdSpec) : undefined;
    if (!spec || !isObject(spec.names)) return;
    spec.names.singular ??= spec.names.kind?.toLowerCase();
    spec.names.listKind ??= `${spec.names.kind}List`;
    (spec as unknown as Record<string, unknown>).conversion ??= { strategy: 'None' };
    const status = (isObject(o.status) ? o.status : {}) as Record<string, unknown>;
    o.status = status;
    status.acceptedNames = structuredClone(spec.names);
    const conds = Array.isArray(status.conditions)
      ? (status.conditions as Array<Record<string, unknown>>)
      : [];
    setCondition(conds, 'NamesAccepted', 'NoConflicts', 'no conflicts found', now);
    setCondition(conds, 'Established', 'InitialNamesAccepted', 'the initial names have been accepted', now);
    status.conditions = conds;
    const stored = new Set(Array.isArray(status.storedVersions) ? (status.storedVersions as string[]) : []);
    for (const v of Array.isArray(spec.versions) ? spec.versions : []) if (v.storage) stored.add(v.name);
    status.storedVersions = [...stored];
  },
  validator: (o, old) => validateCrd(o, old),
  table: {
    columns: [
      {
        name: 'Name',
        type: 'string',
        format: 'name',
        description: 'Name must be unique within a namespace.',
        priority: 0,
      },
      {
        name: 'Created At',
        type: 'date',
        description:
          'CreationTimestamp is a timestamp representing the server time when this object was created.',
        priority: 0,
      },
    ],
    cells: (o) => [o.metadata.name ?? '', o.metadata.creationTimestamp ?? null],
  },
});

function validateCrd(o: KubeObject, old: KubeObject | undefined): FieldError[] {
  const out: FieldError[] = [];
  if (!isObject(o.spec)) return [fieldErr.required('spec')];
  const spec = specOf(o);
  if (!spec.group) out.push(fieldErr.required('spec.group'));
  if (!isObject(spec.names)) out.push(fieldErr.required('spec.names'));
  else {
    if (!spec.names.plural) out.push(fieldErr.required('spec.names.plural'));
    if (!spec.names.kind) out.push(fieldErr.required('spec.names.kind'));
  }
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    out.push(fieldErr.notSupported('spec.scope', spec.scope ?? '', ['Cluster', 'Namespaced']));
  if (spec.group && spec.names?.plural && o.metadata.name !== `${spec.names.plural}.${spec.group}`) {
    out.push(fieldErr.invalid('metadata.name', o.metadata.name, 'must be spec.names.plural+"."+spec.group'));
  }
  if (!Array.isArray(spec.versions) || spec.versions.length === 0)
    out.push(fieldErr.required('spec.versions', 'must have exactly one version marked as storage version'));
  else {
    if (spec.versions.filter((v) => v.storage).length !== 1) {
      out.push(
        fieldErr.invalid(
          'spec.versions',
          spec.versions.map((v) => v.name),
          'must have exactly one version marked as storage version',
        ),
      );
    }
    spec.versions.forEach((v, i) => {
      const s = v.schema?.openAPIV3Schema;
      if (!s)
        out.push(fieldErr.required(`spec.versions[${i}].schema.openAPIV3Schema`, 'schemas are required'));
      else checkRules(s, `spec.versions[${i}].schema.openAPIV3Schema`, out);
    });
  }
  if (old && isObject(old.spec)) {
    const before = specOf(old);
    if (before.scope !== spec.scope)
      out.push(fieldErr.invalid('spec.scope', spec.scope, 'field is immutable'));
    if (before.group !== spec.group)
      out.push(fieldErr.invalid('spec.group', spec.group, 'field is immutable'));
  }
  return out;
}

/** `backup.cairn.dev` → `dev.cairn.backup` (how the OpenAPI documents name CR schemas). */
function reverseGroup(group: string): string {
  return group.split('.').reverse().join('.');
}

/** The served versions of a stored CRD as resources. */
export function resourcesOfCrd(crd: KubeObject): ResourceType[] {
  const spec = specOf(crd);
  const storage = `${spec.group}/${spec.names.plural}`;
  return spec.versions
    .filter((v) => v.served)
    .map((v): ResourceType => {
      const selectable = (v.selectableFields ?? []).map((f) => f.jsonPath.replace(/^\./, ''));
      return {
        group: spec.group,
        version: v.name,
        kind: spec.names.kind,
        listKind: spec.names.listKind ?? `${spec.names.kind}List`,
        plural: spec.names.plural,
        singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
        namespaced: spec.scope === 'Namespaced',
        shortNames: spec.names.shortNames ?? [],
        categories: spec.names.categories ?? [],
        verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'],
        hasStatus: v.subresources?.status !== undefined,
        storage,
        builtin: false,
        generation: true,
        defaultPropagation: 'Background',
        schema: v.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        schemaName: `${reverseGroup(spec.group)}.${v.name}.${spec.names.kind}`,
        printerColumns: v.additionalPrinterColumns ?? [],
        table: crdTable(v.additionalPrinterColumns),
        fieldLabels: Object.fromEntries(
          selectable.map((path) => [
            path,
            (o: KubeObject) => {
              let cur: unknown = o;
              for (const p of path.split('.')) cur = isObject(cur) ? cur[p] : undefined;
              return cur === undefined || cur === null ? undefined : String(cur);
            },
          ]),
        ),
        returnDeletedObject: true,
      };
    });
}
