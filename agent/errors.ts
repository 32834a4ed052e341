/**
 * The agent's failures, each with the exit code and termination-message reason that tell the
 * user which side to fix. `toFailure` is the one place that maps any thrown value to them.
 */
import { AGENT_EXIT, type AgentFailureReason } from '../shared/agent-contract.ts';
import { CairnError, InvalidSpec, messageOf, StorageError } from '../shared/errors.ts';

/** The dump tool, the database or the source folder failed. */
export class SourceFailed extends CairnError {
  constructor(message: string, cause?: unknown) {
    super('SourceError', message, { code: 502, cause });
  }
}

/** The restore tool (pg_restore, psql, mariadb, tar) failed; the target was rolled back where it can be. */
export class RestoreFailed extends CairnError {
  constructor(message: string, cause?: unknown) {
    super('SourceError', message, { code: 502, cause });
  }
}

/** The artifact does not match its manifest. */
export class VerificationFailed extends CairnError {
  constructor(message: string) {
    super('VerificationFailed', message, { code: 422 });
  }
}

/** A restore target holds data and the user did not say to replace it. */
export class TargetNotEmpty extends CairnError {
  constructor(message: string) {
    super('InvalidSpec', message, { code: 409 });
  }
}

/** A request the agent understands but cannot do here. */
export class Unsupported extends CairnError {
  constructor(field: string, message: string) {
    super('InvalidSpec', `${field}: ${message}`, { code: 422, field });
  }
}

/** The first error of a known kind along an error's `cause` chain (a storage error caused by a failed dump is a dump failure). */
export function rootFailure(e: unknown): unknown {
  const kinds = [SourceFailed, RestoreFailed, VerificationFailed, TargetNotEmpty, Unsupported];
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 10; cur = cur.cause, depth++) {
    if (kinds.some((k) => cur instanceof k)) return cur;
  }
  return e;
}

export function toFailure(e: unknown): { reason: AgentFailureReason; exitCode: number; message: string } {
  const err = rootFailure(e);
  const message = messageOf(err);
  if (err instanceof Unsupported) return { reason: 'Unsupported', exitCode: AGENT_EXIT.config, message };
  if (err instanceof TargetNotEmpty)
    return { reason: 'TargetNotEmpty', exitCode: AGENT_EXIT.targetNotEmpty, message };
  if (err instanceof InvalidSpec) return { reason: 'InvalidArguments', exitCode: AGENT_EXIT.config, message };
  if (err instanceof SourceFailed) return { reason: 'SourceFailed', exitCode: AGENT_EXIT.source, message };
  if (err instanceof RestoreFailed) return { reason: 'RestoreFailed', exitCode: AGENT_EXIT.source, message };
  if (err instanceof VerificationFailed)
    return { reason: 'VerificationFailed', exitCode: AGENT_EXIT.verification, message };
  if (err instanceof StorageError) return { reason: 'StorageFailed', exitCode: AGENT_EXIT.storage, message };
  return { reason: 'Internal', exitCode: AGENT_EXIT.internal, message: `unexpected error: ${message}` };
}
