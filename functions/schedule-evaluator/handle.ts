/**
 * schedule-evaluator: on the PingSource tick, and on add/update of a DatabaseBackup or
 * BackupPolicy, keeps every schedule: status, the Backup of each due run, Events.
 */
import { InvalidEvent } from '../../shared/errors.ts';
import { eventKind, parseResourceEvent } from '../../shared/events.ts';
import { makeHandle, outcomeOfParts, type Planner, planEach } from '../../shared/function.ts';
import { refOf } from '../../shared/plan.ts';
import { decide, decideCronVerification } from './decide.ts';
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
      return outcomeOfParts(parts);
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
      const state = await gatherOne(kube, ev.kind, ev.namespace, ev.name);
      return { plan: state ? [...decide(state, now), ...decideCronVerification(state, now)] : [] };
    }
    default:
      throw new InvalidEvent(`type: ${NAME} does not handle ${String(event.type)} events`, 'type');
  }
};

export const handle = makeHandle(NAME, plan);
