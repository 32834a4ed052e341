/**
 * The five functions' planners (gather → decide, no writes), by function name, for in-process
 * replay. The CLI may run a function's decision in-process (DESIGN.md); it never copies one.
 */

import { plan as jobLauncher } from '../functions/job-launcher/handle.ts';
import { plan as jobWatcher } from '../functions/job-watcher/handle.ts';
import { FUNCTION_NAMES, type FunctionName } from '../functions/names.ts';
import { plan as restoreRunner } from '../functions/restore-runner/handle.ts';
import { plan as retentionPruner } from '../functions/retention-pruner/handle.ts';
import { plan as scheduleEvaluator } from '../functions/schedule-evaluator/handle.ts';
import type { Planner } from '../shared/function.ts';

export const PLANNERS: Record<FunctionName, Planner> = {
  'schedule-evaluator': scheduleEvaluator,
  'job-launcher': jobLauncher,
  'job-watcher': jobWatcher,
  'retention-pruner': retentionPruner,
  'restore-runner': restoreRunner,
};

export function isFunctionName(name: string): name is FunctionName {
  return (FUNCTION_NAMES as readonly string[]).includes(name);
}
