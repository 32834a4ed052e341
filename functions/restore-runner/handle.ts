/** restore-runner: on a Restore (or the tick, for any a lost event left behind), checks it and starts its Job. */
import type { Restore } from '../../shared/api/index.ts';
import { InvalidEvent } from '../../shared/errors.ts';
import { eventKind, parseResourceEvent } from '../../shared/events.ts';
import { makeHandle, outcomeOfParts, type Planner, planEach } from '../../shared/function.ts';
import { refOf } from '../../shared/plan.ts';
import { decide } from './decide.ts';
import { gather } from './gather.ts';

export const NAME = 'restore-runner';

const waiting = (r: Restore) => !r.metadata.deletionTimestamp && !r.status?.phase && !r.status?.jobName;

export const plan: Planner = async (event, { kube, clock }) => {
  const now = clock.now();
  switch (eventKind(event)) {
    case 'ping': {
      // Read consistently, not from the watch cache: a stale Restore that already has its Job
      // would be decided again and its status written back from an older state.
      const restores = (await kube.list<Restore>('Restore', undefined)).filter(waiting);
      // One part per Restore: one that cannot be started stops no other (DESIGN.md rule 8).
      const parts = await planEach(
        restores,
        (r) => refOf(r, 'Restore'),
        async (r) => decide(await gather(kube, r), now),
      );
      return outcomeOfParts(parts);
    }
    case 'resource': {
      const ev = parseResourceEvent(event);
      if (ev.kind !== 'Restore')
        throw new InvalidEvent(`kind: ${NAME} handles Restore events, not ${ev.kind}`, 'kind');
      if (ev.action === 'delete') return { plan: [] };
      const restore = await kube.get<Restore>('Restore', ev.namespace, ev.name);
      if (!restore || !waiting(restore)) return { plan: [] };
      return { plan: decide(await gather(kube, restore), now) };
    }
    default:
      throw new InvalidEvent(`type: ${NAME} does not handle ${String(event.type)} events`, 'type');
  }
};

export const handle = makeHandle(NAME, plan);
