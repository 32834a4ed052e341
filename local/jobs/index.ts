export type { ImageRule, ResolvedCommand } from './images.ts';
export { defaultImageRules, imageRepository, resolveCommand } from './images.ts';
export { expand, rewritePath } from './podenv.ts';
export type { JobRunner, JobRunnerOptions } from './runner.ts';
export { hostEnvDefault, startJobRunner, TRACKING_FINALIZER } from './runner.ts';
