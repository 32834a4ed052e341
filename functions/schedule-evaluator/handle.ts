/**
 * schedule-evaluator: on the PingSource tick, and on add/update of a DatabaseBackup or
 * BackupPolicy, keeps every schedule: status, the Backup of each due run, Events.
 */
import { InvalidEvent } from '../../shared/errors.ts';
import { eventKind, parseResourceEvent } from '../../shared/events.ts';
import { makeHandle, outcomeOfParts, type Planner, planEach } from '../../shared/function.ts';
import { refOf } from '../../shared/plan.ts';
import type { Policy } from '../../shared/policy.ts';
import { decide, decideCronVerification, settled } from './decide.ts';
import { gatherAll, gatherOne, isPolicyKind, withClaims } from './gather.ts';

export const NAME = 'schedule-evaluator';

export const plan: Planner = async (event, { kube, clock }) => {
  const now = clock.now();
  switch (eventKind(event)) {
    case 'ping': {
      // One part per policy: a policy that cannot be handled stops no other's schedule.
      const states = await gatherAll(kube);
      const parts = await planEach(
        states,
        (s) => refOf(s.policy, s.kind),
        async (s) => [...decide(await withClaims(kube, s), now), ...decideCronVerification(s, now)],
      );
      // The status writes start from the listed policies: no GET before each PUT.
      return { ...outcomeOfParts(parts), read: states.map((s) => s.policy) };
    }
    case 'resource': {
      const ev = parseResourceEvent(event);
      if (!isPolicyKind(ev.kind)) {
        throw new InvalidEvent(
          `kind: ${NAME} handles DatabaseBackup and BackupPolicy events, not ${ev.kind}`,
          'kind',
        );
      }
      if (ev.action === 'delete') return { plan: [] };
      // A status-only update — this function's own status write, or job-watcher's, coming back —
      // of a policy with nothing due before its recorded next run: deciding again could only
      // return nothing, so nothing is read. (A spec change moves generation past
      // observedGeneration; a run waiting under Forbid has its next run in the past; cron
      // verification also depends on the Restores, so such policies are read; the tick
      // re-examines everything a minute later in any case.)
      const seen = ev.object as unknown as Policy;
      if (ev.action === 'update' && !seen.spec?.verification?.schedule && settled(seen, now))
        return { plan: [] };
      const state = await gatherOne(kube, ev.kind, ev.namespace, ev.name);
      if (!state) return { plan: [] };
      return { plan: [...decide(state, now), ...decideCronVerification(state, now)], read: [state.policy] };
    }
    default:
      throw new InvalidEvent(`type: ${NAME} does not handle ${String(event.type)} events`, 'type');
  }
};

export const handle = makeHandle(NAME, plan);
