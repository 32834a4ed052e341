/**
 * job-watcher: on changes of Cairn's Jobs and their Pods (and of a snapshot policy's
 * VolumeSnapshots and the claims restored from them), moves Backups and Restores through
 * their phases, derives the policy's status, records Events, and replies with
 * dev.cairn.backup|restore.completed|failed. On the tick it fails runs whose Job vanished or
 * outlived its deadline, so nothing stays Running forever.
 *
 * As every function: gather (gather.ts) reads all it needs, one pure decide (decide.ts) makes the
 * plan and the reply, and the handler carries the plan out.
 */
import { createHash } from 'node:crypto';
import { InvalidEvent } from '../../shared/errors.ts';
import type { CairnEventType } from '../../shared/event-types.ts';
import { cairnEvent, eventKind, functionSource, parseResourceEvent } from '../../shared/events.ts';
import { makeHandle, outcomeOfParts, type Planner } from '../../shared/function.ts';
import { type Ref, refOf } from '../../shared/plan.ts';
import { decideEvent, decideTick } from './decide.ts';
import { gatherEvent, gatherTick } from './gather.ts';

export const NAME = 'job-watcher';

/**
 * A run finishes once, but the Job's and the Pod's events can both carry the news, concurrently or
 * again after a failed delivery. The reply's id names the fact (this run, this outcome), not the
 * delivery, so every copy of it has the same `source` + `id` and consumers can drop the repeats,
 * as the CloudEvents spec intends.
 */
function replyId(run: Ref, type: string): string {
  const who = run.uid ?? `${run.namespace}/${run.kind}/${run.name}`;
  const h = createHash('sha256').update(`${who}\n${type}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export const plan: Planner = async (event, deps) => {
  const now = deps.clock.now();
  switch (eventKind(event)) {
    case 'resource': {
      const ev = parseResourceEvent(event);
      if (!['Job', 'Pod', 'VolumeSnapshot', 'PersistentVolumeClaim'].includes(ev.kind))
        throw new InvalidEvent(
          `kind: ${NAME} handles Job, Pod, VolumeSnapshot and PersistentVolumeClaim events, not ${ev.kind}`,
          'kind',
        );
      const state = await gatherEvent(deps.kube, ev);
      if (!state) return { plan: [] };
      const d = decideEvent(state, now);
      // Status writes start from the objects just read (no GET before each PUT).
      const read = [state.run?.run, state.policy?.policy, state.verifiedBackup].filter(
        (o) => o !== undefined,
      );
      if (!d.reply || !state.run) return { plan: d.plan, read };
      const reply = cairnEvent(d.reply.type as CairnEventType, {
        id: replyId(refOf(state.run.run, state.run.kind), d.reply.type),
        subject: d.reply.subject,
        source: functionSource(NAME),
        data: d.reply.data,
      });
      return { plan: d.plan, reply, read };
    }
    case 'ping': {
      // The tick answers with no event: each finished run's own event carries it. Its status
      // writes start from the listed objects.
      const state = await gatherTick(deps.kube);
      return {
        ...outcomeOfParts(decideTick(state, now)),
        read: [...state.backups, ...state.restores, ...state.policies.map((p) => p.policy)],
      };
    }
    default:
      throw new InvalidEvent(`type: ${NAME} does not handle ${String(event.type)} events`, 'type');
  }
};

export const handle = makeHandle(NAME, plan);
