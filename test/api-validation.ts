/**
 * Validation of Cairn's objects as the API server does it, for the schema tests: the committed
 * CRDs (crds/, generated from shared/api) installed into the API emulator's object service
 * (local/apiserver, in-process, no HTTP), and each object created (or updated over `old`) with
 * dryRun — the same pruning, defaulting, OpenAPI validation and CEL rules that `npm start` runs,
 * which mirror what kube-apiserver enforces in a cluster. One validator, the one production runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { createObjectService } from '../local/apiserver/bootstrap.ts';
import { StatusError } from '../local/apiserver/errors.ts';
import type { ObjectService } from '../local/apiserver/objects.ts';
import type { KubeObject } from '../local/apiserver/types.ts';
import { GROUP, VERSION } from '../shared/api/kinds.ts';
import { systemClock } from '../shared/clock.ts';

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

const root = new URL('../', import.meta.url).pathname;
let service: Promise<ObjectService> | undefined;

function server(): Promise<ObjectService> {
  service ??= (async () => {
    const svc = await createObjectService({ clock: systemClock });
    const crds = svc.registry.byResource('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
    for (const f of readdirSync(join(root, 'crds'))
      .filter((x) => x.endsWith('.yaml'))
      .sort()) {
      for (const d of parseAllDocuments(readFileSync(join(root, 'crds', f), 'utf8'))) {
        await svc.create(crds, undefined, d.toJS(), { fieldManager: 'test' });
      }
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
    await svc.create(namespaces, undefined, { metadata: { name: ns } }, { fieldManager: 'test' });
  }
  const write = async (fieldValidation: 'Warn' | 'Strict') => {
    if (old === undefined) {
      return svc.create(rt, ns, structuredClone(body), {
        dryRun: true,
        fieldValidation,
        fieldManager: 'test',
      });
    }
    const name = `old-${++seq}`;
    const prior = structuredClone(old) as KubeObject;
    await svc.create(rt, ns, { ...prior, metadata: { ...prior.metadata, name } }, { fieldManager: 'test' });
    const next = { ...structuredClone(body), metadata: { ...body.metadata, name } };
    return svc.update(rt, ns, name, next, { dryRun: true, fieldValidation, fieldManager: 'test' });
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
