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

export interface ApplyOptions {
  now: Date;
  log: Logger;
  component: string;
}

/**
 * Carries out a plan in order. Creates are idempotent (AlreadyExists is success), deletes of what
 * is gone are success, status writes re-read and retry on conflict. An error stops the plan and
 * propagates, so the event is redelivered and the next attempt decides again from fresh state.
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
      case 'patch':
        await kube.patch(a.kind, a.namespace, a.name, a.patch);
        break;
      case 'status':
        await kube.updateStatus(a.kind, a.namespace, a.name, (cur) => {
          const next = applyStatus(cur.status as Record<string, unknown> | undefined, a, opts.now);
          return JSON.stringify(next) === JSON.stringify(cur.status ?? {}) ? undefined : next;
        });
        break;
      case 'event':
        await kube.recordEvent(
          { apiVersion: a.involved.apiVersion, kind: a.involved.kind, metadata: { ...a.involved } },
          { type: a.eventType, reason: a.reason, message: a.message, component: opts.component },
        );
        break;
    }
  }
}
