/**
 * The CloudEvent types Cairn receives and sends, as constants, so Triggers, handlers and tests
 * spell them once.
 *
 * Received: Knative ApiServerSource in Resource mode (`dev.knative.apiserver.resource.*`) and
 * PingSource (`dev.knative.sources.ping`). Sent (as replies of the functions): `dev.cairn.*`.
 */

export type ResourceAction = 'add' | 'update' | 'delete';

export const RESOURCE_EVENT_TYPES = {
  add: 'dev.knative.apiserver.resource.add',
  update: 'dev.knative.apiserver.resource.update',
  delete: 'dev.knative.apiserver.resource.delete',
} as const satisfies Record<ResourceAction, string>;

export type ResourceEventType = (typeof RESOURCE_EVENT_TYPES)[ResourceAction];

/** ApiServerSource in Reference mode; Cairn refuses these (it needs the whole object). */
export const REF_EVENT_TYPE_PREFIX = 'dev.knative.apiserver.ref.';

export const PING_EVENT_TYPE = 'dev.knative.sources.ping';

export const CAIRN_EVENT_TYPES = {
  backupCompleted: 'dev.cairn.backup.completed',
  backupFailed: 'dev.cairn.backup.failed',
  backupVerified: 'dev.cairn.backup.verified',
  backupVerificationFailed: 'dev.cairn.backup.verification.failed',
  restoreCompleted: 'dev.cairn.restore.completed',
  restoreFailed: 'dev.cairn.restore.failed',
} as const;

export type CairnEventType = (typeof CAIRN_EVENT_TYPES)[keyof typeof CAIRN_EVENT_TYPES];

export const CAIRN_EVENT_TYPE_PREFIX = 'dev.cairn.';

/** What every Cairn event's `source` starts with: `cairn/<function-name>` (see `functionSource`). */
export const CAIRN_SOURCE_PREFIX = 'cairn/';

const resourceTypes: ReadonlySet<string> = new Set(Object.values(RESOURCE_EVENT_TYPES));
const cairnTypes: ReadonlySet<string> = new Set(Object.values(CAIRN_EVENT_TYPES));

export function isResourceEventType(t: string): t is ResourceEventType {
  return resourceTypes.has(t);
}

export function isCairnEventType(t: string): t is CairnEventType {
  return cairnTypes.has(t);
}

export function actionOf(t: ResourceEventType): ResourceAction {
  return t.slice(t.lastIndexOf('.') + 1) as ResourceAction;
}
