/**
 * Turns a Cairn kind's TypeBox schema into the CRD's structural openAPIV3Schema (`toCrd`). The
 * API server validates objects against it (in a cluster, and the emulator of `npm start` as
 * kube-apiserver does); there is no second validator (tests validate through the emulator's,
 * test/api-validation.ts).
 */
import type { TSchema } from '@sinclair/typebox';
import { GROUP, type KindDef, VERSION } from './kinds.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const ANY_KEY = '^(.*)$';

/** TypeBox → plain JSON Schema; `structural` drops what a CRD's structural schema forbids. */
function convert(node: Json, structural: boolean): Json {
  if (Array.isArray(node)) return node.map((n) => convert(n, structural));
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$id' || key === '$comment') continue;
    if (key === 'patternProperties') {
      // Type.Record(Type.String(), X) → a map: additionalProperties is the structural spelling.
      const entries = Object.entries(value as JsonObject);
      const [pattern, schema] = entries[0] ?? [];
      if (entries.length !== 1 || pattern !== ANY_KEY || schema === undefined) {
        throw new Error(`unsupported patternProperties ${JSON.stringify(value)}`);
      }
      out.additionalProperties = convert(schema, structural);
      continue;
    }
    if (structural && key === 'additionalProperties' && typeof value === 'boolean') continue;
    if (structural && key === 'uniqueItems') {
      // Kubernetes refuses uniqueItems (quadratic); a set-typed list says the same.
      if (value === true) out['x-kubernetes-list-type'] = 'set';
      continue;
    }
    out[key] = convert(value, structural);
  }
  return out;
}

function plain(schema: TSchema): Json {
  // JSON round trip drops TypeBox's symbol-keyed metadata.
  return JSON.parse(JSON.stringify(schema)) as Json;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: JsonObject;
}

export function toCrd(def: KindDef): CustomResourceDefinition {
  const schema = convert(plain(def.schema), true) as JsonObject;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'cairn', 'app.kubernetes.io/managed-by': 'cairn' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: def.categories,
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns as unknown as Json[],
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}
