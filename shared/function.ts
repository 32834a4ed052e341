/**
 * What every Cairn function shares around its handler: one API client per process (connected on
 * first use), an injectable clock and logger, structured logs per event, and typed errors turned
 * into HTTP answers in one place (faas-js-runtime answers with `err.code`): a malformed event is a
 * 400 that the Broker does not retry; anything else is a 500 that it retries.
 *
 * A tick handles many objects. Its outcome comes in parts, one per object, each planned and
 * applied on its own (DESIGN.md rule 8): an error about one object is recorded on that object as
 * a Warning Event and logged, and the others are still handled. Only then does the handler answer
 * 5xx, when a failure is worth another delivery.
 */
import type { CloudEvent } from 'cloudevents';
import { type Clock, systemClock } from './clock.ts';
import { CairnError, Conflict, InvalidEvent, messageOf } from './errors.ts';
import type { CloudEventLike } from './events.ts';
import { KubeClient, type KubeObject } from './kube.ts';
import { createLogger, type Logger } from './log.ts';
import { applyPlan, type Plan, type Ref, readKey, readSet } from './plan.ts';

export interface FunctionDeps {
  kube: KubeClient;
  clock: Clock;
  log: Logger;
}

export type Reply = CloudEvent<Record<string, unknown>> | undefined;

/** One object's share of an outcome: its actions, or the error that planning them met. */
export interface Part {
  /** The object the actions (or the error) are about; a failure is recorded on it. */
  about: Ref;
  plan: Plan;
  error?: unknown;
}

/** What a function makes of one event: the plan to carry out, and the event to answer with. */
export interface Outcome {
  plan: Plan;
  reply?: Reply;
  /** When set, `plan` is their actions in order, and each part is applied on its own. */
  parts?: Part[];
  /**
   * The objects the planner read and decided from: a status write about one of them starts from
   * it instead of a GET (plan.ts ReadSet), its resourceVersion guarding the write.
   */
  read?: Iterable<KubeObject>;
}

/** The Event reason of a failure recorded on the object it is about. */
export const RECONCILIATION_FAILED = 'ReconciliationFailed';

/** An outcome made of independent parts (see Part); `plan` lists their actions for logs and replay. */
export function outcomeOfParts(parts: Part[], reply?: Reply): Outcome {
  return { plan: parts.flatMap((p) => p.plan), parts, ...(reply ? { reply } : {}) };
}

/**
 * Plans each item on its own: what `planOne` throws becomes that item's error, so reading or
 * deciding about one object never stops the others.
 */
export async function planEach<T>(
  items: readonly T[],
  about: (item: T) => Ref,
  planOne: (item: T) => Plan | Promise<Plan>,
): Promise<Part[]> {
  return Promise.all(
    items.map(async (item): Promise<Part> => {
      try {
        return { about: about(item), plan: await planOne(item) };
      } catch (error) {
        return { about: about(item), plan: [], error };
      }
    }),
  );
}

/** Whether another delivery may succeed: everything but a refusal the API server will repeat. */
function retryable(err: unknown): boolean {
  if (!(err instanceof CairnError)) return true;
  return err.code >= 500 || err.code === 409 || err.code === 429 || err.code === 408;
}

/** Gather → decide: reads what the event names and returns the plan. Never writes. */
export type Planner = (event: CloudEventLike, deps: FunctionDeps) => Promise<Outcome>;

export interface FunctionOptions {
  /** Overrides for tests and replay; otherwise the process's API client, clock and logger. */
  deps?: Partial<FunctionDeps>;
}

/** How often one delivery decides again after a 409 before it leaves the rest to a redelivery. */
export const MAX_DECISIONS = 3;

/**
 * Applies each part on its own. A part whose status write met a 409 is returned, to be decided
 * again from fresh state (DESIGN.md rule 4); a part that failed otherwise is returned with its
 * error; the rest go on.
 */
async function applyParts(
  deps: FunctionDeps,
  parts: readonly Part[],
  opts: Parameters<typeof applyPlan>[2],
): Promise<{ conflicted: Part[]; failed: { part: Part; error: unknown }[] }> {
  const conflicted: Part[] = [];
  const failed: { part: Part; error: unknown }[] = [];
  for (const part of parts) {
    try {
      if (part.error !== undefined) throw part.error;
      await applyPlan(deps.kube, part.plan, opts);
    } catch (error) {
      if (error instanceof Conflict && part.error === undefined) conflicted.push(part);
      else failed.push({ part, error });
    }
  }
  return { conflicted, failed };
}

/**
 * Records each failure on the object it is about (a Warning Event, which never fails) and logs it.
 * Afterwards, if any failure may pass on another delivery, the handler fails so that the Broker
 * delivers again (what succeeded is done, and doing it again changes nothing); refusals that would
 * only repeat are left to the Events.
 */
async function reportFailures(
  name: string,
  deps: FunctionDeps,
  failed: readonly { part: Part; error: unknown }[],
  total: number,
  log: Logger,
): Promise<void> {
  for (const { part, error } of failed) {
    const { about } = part;
    const message = `${name}: ${messageOf(error)}`.slice(0, 1024);
    log.error('failed about one object; the others go on', {
      kind: about.kind,
      object: `${about.namespace}/${about.name}`,
      error: messageOf(error),
    });
    await deps.kube.recordEvent(
      { apiVersion: about.apiVersion, kind: about.kind, metadata: { ...about } },
      { type: 'Warning', reason: RECONCILIATION_FAILED, message, component: name },
    );
  }
  const again = failed.filter((f) => retryable(f.error));
  if (again.length > 0) {
    const what = again.map((f) => `${f.part.about.kind} ${f.part.about.namespace}/${f.part.about.name}`);
    throw new CairnError(
      'ApiError',
      `${again.length} of ${total} object(s) failed and are retried (${what.join(', ')}): ${messageOf(again[0]?.error)}`,
      { code: 500 },
    );
  }
}

/**
 * Plans and applies an event. A status write that meets a 409 means another writer got there
 * first: the event is planned again from what the API server holds now and only what still needs
 * doing is applied — for a tick, only the parts about the objects that conflicted — at most
 * MAX_DECISIONS times; a conflict left after that is a failure the Broker delivers again.
 */
async function decideAndApply(
  name: string,
  planner: Planner,
  event: CloudEventLike,
  deps: FunctionDeps,
): Promise<Outcome> {
  const failed: { part: Part; error: unknown }[] = [];
  let total = 0;
  let outcome = await planner(event, deps);
  for (let decision = 1; ; decision++) {
    const { plan, parts, read } = outcome;
    const opts = {
      now: deps.clock.now(),
      log: deps.log,
      component: name,
      ...(read ? { read: readSet(read) } : {}),
    };
    const last = decision >= MAX_DECISIONS;
    if (!parts) {
      try {
        await applyPlan(deps.kube, plan, opts);
        return outcome;
      } catch (err) {
        if (!(err instanceof Conflict) || last) throw err;
        deps.log.info('a status write met a newer object: deciding again', {
          decision,
          error: messageOf(err),
        });
        outcome = await planner(event, deps);
        continue;
      }
    }
    if (decision === 1) total = parts.length;
    const applied = await applyParts(deps, parts, opts);
    failed.push(...applied.failed);
    if (applied.conflicted.length === 0 || last) {
      failed.push(
        ...applied.conflicted.map((part) => ({ part, error: new Conflict('the object kept changing') })),
      );
      await reportFailures(name, deps, failed, total, deps.log);
      return outcome;
    }
    deps.log.info('status writes met newer objects: deciding those again', {
      decision,
      objects: applied.conflicted.map((p) => `${p.about.kind} ${p.about.namespace}/${p.about.name}`),
    });
    const again = await planner(event, deps);
    const wanted = new Set(
      applied.conflicted.map((p) => readKey(p.about.kind, p.about.namespace, p.about.name)),
    );
    const retry = (again.parts ?? []).filter((p) =>
      wanted.has(readKey(p.about.kind, p.about.namespace, p.about.name)),
    );
    outcome = { ...again, plan: retry.flatMap((p) => p.plan), parts: retry };
  }
}

let shared: Promise<KubeClient> | undefined;

/** The process-wide API client (one connection pool, one kubeconfig read). */
export function processKubeClient(): Promise<KubeClient> {
  shared ??= KubeClient.connect().catch((err: unknown) => {
    shared = undefined;
    throw err;
  });
  return shared;
}

/**
 * Wraps a planner as faas-js-runtime's `handle(context, event)`: plan, carry the plan out, reply.
 */
export function makeHandle(name: string, planner: Planner, opts: FunctionOptions = {}) {
  const baseLog = opts.deps?.log ?? createLogger({ function: name });
  return async function handle(_context: unknown, event?: CloudEventLike): Promise<Reply> {
    const log = baseLog.child({ eventId: event?.id, eventType: event?.type, subject: event?.subject });
    if (!event) {
      throw new InvalidEvent('expected a CloudEvent (binary or structured mode)');
    }
    const deps: FunctionDeps = {
      kube: opts.deps?.kube ?? (await processKubeClient()),
      clock: opts.deps?.clock ?? systemClock,
      log,
    };
    try {
      const { plan, reply } = await decideAndApply(name, planner, event, deps);
      log.debug('handled', { actions: plan.length, reply: reply?.type });
      return reply;
    } catch (err) {
      const code = err instanceof CairnError ? err.code : 500;
      log[code < 500 ? 'warn' : 'error']('event failed', { error: messageOf(err), code });
      throw err instanceof CairnError ? err : Object.assign(new Error(messageOf(err)), { code: 500 });
    }
  };
}
