/**
 * Plans: what a function's pure `decide` returns and `applyPlan` carries out. Actions are plain
 * data, so `cairn replay --dry-run` can print them and tests can compare them.
 */
import { timeOf } from './clock.ts';
import { type ConditionInput, setCondition } from './conditions.ts';
import type { KubeClient, KubeObject } from './kube.ts';
import type { Logger } from './log.ts';

export interface Ref {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export type Action =
  | { type: 'create'; kind: string; object: KubeObject; why: string }
  | {
      type: 'delete';
      kind: string;
      namespace: string;
      name: string;
      uid?: string;
      propagationPolicy?: 'Background' | 'Foreground';
      why: string;
    }
  | {
      type: 'patch';
      kind: string;
      namespace: string;
      name: string;
      patch: Record<string, unknown>;
      why: string;
    }
  | {
      type: 'status';
      kind: string;
      namespace: string;
      name: string;
      /** Fields to set; `null` removes a field. */
      set: Record<string, unknown>;
      conditions?: ConditionInput[];
      observedGeneration?: number;
      /** Fields holding timestamps that only move forward (a late writer never moves them back). */
      monotonic?: string[];
      /** Fields set only where the status has none yet: a first value another writer may have passed. */
      initial?: string[];
      why: string;
    }
  | { type: 'event'; involved: Ref; eventType: 'Normal' | 'Warning'; reason: string; message: string };

export type Plan = Action[];

export function refOf(obj: KubeObject, kind = obj.kind ?? ''): Ref {
  return {
    apiVersion: obj.apiVersion ?? '',
    kind,
    namespace: obj.metadata.namespace ?? 'default',
    name: obj.metadata.name,
    ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
  };
}

/** The new status for a `status` action, applied to what the object holds now. */
export function applyStatus(
  current: Record<string, unknown> | undefined,
  action: Extract<Action, { type: 'status' }>,
  now: Date,
): Record<string, unknown> {
  const next: Record<string, unknown> = { ...(current ?? {}) };
  for (const [k, v] of Object.entries(action.set)) {
    if (v === null || v === undefined) delete next[k];
    else if (action.initial?.includes(k) && next[k] !== undefined) continue;
    else if (
      action.monotonic?.includes(k) &&
      (timeOf(next[k]) ?? Number.NEGATIVE_INFINITY) > (timeOf(v) ?? 0)
    )
      continue;
    else next[k] = v;
  }
  if (action.observedGeneration !== undefined) next.observedGeneration = action.observedGeneration;
  let conditions = next.conditions as Parameters<typeof setCondition>[0];
  for (const c of action.conditions ?? [])
    conditions = setCondition(conditions, c, now, action.observedGeneration);
  if (conditions) next.conditions = conditions;
  return next;
}

/** One line per action, for logs and dry runs. */
export function describeAction(a: Action): string {
  switch (a.type) {
    case 'create':
      return `create ${a.kind} ${a.object.metadata.namespace}/${a.object.metadata.name}: ${a.why}`;
    case 'delete':
      return `delete ${a.kind} ${a.namespace}/${a.name}: ${a.why}`;
    case 'patch':
      return `patch ${a.kind} ${a.namespace}/${a.name} ${JSON.stringify(a.patch)}: ${a.why}`;
    case 'status': {
      const conds = (a.conditions ?? []).map((c) => `${c.type}=${c.status}(${c.reason})`).join(' ');
      return `status ${a.kind} ${a.namespace}/${a.name} ${JSON.stringify(a.set)}${conds ? ` ${conds}` : ''}: ${a.why}`;
    }
    case 'event':
      return `event ${a.eventType} ${a.reason} on ${a.involved.kind} ${a.involved.namespace}/${a.involved.name}: ${a.message}`;
  }
}

/**
 * Objects as the planner read them, by kind, namespace and name (readKey): a status write starts
 * from the object read instead of a GET of its own, and the resourceVersion read guards it as
 * always (a 409 reads again). applyPlan puts back what each write stored.
 */
export type ReadSet = Map<string, KubeObject>;

export const readKey = (kind: string, namespace: string, name: string) =>
  `${kind}\u0000${namespace}\u0000${name}`;

/** A ReadSet of objects a planner read (each has its kind, as KubeClient returns them). */
export function readSet(objects: Iterable<KubeObject>): ReadSet {
  const out: ReadSet = new Map();
  for (const o of objects)
    if (o.kind) out.set(readKey(o.kind, o.metadata.namespace ?? 'default', o.metadata.name), o);
  return out;
}

export interface ApplyOptions {
  now: Date;
  log: Logger;
  component: string;
  /** What the planner read; status writes start from it (see ReadSet). */
  read?: ReadSet;
}

/**
 * Carries out a plan in order. Creates are idempotent (AlreadyExists is success), deletes of what
 * is gone are success, status writes start from what the planner read (opts.read) or a GET. A
 * status write that meets a 409 is not retried here: the plan was decided from the older object,
 * so the Conflict propagates and the caller decides again from fresh state (DESIGN.md rule 4;
 * makeHandle re-plans). Any other error stops the plan and propagates, so the event is
 * redelivered and the next attempt decides again.
 */
export async function applyPlan(kube: KubeClient, plan: Plan, opts: ApplyOptions): Promise<void> {
  for (const a of plan) {
    opts.log.info(describeAction(a), { action: a.type, kind: a.type === 'event' ? 'Event' : a.kind });
    switch (a.type) {
      case 'create':
        await kube.create(a.kind, a.object);
        break;
      case 'delete':
        await kube.delete(a.kind, a.namespace, a.name, {
          ...(a.uid ? { uid: a.uid } : {}),
          ...(a.propagationPolicy ? { propagationPolicy: a.propagationPolicy } : {}),
        });
        break;
      case 'patch': {
        const stored = await kube.patch(a.kind, a.namespace, a.name, a.patch);
        // A patch that carried the resourceVersion read is guarded like a status write (a 409 if
        // the object changed since): what it stored is what was read plus the patch, so later
        // writes in the plan start from it. An unguarded patch says nothing of the rest.
        const k = readKey(a.kind, a.namespace, a.name);
        const guard = (a.patch.metadata as { resourceVersion?: unknown } | undefined)?.resourceVersion;
        if (opts.read && guard !== undefined && guard === opts.read.get(k)?.metadata.resourceVersion)
          opts.read.set(k, { ...stored, kind: a.kind });
        break;
      }
      case 'status': {
        const k = readKey(a.kind, a.namespace, a.name);
        const current = opts.read?.get(k);
        const stored = await kube.updateStatus(
          a.kind,
          a.namespace,
          a.name,
          (cur) => {
            const next = applyStatus(cur.status as Record<string, unknown> | undefined, a, opts.now);
            return JSON.stringify(next) === JSON.stringify(cur.status ?? {}) ? undefined : next;
          },
          // One attempt: writing the same fields onto a newer object would undo what changed it.
          { attempts: 1, ...(current ? { current } : {}) },
        );
        if (opts.read && stored) opts.read.set(k, { ...stored, kind: a.kind });
        break;
      }
      case 'event':
        await kube.recordEvent(
          { apiVersion: a.involved.apiVersion, kind: a.involved.kind, metadata: { ...a.involved } },
          { type: a.eventType, reason: a.reason, message: a.message, component: opts.component },
        );
        break;
    }
  }
}
