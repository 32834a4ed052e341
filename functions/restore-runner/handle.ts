/**
 * restore-runner: on a Restore (or the tick, for any a lost event left behind), checks it and starts
 * its Job; a Restore whose Backup is still running waits, and starts on that Backup's
 * dev.cairn.backup.completed (or fails on its .failed), which job-watcher replies with.
 */
import type { Restore } from '../../shared/api/index.ts';
import { InvalidEvent } from '../../shared/errors.ts';
import { eventKind, parseCairnEvent, parseResourceEvent } from '../../shared/events.ts';
import { makeHandle, outcomeOfParts, type Planner, planEach } from '../../shared/function.ts';
import { refOf } from '../../shared/plan.ts';
import { isFinished, isRestoreStarted } from '../../shared/policy.ts';
import { decide } from './decide.ts';
import { gather } from './gather.ts';

export const NAME = 'restore-runner';

/** A Restore not started yet: new, or waiting for its Backup. */
const waiting = (r: Restore) => !r.metadata.deletionTimestamp && !isFinished(r) && !isRestoreStarted(r);

export const plan: Planner = async (event, { kube, clock }) => {
  const now = clock.now();
  // One part per Restore: one that cannot be started stops no other (DESIGN.md rule 8).
  const planRestores = async (restores: Restore[]) =>
    outcomeOfParts(
      await planEach(
        restores,
        (r) => refOf(r, 'Restore'),
        async (r) => decide(await gather(kube, r), now),
      ),
    );
  switch (eventKind(event)) {
    case 'ping': {
      // Read consistently, not from the watch cache: a stale Restore that already has its Job
      // would be decided again and its status written back from an older state.
      const restores = (await kube.list<Restore>('Restore', undefined)).filter(waiting);
      return planRestores(restores);
    }
    case 'cairn': {
      // A Backup finished: the Restores waiting for it start (or fail) now, not at the next tick.
      const ev = parseCairnEvent<{ name?: string; namespace?: string }>(event);
      const { name, namespace } = ev.data;
      if (!name || !namespace)
        throw new InvalidEvent('data: a backup event needs data.name and data.namespace', 'data');
      const restores = (await kube.list<Restore>('Restore', namespace)).filter(
        (r) => waiting(r) && r.spec.backupRef.name === name,
      );
      return planRestores(restores);
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
