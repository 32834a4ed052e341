/**
 * The all-in-one handler behind the root func.yaml: every CloudEvent goes to the functions whose
 * Triggers would receive it, in one Knative Service for small clusters. Same code as the five
 * separate functions, no copies; the routing table mirrors eventing/base/triggers.yaml (a test
 * checks they agree).
 */
import { InvalidEvent } from '../shared/errors.ts';
import type { CloudEventLike } from '../shared/events.ts';
import type { Reply } from '../shared/function.ts';
import { handle as jobLauncher } from './job-launcher/handle.ts';
import { handle as jobWatcher } from './job-watcher/handle.ts';
import { handle as restoreRunner } from './restore-runner/handle.ts';
import { handle as retentionPruner } from './retention-pruner/handle.ts';
import { handle as scheduleEvaluator } from './schedule-evaluator/handle.ts';

type Handle = (context: unknown, event?: CloudEventLike) => Promise<Reply>;

export const HANDLERS: Record<string, Handle> = {
  'schedule-evaluator': scheduleEvaluator,
  'job-launcher': jobLauncher,
  'job-watcher': jobWatcher,
  'retention-pruner': retentionPruner,
  'restore-runner': restoreRunner,
};

const R = 'dev.knative.apiserver.resource.';
/** [function, type, kind?] — the exact filters of eventing/base/triggers.yaml. */
export const ROUTES: [string, string, string?][] = [
  ['schedule-evaluator', 'dev.knative.sources.ping'],
  ['schedule-evaluator', `${R}add`, 'DatabaseBackup'],
  ['schedule-evaluator', `${R}update`, 'DatabaseBackup'],
  ['schedule-evaluator', `${R}add`, 'BackupPolicy'],
  ['schedule-evaluator', `${R}update`, 'BackupPolicy'],
  ['job-launcher', 'dev.knative.sources.ping'],
  ['job-launcher', `${R}add`, 'Backup'],
  ['job-launcher', `${R}update`, 'Backup'],
  ['job-watcher', 'dev.knative.sources.ping'],
  ['job-watcher', `${R}add`, 'Job'],
  ['job-watcher', `${R}update`, 'Job'],
  ['job-watcher', `${R}delete`, 'Job'],
  ['job-watcher', `${R}update`, 'Pod'],
  ['job-watcher', `${R}update`, 'VolumeSnapshot'],
  ['job-watcher', `${R}delete`, 'VolumeSnapshot'],
  ['job-watcher', `${R}update`, 'PersistentVolumeClaim'],
  ['retention-pruner', 'dev.knative.sources.ping'],
  ['retention-pruner', 'dev.cairn.backup.completed'],
  ['retention-pruner', `${R}update`, 'Backup'],
  ['retention-pruner', `${R}update`, 'Job'],
  ['retention-pruner', `${R}delete`, 'VolumeSnapshot'],
  ['restore-runner', 'dev.knative.sources.ping'],
  ['restore-runner', `${R}add`, 'Restore'],
  ['restore-runner', `${R}update`, 'Restore'],
  ['restore-runner', 'dev.cairn.backup.completed'],
  ['restore-runner', 'dev.cairn.backup.failed'],
];

/** The functions an event goes to, each once (eventing/all-in-one delivers it to cairn once). */
export function routesFor(event: CloudEventLike): string[] {
  const fns = ROUTES.filter(
    ([, type, kind]) => type === event.type && (kind === undefined || kind === event.kind),
  ).map(([fn]) => fn);
  return [...new Set(fns)];
}

/**
 * Runs every matching handler in turn. A reply from one of them is returned (at most one event
 * per response; job-watcher is the only one that replies to events it shares with others).
 */
export async function handle(context: unknown, event?: CloudEventLike): Promise<Reply> {
  if (!event) throw new InvalidEvent('expected a CloudEvent (binary or structured mode)');
  const targets = routesFor(event);
  if (targets.length === 0)
    throw new InvalidEvent(
      `type: no Cairn function handles ${String(event.type)} (kind ${String(event.kind)})`,
      'type',
    );
  let reply: Reply;
  for (const fn of targets) {
    const r = await (HANDLERS[fn] as Handle)(context, event);
    reply ??= r;
  }
  return reply;
}
