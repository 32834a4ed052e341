/**
 * OpenAPI documents generated from the registry: /openapi/v3 (the index of group-version
 * documents, addressed by content hash as the real server does) and one document per
 * group-version, plus /openapi/v2 as one JSON document. kubectl uses v3 for `explain` and to learn
 * that the server validates fields itself (the `fieldValidation` parameter on PATCH), after which
 * it sends `fieldValidation=Strict` instead of validating client-side.
 */
import { createHash } from 'node:crypto';
import { objectMeta, objectMetaName } from './builtins/schemas.ts';
import type { Registry } from './registry.ts';
import type { Json, ResourceType, Schema } from './types.ts';

const info = { title: 'Kubernetes', version: 'v1.32.0' };

/** The schema of a kind as published: metadata by reference, the GVK extension on top. */
function publishedSchema(t: ResourceType, refPrefix: string): Json {
  const s = structuredClone(t.schema ?? { type: 'object' }) as Schema;
  s.properties = {
    apiVersion: {
      type: 'string',
      description:
        'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
    },
    kind: {
      type: 'string',
      description:
        'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
    },
    ...s.properties,
    metadata: {
      description:
        "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
      allOf: [{ $ref: `${refPrefix}${objectMetaName}` }],
    },
  };
  s['x-kubernetes-group-version-kind'] = [{ group: t.group, kind: t.kind, version: t.version }];
  return s as Json;
}

const queryParams = (names: string[]): Json[] =>
  names.map((name) => ({
    name,
    in: 'query',
    description: name,
    schema: { type: 'string', uniqueItems: true },
  }));

function operation(t: ResourceType, action: string, params: string[], ref: string): Json {
  return {
    description: `${action} ${t.kind}`,
    operationId: `${action}${t.kind}`,
    parameters: queryParams(params),
    responses: { '200': { description: 'OK', content: { 'application/json': { schema: { $ref: ref } } } } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: t.group, version: t.version, kind: t.kind },
  };
}

function pathsFor(t: ResourceType, refPrefix: string): Record<string, Json> {
  const base = t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`;
  const coll = t.namespaced ? `${base}/namespaces/{namespace}/${t.plural}` : `${base}/${t.plural}`;
  const ref = `${refPrefix}${t.schemaName}`;
  const write = ['dryRun', 'fieldManager', 'fieldValidation'];
  const item = {
    get: operation(t, 'get', [], ref),
    put: operation(t, 'put', write, ref),
    patch: operation(t, 'patch', [...write, 'force'], ref),
    delete: operation(t, 'delete', ['dryRun', 'gracePeriodSeconds', 'propagationPolicy'], ref),
    parameters: [
      { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
      ...(t.namespaced
        ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string' } }]
        : []),
    ],
  };
  const paths: Record<string, Json> = {
    [coll]: {
      get: operation(t, 'list', ['labelSelector', 'fieldSelector', 'limit', 'continue', 'watch'], ref),
      post: operation(t, 'post', write, ref),
    },
    [`${coll}/{name}`]: item as Json,
  };
  if (t.hasStatus) {
    paths[`${coll}/{name}/status`] = {
      get: operation(t, 'get', [], ref),
      put: operation(t, 'put', write, ref),
      patch: operation(t, 'patch', [...write, 'force'], ref),
    };
  }
  return paths;
}

function groupVersionKey(t: { group: string; version: string }): string {
  return t.group ? `apis/${t.group}/${t.version}` : `api/${t.version}`;
}

export class OpenApi {
  readonly #registry: Registry;
  #gen = -1;
  #docs = new Map<string, { json: string; hash: string }>();

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  #refresh() {
    if (this.#gen === this.#registry.generation) return;
    this.#gen = this.#registry.generation;
    const byGv = new Map<string, ResourceType[]>();
    for (const t of this.#registry.all()) {
      const k = groupVersionKey(t);
      byGv.set(k, [...(byGv.get(k) ?? []), t]);
    }
    this.#docs = new Map();
    for (const [k, types] of byGv) {
      const prefix = '#/components/schemas/';
      const schemas: Record<string, Json> = { [objectMetaName]: objectMeta as Json };
      let paths: Record<string, Json> = {};
      for (const t of types) {
        schemas[t.schemaName] = publishedSchema(t, prefix);
        paths = { ...paths, ...pathsFor(t, prefix) };
      }
      const json = JSON.stringify({ openapi: '3.0.0', info, paths, components: { schemas } });
      const hash = createHash('sha512').update(json).digest('hex').slice(0, 128).toUpperCase();
      this.#docs.set(k, { json, hash });
    }
  }

  /** GET /openapi/v3 */
  index(): Json {
    this.#refresh();
    const paths: Record<string, Json> = {};
    for (const [k, d] of this.#docs) paths[k] = { serverRelativeURL: `/openapi/v3/${k}?hash=${d.hash}` };
    return { paths };
  }

  /** GET /openapi/v3/{api/v1 | apis/g/v}: the JSON text and its hash (for ETag). */
  groupVersion(key: string): { json: string; hash: string } | undefined {
    this.#refresh();
    return this.#docs.get(key);
  }

  /** GET /openapi/v2: one Swagger 2.0 document of every kind. */
  v2(): Json {
    const definitions: Record<string, Json> = { [objectMetaName]: objectMeta as Json };
    let paths: Record<string, Json> = {};
    for (const t of this.#registry.all()) {
      definitions[t.schemaName] = publishedSchema(t, '#/definitions/');
      paths = { ...paths, ...pathsFor(t, '#/definitions/') };
    }
    return { swagger: '2.0', info, paths, definitions };
  }
}
