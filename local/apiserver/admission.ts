/**
 * Cairn's objects checked as the API server checks them, without a server: Cairn's CRDs (generated
 * from shared/api, the same that crds/ holds — test/shared/crds.test.ts keeps the two equal) are
 * installed into an in-process object service of the emulator, and each object is created (or
 * updated over `old`) with dryRun: the same pruning, defaulting, OpenAPI validation and CEL rules
 * that `npm start` runs, which mirror what kube-apiserver enforces in a cluster. One validator for
 * the emulator, `cairn convert` and the schema tests (issue 14 item 9).
 */

import { toCrd } from '../../shared/api/crd.ts';
import { KINDS } from '../../shared/api/index.ts';
import { GROUP, VERSION } from '../../shared/api/kinds.ts';
import { systemClock } from '../../shared/clock.ts';
import { createObjectService } from './bootstrap.ts';
import { StatusError } from './errors.ts';
import type { ObjectService } from './objects.ts';
import type { KubeObject } from './types.ts';

export interface FieldError {
  field: string;
  message: string;
}

export interface Verdict {
  errors: FieldError[];
  /** The object as the server would store it (defaults applied), when it is valid. */
  obj: KubeObject | undefined;
  /** The whole answer's message when it was refused (`… is invalid: […]`). */
  message?: string;
}

const MANAGER = 'cairn-admission';
let service: Promise<ObjectService> | undefined;

function server(): Promise<ObjectService> {
  service ??= (async () => {
    const svc = await createObjectService({ clock: systemClock });
    const crds = svc.registry.byResource('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
    for (const def of KINDS) {
      await svc.create(crds, undefined, structuredClone(toCrd(def)) as unknown as KubeObject, {
        fieldManager: MANAGER,
      });
    }
    return svc;
  })();
  return service;
}

const unknownFields = (texts: string[]): FieldError[] =>
  texts.flatMap((t) =>
    [...t.matchAll(/unknown field "([^"]+)"/g)].map((m) => ({ field: m[1]!, message: 'unknown field' })),
  );

let seq = 0;

/** What the API server answers to `obj` (created in its namespace, default `default`; or updated over `old`). */
export async function admit(kind: string, obj: unknown, old?: unknown): Promise<Verdict> {
  const svc = await server();
  const rt = svc.registry.byKind(GROUP, VERSION, kind);
  if (!rt) throw new Error(`no CRD serves ${kind}`);
  const body = structuredClone(obj) as KubeObject;
  const ns = body.metadata?.namespace ?? 'default';
  const namespaces = svc.registry.byResource('', 'v1', 'namespaces')!;
  if (!svc.getStored(namespaces, undefined, ns)) {
    await svc.create(namespaces, undefined, { metadata: { name: ns } }, { fieldManager: MANAGER });
  }
  const write = async (fieldValidation: 'Warn' | 'Strict') => {
    if (old === undefined) {
      return svc.create(rt, ns, structuredClone(body), {
        dryRun: true,
        fieldValidation,
        fieldManager: MANAGER,
      });
    }
    const name = `old-${++seq}`;
    const prior = structuredClone(old) as KubeObject;
    await svc.create(rt, ns, { ...prior, metadata: { ...prior.metadata, name } }, { fieldManager: MANAGER });
    const next = { ...structuredClone(body), metadata: { ...body.metadata, name } };
    return svc.update(rt, ns, name, next, { dryRun: true, fieldValidation, fieldManager: MANAGER });
  };
  try {
    const r = await write('Warn');
    return { errors: unknownFields(r.warnings), obj: r.obj };
  } catch (e) {
    if (!(e instanceof StatusError) || e.code !== 422) throw e;
    // The 422 lost the pruning warnings: ask again strictly for the unknown fields.
    const strict = await write('Strict').catch((s: unknown) => s);
    const unknown =
      strict instanceof StatusError && strict.code === 400 ? unknownFields([strict.message]) : [];
    const causes = (e.details?.causes ?? []).map((c) => ({ field: c.field ?? '', message: c.message ?? '' }));
    return { errors: [...causes, ...unknown], obj: undefined, message: e.message };
  }
}

/** The field errors of `obj`; empty when the server accepts it. */
export async function fieldErrors(kind: string, obj: unknown, old?: unknown): Promise<FieldError[]> {
  return (await admit(kind, obj, old)).errors;
}
