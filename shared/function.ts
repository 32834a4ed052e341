/**
 * What every Cairn function shares around its handler: one API client per process (connected on
 * first use), an injectable clock and logger, structured logs per event, and typed errors turned
 * into HTTP answers in one place (faas-js-runtime answers with `err.code`): a malformed event is a
 * 400 that the Broker does not retry; anything else is a 500 that it retries.
 */
import type { CloudEvent } from 'cloudevents';
import { type Clock, systemClock } from './clock.ts';
import { CairnError, InvalidEvent, messageOf } from './errors.ts';
import type { CloudEventLike } from './events.ts';
import { KubeClient } from './kube.ts';
import { createLogger, type Logger } from './log.ts';
import { applyPlan, type Plan } from './plan.ts';

export interface FunctionDeps {
  kube: KubeClient;
  clock: Clock;
  log: Logger;
}

export type Reply = CloudEvent<Record<string, unknown>> | undefined;

/** What a function makes of one event: the plan to carry out, and the event to answer with. */
export interface Outcome {
  plan: Plan;
  reply?: Reply;
}

/** Gather → decide: reads what the event names and returns the plan. Never writes. */
export type Planner = (event: CloudEventLike, deps: FunctionDeps) => Promise<Outcome>;

export interface FunctionOptions {
  /** Overrides for tests and replay; otherwise the process's API client, clock and logger. */
  deps?: Partial<FunctionDeps>;
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
      const { plan, reply } = await planner(event, deps);
      await applyPlan(deps.kube, plan, { now: deps.clock.now(), log, component: name });
      log.debug('handled', { actions: plan.length, reply: reply?.type });
      return reply;
    } catch (err) {
      const code = err instanceof CairnError ? err.code : 500;
      log[code < 500 ? 'warn' : 'error']('event failed', { error: messageOf(err), code });
      throw err instanceof CairnError ? err : Object.assign(new Error(messageOf(err)), { code: 500 });
    }
  };
}
