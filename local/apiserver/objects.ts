/**
 * The object life cycle as the generic registry of kube-apiserver runs it: create, update, patch,
 * delete (with finalizers and propagation), status subresource, generation, resourceVersion
 * preconditions, defaulting, pruning and validation. HTTP knows nothing of this and this knows
 * nothing of HTTP.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../shared/clock.ts';
import { kubeTime } from '../../shared/clock.ts';
import { type FieldError, fieldErr, StatusError, statusErr } from './errors.ts';
import {
  appliedFields,
  encodeManagers,
  type FieldSet,
  managersFor,
  nextManagers,
  pruneUnapplied,
  type WriteBy,
} from './managed-fields.ts';
import { generateName, validateLabels, validateName } from './names.ts';
import {
  applyMerge,
  builtinPatchMeta,
  jsonPatch,
  mergePatch,
  type PatchMeta,
  type PatchType,
  strategicMerge,
} from './patch.ts';
import type { Registry } from './registry.ts';
import { validateCel } from './schema/cel.ts';
import { pruneAndDefault } from './schema/structural.ts';
import { validateSchema } from './schema/validate.ts';
import { type FieldRequirement, type LabelSelector, matchFields, matchLabels } from './selectors.ts';
import { keyOf, type Store, type Stored } from './store.ts';
import { normalizeTimes } from './times.ts';
import type { KubeObject, ObjectMeta, PropagationPolicy, ResourceType, Schema } from './types.ts';
import { apiVersionOf, isObject } from './types.ts';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  subresource?: 'status';
  /** Who writes, for metadata.managedFields (the fieldManager parameter, or the User-Agent's prefix). */
  fieldManager?: string;
  /** Server-side apply: the fields of the applied configuration, and whether conflicts are forced. */
  apply?: { applied: FieldSet; force: boolean };
}

/** The manager the server's own controllers write as (kube-controller-manager's User-Agent prefix). */
export const CONTROLLER_MANAGER = 'kube-controller-manager';

export interface WriteResult {
  obj: KubeObject;
  warnings: string[];
  created?: boolean;
}

export interface DeleteOptions {
  dryRun?: boolean;
  propagationPolicy?: PropagationPolicy;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface ListOptions {
  labelSelector?: LabelSelector;
  fieldSelector?: FieldRequirement[];
  limit?: number;
  continue?: string;
}

export interface ListResult {
  items: Stored[];
  resourceVersion: number;
  continue?: string;
  remainingItemCount?: number;
}

const metaKeys = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

export const finalizers = {
  orphan: 'orphan',
  foreground: 'foregroundDeletion',
  crdCleanup: 'customresourcecleanup.apiextensions.k8s.io',
};

function withoutMetaAndStatus(o: KubeObject, dropStatus: boolean): Record<string, unknown> {
  const { metadata: _m, ...rest } = o;
  if (dropStatus) delete rest.status;
  return rest;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Deep equality that ignores key order (JSON values only). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

export class ObjectService {
  readonly store: Store;
  readonly registry: Registry;
  readonly clock: Clock;
  /** storage → the apiVersion objects are stored in. */
  readonly #storageVersion = new Map<string, string>();

  constructor(store: Store, registry: Registry, clock: Clock) {
    this.store = store;
    this.registry = registry;
    this.clock = clock;
  }

  setStorageVersion(storage: string, apiVersion: string): void {
    this.#storageVersion.set(storage, apiVersion);
  }

  storageVersion(rt: ResourceType): string {
    return this.#storageVersion.get(rt.storage) ?? apiVersionOf(rt);
  }

  /** The stored object as the requested version shows it. */
  present(rt: ResourceType, obj: KubeObject): KubeObject {
    if (rt.fromStorage) return rt.fromStorage(obj);
    const av = apiVersionOf(rt);
    return obj.apiVersion === av && obj.kind === rt.kind ? obj : { ...obj, apiVersion: av, kind: rt.kind };
  }

  #toStorage(rt: ResourceType, obj: KubeObject): KubeObject {
    if (rt.toStorage) return rt.toStorage(obj);
    const av = this.storageVersion(rt);
    return obj.apiVersion === av ? obj : { ...obj, apiVersion: av };
  }

  #now(): Date {
    return this.clock.now();
  }

  #namespaceOf(rt: ResourceType, ns: string | undefined): string | undefined {
    return rt.namespaced ? ns : undefined;
  }

  getStored(rt: ResourceType, ns: string | undefined, name: string): Stored | undefined {
    return this.store.get(rt.storage, keyOf(this.#namespaceOf(rt, ns), name));
  }

  get(rt: ResourceType, ns: string | undefined, name: string): KubeObject {
    const s = this.getStored(rt, ns, name);
    if (!s) throw statusErr.notFound(rt.group, rt.plural, name);
    return this.present(rt, s.obj);
  }

  /** Field label lookup for a field selector (unsupported labels are refused up front). */
  fieldGetter(rt: ResourceType, obj: KubeObject): (f: string) => string | undefined {
    return (f) => {
      if (f === 'metadata.name') return obj.metadata.name;
      if (f === 'metadata.namespace') return obj.metadata.namespace ?? '';
      return rt.fieldLabels[f]?.(obj);
    };
  }

  checkFieldSelector(rt: ResourceType, reqs: FieldRequirement[] | undefined): void {
    for (const r of reqs ?? []) {
      if (r.field !== 'metadata.name' && r.field !== 'metadata.namespace' && !rt.fieldLabels[r.field]) {
        throw statusErr.badRequest(`field label not supported: ${r.field}`);
      }
    }
  }

  matches(
    rt: ResourceType,
    obj: KubeObject,
    opts: Pick<ListOptions, 'labelSelector' | 'fieldSelector'>,
  ): boolean {
    if (opts.labelSelector?.length && !matchLabels(opts.labelSelector, obj.metadata.labels)) return false;
    if (opts.fieldSelector?.length) {
      const view = rt.fromStorage ? rt.fromStorage(obj) : obj;
      if (!matchFields(opts.fieldSelector, this.fieldGetter(rt, view))) return false;
    }
    return true;
  }

  list(rt: ResourceType, ns: string | undefined, opts: ListOptions = {}): ListResult {
    this.checkFieldSelector(rt, opts.fieldSelector);
    const rv = this.store.resourceVersion;
    let all = this.store.list(rt.storage, this.#namespaceOf(rt, ns));
    let startAfter: string | undefined;
    if (opts.continue) {
      try {
        const tok = JSON.parse(Buffer.from(opts.continue, 'base64').toString('utf8')) as { start?: string };
        startAfter = tok.start;
      } catch {
        throw statusErr.badRequest('continue key is not valid: illegal base64 data at input byte 0');
      }
      if (typeof startAfter !== 'string') throw statusErr.badRequest('continue key is not valid');
      const from = startAfter;
      all = all.filter((s) => keyOf(s.obj.metadata.namespace, s.obj.metadata.name!) > from);
    }
    const filtering = (opts.labelSelector?.length ?? 0) > 0 || (opts.fieldSelector?.length ?? 0) > 0;
    const items: Stored[] = [];
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Number.POSITIVE_INFINITY;
    let i = 0;
    for (; i < all.length && items.length < limit; i++) {
      const s = all[i]!;
      if (!filtering || this.matches(rt, s.obj, opts)) items.push(s);
    }
    // Like etcd, a page may end before the last match; continue is set when keys remain.
    let more = false;
    for (let j = i; j < all.length; j++) {
      if (!filtering || this.matches(rt, all[j]!.obj, opts)) {
        more = true;
        break;
      }
    }
    const result: ListResult = { items, resourceVersion: rv };
    if (more && items.length > 0) {
      const last = items[items.length - 1]!.obj;
      result.continue = Buffer.from(
        JSON.stringify({
          v: 'meta.k8s.io/v1',
          rv,
          start: keyOf(last.metadata.namespace, last.metadata.name!),
        }),
      ).toString('base64');
      if (!filtering) result.remainingItemCount = all.length - i;
    }
    return result;
  }

  #checkNamespace(rt: ResourceType, ns: string | undefined, name: string): void {
    if (!rt.namespaced) return;
    if (!ns) throw statusErr.badRequest('the server could not find the requested resource');
    const nsObj = this.store.get('/namespaces', keyOf(undefined, ns));
    if (!nsObj) throw statusErr.notFound('', 'namespaces', ns);
    if (nsObj.obj.metadata.deletionTimestamp) {
      const e = statusErr.forbidden(
        rt.group,
        rt.plural,
        name,
        `unable to create new content in namespace ${ns} because it is being terminated`,
      );
      throw new StatusError(e.code, e.reason, e.message, {
        ...e.details,
        causes: [
          {
            reason: 'NamespaceTerminating',
            message: `namespace ${ns} is being terminated`,
            field: 'metadata.namespace',
          },
        ],
      });
    }
  }

  /** Checks kind/apiVersion of a body against the URL's resource and fills them in when absent. */
  #checkTypeMeta(rt: ResourceType, body: unknown): KubeObject {
    if (!isObject(body)) throw statusErr.badRequest('the body of the request was not a JSON object');
    const av = apiVersionOf(rt);
    if (body.apiVersion !== undefined && body.apiVersion !== av) {
      throw statusErr.badRequest(
        `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${av})`,
      );
    }
    if (body.kind !== undefined && body.kind !== rt.kind) {
      throw statusErr.badRequest(
        `${String(body.kind)} in version "${rt.version}" cannot be handled as a ${rt.kind}: the kind in the data does not match`,
      );
    }
    const obj = structuredClone(body) as KubeObject;
    obj.apiVersion = av;
    obj.kind = rt.kind;
    if (!isObject(obj.metadata)) obj.metadata = {};
    return obj;
  }

  /** Prunes unknown fields (metadata to ObjectMeta, the rest by schema) and applies defaults. */
  #prune(rt: ResourceType, obj: KubeObject, fv: FieldValidation | undefined): string[] {
    const unknown: string[] = [];
    for (const k of Object.keys(obj.metadata)) {
      if (!metaKeys.has(k)) {
        unknown.push(`metadata.${k}`);
        delete obj.metadata[k];
      }
    }
    delete obj.metadata.managedFields;
    delete obj.metadata.selfLink;
    if (rt.schema) {
      const { metadata, ...rest } = obj;
      const body = rest as Record<string, unknown>;
      const pruned = pruneAndDefault(body, withoutMetadataProps(rt.schema));
      for (const k of Object.keys(obj)) if (k !== 'metadata' && !(k in body)) delete obj[k];
      Object.assign(obj, body, { metadata });
      unknown.push(...pruned);
    }
    const warnings: string[] = [];
    if (unknown.length && fv !== 'Ignore') {
      const msgs = unknown.map((u) => `unknown field "${u}"`);
      if (fv === 'Strict') {
        throw statusErr.badRequest(
          `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: strict decoding error: ${msgs.join(', ')}`,
        );
      }
      warnings.push(...msgs);
    }
    return warnings;
  }

  #validate(rt: ResourceType, obj: KubeObject, old: KubeObject | undefined): void {
    const errs: FieldError[] = [];
    const name = obj.metadata.name ?? '';
    if (!old) errs.push(...validateName(name, rt.dnsLabelName === true));
    errs.push(...validateLabels(obj.metadata.labels));
    if (rt.namespaced && !obj.metadata.namespace) errs.push(fieldErr.required('metadata.namespace'));
    for (const [i, ref] of (obj.metadata.ownerReferences ?? []).entries()) {
      for (const f of ['apiVersion', 'kind', 'name', 'uid'] as const) {
        if (!isObject(ref) || !ref[f]) errs.push(fieldErr.required(`metadata.ownerReferences[${i}].${f}`));
      }
    }
    if ((obj.metadata.ownerReferences ?? []).filter((r) => r.controller).length > 1) {
      errs.push(
        fieldErr.invalid(
          'metadata.ownerReferences',
          obj.metadata.ownerReferences,
          'Only one reference can have Controller set to true',
        ),
      );
    }
    if (old) {
      if (old.metadata.deletionTimestamp) {
        const added = (obj.metadata.finalizers ?? []).filter(
          (f) => !(old.metadata.finalizers ?? []).includes(f),
        );
        if (added.length) {
          errs.push(
            fieldErr.forbidden(
              'metadata.finalizers',
              `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`,
            ),
          );
        }
      }
    }
    if (!rt.builtin && rt.schema) {
      // The whole object is checked against the schema, metadata included: a CRD may restrict
      // metadata.name and generateName (and nothing else there), and the server enforces it.
      const { metadata: m, ...rest } = obj;
      const meta: Record<string, unknown> = {};
      if (m.name !== undefined) meta.name = m.name;
      if (m.generateName !== undefined) meta.generateName = m.generateName;
      const schemaErrs = validateSchema({ ...rest, metadata: meta }, rt.schema);
      errs.push(...schemaErrs);
      if (schemaErrs.some((e) => e.type === 'FieldValueTypeInvalid')) {
        errs.push(
          fieldErr.invalid(
            '<nil>',
            'null',
            'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
          ),
        );
      } else {
        const oldView = old ? this.present(rt, old) : undefined;
        errs.push(...validateCel(obj, oldView, rt.schema));
      }
    }
    if (rt.validator) errs.push(...rt.validator(obj, old ? this.present(rt, old) : undefined));
    if (errs.length) throw statusErr.invalid(rt.group, rt.kind, name, errs);
  }

  async create(
    rt: ResourceType,
    ns: string | undefined,
    body: unknown,
    opts: WriteOptions = {},
  ): Promise<WriteResult> {
    const obj = this.#checkTypeMeta(rt, body);
    const m = obj.metadata;
    if (rt.namespaced) {
      if (m.namespace && ns && m.namespace !== ns) {
        throw statusErr.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      m.namespace = ns ?? m.namespace;
    } else delete m.namespace;
    if (!m.name) {
      if (!m.generateName) {
        throw statusErr.invalid(rt.group, rt.kind, '', [
          fieldErr.required('metadata.name', 'name or generateName is required'),
        ]);
      }
      m.name = generateName(m.generateName);
    }
    if (m.resourceVersion)
      throw statusErr.badRequest('resourceVersion should not be set on objects to be created');
    this.#checkNamespace(rt, m.namespace, m.name);
    const askedManagers = m.managedFields;
    const warnings = this.#prune(rt, obj, opts.fieldValidation);
    const now = this.#now();
    m.uid = randomUUID();
    m.creationTimestamp = kubeTime(now);
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    if (rt.generation) m.generation = 1;
    else delete m.generation;
    if (rt.hasStatus) delete obj.status;
    if (rt.storage === 'apiextensions.k8s.io/customresourcedefinitions') {
      m.finalizers = [...new Set([...(m.finalizers ?? []), finalizers.crdCleanup])];
    }
    rt.defaulter?.(obj, undefined, now);
    if (rt.builtin) normalizeTimes(obj);
    this.#validate(rt, obj, undefined);
    if (this.getStored(rt, m.namespace, m.name)) throw statusErr.alreadyExists(rt.group, rt.plural, m.name);
    this.#track(rt, obj, undefined, askedManagers, opts, now);
    if (opts.dryRun) return { obj, warnings, created: true };
    const stored = this.#toStorage(rt, obj);
    const rv = this.store.nextResourceVersion();
    stored.metadata = { ...stored.metadata, resourceVersion: String(rv) };
    const s = await this.store.put(rt.storage, sortMeta(stored), rv, 'ADDED');
    return { obj: this.present(rt, s.obj), warnings, created: true };
  }

  /** PUT of the main resource or of /status. */
  async update(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    body: unknown,
    opts: WriteOptions = {},
  ): Promise<WriteResult> {
    const obj = this.#checkTypeMeta(rt, body);
    if (obj.metadata.name && obj.metadata.name !== name) {
      throw statusErr.badRequest(
        `the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    if (rt.namespaced && obj.metadata.namespace && obj.metadata.namespace !== ns) {
      throw statusErr.badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    obj.metadata.name = name;
    const current = this.getStored(rt, ns, name);
    if (!current) throw statusErr.notFound(rt.group, rt.plural, name);
    return this.#updateFrom(rt, current, obj, opts);
  }

  async #updateFrom(
    rt: ResourceType,
    current: Stored,
    incoming: KubeObject,
    opts: WriteOptions,
  ): Promise<WriteResult> {
    const name = current.obj.metadata.name!;
    const old = this.present(rt, current.obj);
    const rv = incoming.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) {
      throw statusErr.conflict(
        rt.group,
        rt.plural,
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    const askedManagers = incoming.metadata.managedFields;
    let obj: KubeObject;
    let warnings: string[] = [];
    if (opts.subresource === 'status') {
      // Everything but status comes from the stored object (customresource statusStrategy).
      obj = structuredClone(old);
      if (incoming.status === undefined) delete obj.status;
      else obj.status = structuredClone(incoming.status);
      warnings = this.#prune(rt, obj, opts.fieldValidation);
    } else {
      obj = incoming;
      warnings = this.#prune(rt, obj, opts.fieldValidation);
      if (rt.hasStatus) {
        if (old.status === undefined) delete obj.status;
        else obj.status = structuredClone(old.status);
      }
    }
    const m = obj.metadata;
    const om = old.metadata;
    m.name = om.name;
    m.namespace = om.namespace;
    if (!rt.namespaced) delete m.namespace;
    m.uid = om.uid;
    m.creationTimestamp = om.creationTimestamp;
    if (om.deletionTimestamp) {
      m.deletionTimestamp = om.deletionTimestamp;
      m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds;
    } else {
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
    }
    delete m.generateName;
    if (om.generateName) m.generateName = om.generateName;
    const now = this.#now();
    rt.defaulter?.(obj, old, now);
    if (rt.builtin) normalizeTimes(obj);
    if (rt.generation) {
      const gen = om.generation ?? 1;
      const changed = !deepEqual(
        withoutMetaAndStatus(obj, rt.hasStatus),
        withoutMetaAndStatus(old, rt.hasStatus),
      );
      m.generation = changed ? gen + 1 : gen;
    } else delete m.generation;
    this.#validate(rt, obj, current.obj);
    m.resourceVersion = om.resourceVersion;
    this.#track(rt, obj, old, askedManagers, opts, now);
    if (deepEqual(obj, old)) return { obj: old, warnings };
    if (opts.dryRun) return { obj, warnings };
    if (
      m.deletionTimestamp &&
      (m.finalizers ?? []).length === 0 &&
      !this.#blockedByNamespaceFinalizer(rt, obj)
    ) {
      const gone = await this.#remove(rt, obj);
      return { obj: gone, warnings };
    }
    const stored = this.#toStorage(rt, obj);
    const newRv = this.store.nextResourceVersion();
    stored.metadata = { ...stored.metadata, resourceVersion: String(newRv) };
    const s = await this.store.put(rt.storage, sortMeta(stored), newRv, 'MODIFIED');
    return { obj: this.present(rt, s.obj), warnings };
  }

  /** A Namespace also waits for its spec.finalizers (the namespace controller empties them). */
  #blockedByNamespaceFinalizer(rt: ResourceType, obj: KubeObject): boolean {
    if (rt.storage !== '/namespaces') return false;
    const spec = isObject(obj.spec) ? obj.spec : {};
    return Array.isArray(spec.finalizers) && spec.finalizers.length > 0;
  }

  async #remove(rt: ResourceType, obj: KubeObject): Promise<KubeObject> {
    const rv = this.store.nextResourceVersion();
    const last = this.#toStorage(rt, obj);
    last.metadata = { ...last.metadata, resourceVersion: String(rv) };
    const s = await this.store.remove(rt.storage, last, rv);
    return this.present(rt, s.obj);
  }

  /** Sets metadata.managedFields of `obj`, written over `old` (managed-fields.ts); may throw an apply conflict. */
  #track(
    rt: ResourceType,
    obj: KubeObject,
    old: KubeObject | undefined,
    asked: unknown,
    opts: WriteOptions,
    now: Date,
  ): void {
    const by: WriteBy = {
      manager: opts.fieldManager ?? 'unknown',
      operation: opts.apply ? 'Apply' : 'Update',
      apiVersion: apiVersionOf(rt),
      ...(opts.subresource ? { subresource: opts.subresource } : {}),
      ...(opts.apply ? { applied: opts.apply.applied, force: opts.apply.force } : {}),
    };
    const untracked = (o: KubeObject | undefined) =>
      o ? { ...o, metadata: { ...o.metadata, managedFields: undefined } } : {};
    const managers = nextManagers(
      managersFor(old, asked, opts.subresource),
      untracked(old),
      untracked(obj),
      by,
      this.patchMeta(rt),
      now,
    );
    const entries = encodeManagers(managers);
    if (entries.length > 0) obj.metadata.managedFields = entries;
    else delete obj.metadata.managedFields;
  }

  patchMeta(rt: ResourceType): PatchMeta {
    if (rt.builtin) return builtinPatchMeta;
    return (path) => {
      // A custom resource's metadata is ObjectMeta, merged as the built-ins' is.
      if (path[0] === 'metadata') return builtinPatchMeta(path);
      let s: Schema | undefined = rt.schema;
      for (const p of path) {
        const next: Schema | undefined = s?.type === 'array' ? s.items : s;
        s =
          next?.properties?.[p] ??
          (typeof next?.additionalProperties === 'object' ? next.additionalProperties : undefined);
      }
      const keys = s?.['x-kubernetes-list-map-keys'];
      if (s?.['x-kubernetes-list-type'] === 'map' && keys?.length) return { mergeKey: keys[0]! };
      if (s?.['x-kubernetes-list-type'] === 'set') return { set: true };
      return undefined;
    };
  }

  async patch(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions & { force?: boolean } = {},
  ): Promise<WriteResult> {
    if (type === 'strategic' && !rt.builtin) {
      throw new StatusError(
        415,
        'UnsupportedMediaType',
        'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
      );
    }
    const current = this.getStored(rt, ns, name);
    if (!current) {
      if (type === 'apply' && opts.subresource !== 'status') {
        const body = isObject(patch)
          ? { ...patch, metadata: { ...(isObject(patch.metadata) ? patch.metadata : {}), name } }
          : patch;
        const applied = appliedFields(body, this.patchMeta(rt));
        return this.create(rt, ns, body, { ...opts, apply: { applied, force: opts.force === true } });
      }
      throw statusErr.notFound(rt.group, rt.plural, name);
    }
    const view = this.present(rt, current.obj);
    let result: unknown;
    let applyAs: WriteOptions['apply'];
    switch (type) {
      case 'json':
        result = jsonPatch(view, patch);
        break;
      case 'merge':
        if (!isObject(patch))
          throw statusErr.badRequest(
            'json: cannot unmarshal array into Go value of type map[string]interface {}',
          );
        result = mergePatch(view, patch);
        break;
      case 'strategic':
        if (!isObject(patch))
          throw statusErr.badRequest(
            'json: cannot unmarshal array into Go value of type map[string]interface {}',
          );
        result = strategicMerge(view, patch, this.patchMeta(rt));
        break;
      case 'apply': {
        if (!isObject(patch))
          throw statusErr.badRequest('error decoding YAML: the applied configuration must be an object');
        const applied = structuredClone(patch);
        if (applied.apiVersion !== undefined && applied.apiVersion !== apiVersionOf(rt)) {
          throw statusErr.badRequest(
            `the API version in the data (${String(applied.apiVersion)}) does not match the expected API version (${apiVersionOf(rt)})`,
          );
        }
        if (isObject(applied.metadata)) {
          if (applied.metadata.managedFields !== undefined)
            throw statusErr.badRequest('metadata.managedFields must be nil');
          delete applied.metadata.resourceVersion;
        }
        const meta = this.patchMeta(rt);
        const set = appliedFields(applied, meta);
        result = applyMerge(view, applied, meta);
        const by: WriteBy = {
          manager: opts.fieldManager ?? 'unknown',
          operation: 'Apply',
          apiVersion: apiVersionOf(rt),
          applied: set,
          ...(opts.subresource ? { subresource: opts.subresource } : {}),
        };
        pruneUnapplied(result, managersFor(view, undefined, opts.subresource), by, meta);
        applyAs = { applied: set, force: opts.force === true };
        break;
      }
    }
    if (!isObject(result)) throw statusErr.badRequest('the patch did not produce an object');
    const obj = result as KubeObject;
    if (!isObject(obj.metadata)) obj.metadata = {};
    // Patches keep the stored resourceVersion unless the patch itself set one (a precondition).
    const patchedRv = obj.metadata.resourceVersion;
    obj.metadata.resourceVersion = patchedRv ?? view.metadata.resourceVersion;
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw statusErr.badRequest(
        `the name of the object (${String(obj.metadata.name)}) does not match the name on the URL (${name})`,
      );
    }
    const checked = this.#checkTypeMeta(rt, obj);
    checked.metadata.name = name;
    return this.#updateFrom(rt, current, checked, applyAs ? { ...opts, apply: applyAs } : opts);
  }

  async delete(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<{ obj: KubeObject; deleted: boolean }> {
    const current = this.getStored(rt, ns, name);
    if (!current) throw statusErr.notFound(rt.group, rt.plural, name);
    const obj = structuredClone(this.present(rt, current.obj));
    const m = obj.metadata;
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== m.uid) {
      throw statusErr.conflict(
        rt.group,
        rt.plural,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${m.uid}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== m.resourceVersion) {
      throw statusErr.conflict(
        rt.group,
        rt.plural,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${m.resourceVersion}`,
      );
    }
    if (
      rt.storage === '/namespaces' &&
      (name === 'default' || name === 'kube-system' || name === 'kube-public')
    ) {
      throw statusErr.forbidden('', 'namespaces', name, 'this namespace may not be deleted');
    }
    const policy = opts.propagationPolicy ?? rt.defaultPropagation;
    const fins = new Set(m.finalizers ?? []);
    if (policy === 'Orphan') {
      fins.add(finalizers.orphan);
      fins.delete(finalizers.foreground);
    } else if (policy === 'Foreground') {
      fins.add(finalizers.foreground);
      fins.delete(finalizers.orphan);
    } else if (!m.deletionTimestamp) {
      fins.delete(finalizers.orphan);
      fins.delete(finalizers.foreground);
    }
    const graceful = fins.size > 0 || this.#blockedByNamespaceFinalizer(rt, obj);
    if (!graceful) {
      if (opts.dryRun) return { obj, deleted: true };
      return { obj: await this.#remove(rt, obj), deleted: true };
    }
    const already = m.deletionTimestamp !== undefined;
    const finalList = [...fins];
    if (already && sameJson(finalList, m.finalizers ?? [])) return { obj, deleted: false };
    m.finalizers = finalList;
    if (!already) {
      m.deletionTimestamp = kubeTime(this.#now());
      m.deletionGracePeriodSeconds = 0;
      if (rt.storage === '/namespaces' && isObject(obj.status)) obj.status.phase = 'Terminating';
    }
    if (opts.dryRun) return { obj, deleted: false };
    const stored = this.#toStorage(rt, obj);
    const rv = this.store.nextResourceVersion();
    stored.metadata = { ...stored.metadata, resourceVersion: String(rv) };
    const s = await this.store.put(rt.storage, sortMeta(stored), rv, 'MODIFIED');
    return { obj: this.present(rt, s.obj), deleted: false };
  }

  /** Takes a finalizer off an object (controllers: GC, namespaces, CRD cleanup); retries on conflict. */
  async removeFinalizer(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    finalizer: string,
  ): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = this.getStored(rt, ns, name);
      if (!cur || !(cur.obj.metadata.finalizers ?? []).includes(finalizer)) return;
      const obj = structuredClone(this.present(rt, cur.obj));
      obj.metadata.finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
      try {
        await this.#updateFrom(rt, cur, obj, { fieldManager: CONTROLLER_MANAGER });
        return;
      } catch (e) {
        if (!(e instanceof StatusError && e.code === 409)) throw e;
      }
    }
  }

  /** Writes an object as a controller would (used by the namespace controller). */
  async writeAs(rt: ResourceType, cur: Stored, mutate: (o: KubeObject) => void): Promise<void> {
    const obj = structuredClone(this.present(rt, cur.obj));
    mutate(obj);
    await this.#updateFrom(rt, cur, obj, { fieldManager: CONTROLLER_MANAGER });
  }

  /** Removes an object whose last blocker is gone without an update (namespace finalize). */
  async finalizeRemove(rt: ResourceType, cur: Stored): Promise<void> {
    await this.#remove(rt, structuredClone(this.present(rt, cur.obj)));
  }
}

/** Strips `metadata` properties from a root schema (ObjectMeta is checked by the server itself). */
function withoutMetadataProps(s: Schema): Schema {
  if (!s.properties?.metadata) return s;
  const cached = noMetaCache.get(s);
  if (cached) return cached;
  const { metadata: _m, ...props } = s.properties;
  const out: Schema = { ...s, properties: props };
  noMetaCache.set(s, out);
  return out;
}
const noMetaCache = new WeakMap<Schema, Schema>();

/** Puts metadata fields in the order the real server writes them (cosmetic, for yaml output). */
const metaOrder = [
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
];
function sortMeta(o: KubeObject): KubeObject {
  const m: ObjectMeta = {};
  for (const k of metaOrder) if (o.metadata[k] !== undefined) m[k] = o.metadata[k];
  for (const [k, v] of Object.entries(o.metadata)) if (!(k in m) && v !== undefined) m[k] = v;
  const { apiVersion, kind, metadata: _m, ...rest } = o;
  return { apiVersion, kind, metadata: m, ...rest };
}
