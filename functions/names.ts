/** The five functions, by the name of their folder, func.yaml and Knative Service. */
export const FUNCTION_NAMES = [
  'schedule-evaluator',
  'job-launcher',
  'job-watcher',
  'retention-pruner',
  'restore-runner',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];
