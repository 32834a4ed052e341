/**
 * The shapes the emulator works with. Objects are plain JSON (as `unstructured` is in Go);
 * only the parts the server itself reads are typed.
 */

/** A JSON value as it travels on the wire. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
}

/** An object as the store holds it: always with apiVersion, kind and metadata. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** The OpenAPI v3 subset a CRD's `openAPIV3Schema` uses (JSONSchemaProps). */
export interface Schema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: Json[];
  default?: Json;
  nullable?: boolean;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  multipleOf?: number;
  uniqueItems?: boolean;
  anyOf?: Schema[];
  allOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  $ref?: string;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
  /** Strategic-merge-patch hints (built-in schemas only, as in Kubernetes' own OpenAPI). */
  'x-kubernetes-patch-merge-key'?: string;
  'x-kubernetes-patch-strategy'?: string;
  [key: string]: unknown;
}

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

/** What one row of a built-in's table looks like: the cells after NAME. */
export interface TableColumns {
  columns: Array<{ name: string; type: string; format?: string; description?: string; priority?: number }>;
  cells: (obj: KubeObject, now: Date) => Json[];
}

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

/** One served resource (a group/version/plural). Several may share one storage (CRD versions, events). */
export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  hasStatus: boolean;
  /** Where the objects live; the same for every version of one CRD. */
  storage: string;
  builtin: boolean;
  /** Whether `metadata.generation` is kept (CRs, Jobs, CRDs). */
  generation: boolean;
  /** The default propagation when a DELETE does not say. */
  defaultPropagation: PropagationPolicy;
  /** The structural schema for validation/openapi (CRDs: the version's openAPIV3Schema). */
  schema?: Schema;
  /** The OpenAPI component name (`io.k8s.api.core.v1.Pod`, `dev.cairn.backup.v1alpha1.Backup`). */
  schemaName: string;
  printerColumns?: PrinterColumn[];
  table?: TableColumns;
  /** Field selectors beyond metadata.name/namespace: label → how to read it. */
  fieldLabels: Record<string, (obj: KubeObject) => string | undefined>;
  /** Fills in what the real server defaults; runs on create and update. */
  defaulter?: (obj: KubeObject, old: KubeObject | undefined, now: Date) => void;
  /** Built-in validation beyond the schema; field errors. */
  validator?: (obj: KubeObject, old: KubeObject | undefined) => import('./errors.ts').FieldError[];
  /** Converts between the stored shape and this version's shape (events.k8s.io/v1). */
  fromStorage?: (obj: KubeObject) => KubeObject;
  toStorage?: (obj: KubeObject) => KubeObject;
  /** Names must be DNS-1123 labels (namespaces, services) rather than subdomains. */
  dnsLabelName?: boolean;
  /** Whether DELETE answers with the object (CRs) or with a Status (most built-ins). */
  returnDeletedObject: boolean;
}

export function apiVersionOf(rt: { group: string; version: string }): string {
  return rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
