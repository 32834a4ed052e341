/**
 * job-launcher: on a Backup that has no Job (its add event, or the tick for any that a lost event
 * left behind), resolves source and destination and creates the agent Job.
 */
import type { Backup } from '../../shared/api/index.ts';
import { InvalidEvent } from '../../shared/errors.ts';
import { eventKind, parseResourceEvent } from '../../shared/events.ts';
import { makeHandle, outcomeOfParts, type Planner, planEach } from '../../shared/function.ts';
import { refOf } from '../../shared/plan.ts';
import { decide } from './decide.ts';
import { gather, needsJob } from './gather.ts';

export const NAME = 'job-launcher';

export const plan: Planner = async (event, { kube, clock }) => {
  const now = clock.now();
  switch (eventKind(event)) {
    case 'ping': {
      // Read consistently, not from the watch cache: a stale Backup that already has its Job
      // would be decided again, and its status write could put a running run back to Pending.
      const backups = (await kube.list<Backup>('Backup', undefined)).filter(needsJob);
      // One part per Backup: one that cannot be launched stops no other (DESIGN.md rule 8).
      const parts = await planEach(
        backups,
        (b) => refOf(b, 'Backup'),
        async (b) => decide(await gather(kube, b), now),
      );
      return { ...outcomeOfParts(parts), read: backups };
    }
    case 'resource': {
      const ev = parseResourceEvent(event);
      if (ev.kind !== 'Backup')
        throw new InvalidEvent(`kind: ${NAME} handles Backup events, not ${ev.kind}`, 'kind');
      if (ev.action === 'delete') return { plan: [] };
      // A Backup that has its Job, has finished or is being deleted never needs one again: its
      // update events (every status write of its run) are answered without a read.
      if (ev.action === 'update' && !needsJob(ev.object as unknown as Backup)) return { plan: [] };
      const backup = await kube.get<Backup>('Backup', ev.namespace, ev.name);
      if (!backup || !needsJob(backup)) return { plan: [] };
      // Its status write starts from the Backup just read: no second GET.
      return { plan: decide(await gather(kube, backup), now), read: [backup] };
    }
    default:
      throw new InvalidEvent(`type: ${NAME} does not handle ${String(event.type)} events`, 'type');
  }
};

export const handle = makeHandle(NAME, plan);
