/**
 * Cairn's typed errors. Every error a caller may want to tell apart has its own class with a
 * stable `reason` (PascalCase, as Kubernetes condition reasons are) and an HTTP-ish `code`, so
 * one place can map it to a condition, an Event, an HTTP answer or an exit code.
 */

export type ErrorReason =
  | 'InvalidSpec'
  | 'InvalidSchedule'
  | 'InvalidEvent'
  | 'NotFound'
  | 'Conflict'
  | 'AlreadyExists'
  | 'StorageError'
  | 'SourceError'
  | 'VerificationFailed'
  | 'ApiError';

export class CairnError extends Error {
  readonly reason: ErrorReason;
  /** HTTP status a function answers with (faas-js-runtime reads `code`). */
  readonly code: number;
  /** Dotted path of the offending field, when there is one (e.g. `spec.schedule`). */
  readonly field: string | undefined;

  constructor(
    reason: ErrorReason,
    message: string,
    opts: { code?: number; field?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.reason = reason;
    this.code = opts.code ?? 500;
    this.field = opts.field;
  }
}

/** A resource's spec is wrong in a way the schema could not catch (or was not asked to). */
export class InvalidSpec extends CairnError {
  constructor(field: string, message: string) {
    super('InvalidSpec', `${field}: ${message}`, { code: 422, field });
  }
}

/** A schedule expression or time zone that cannot be evaluated. */
export class InvalidSchedule extends CairnError {
  constructor(field: string, message: string, cause?: unknown) {
    super('InvalidSchedule', `${field}: ${message}`, { code: 422, field, cause });
  }
}

/** A CloudEvent that lacks an attribute Cairn needs, or has a type it does not handle. */
export class InvalidEvent extends CairnError {
  constructor(message: string, field?: string) {
    super('InvalidEvent', message, { code: 400, ...(field === undefined ? {} : { field }) });
  }
}

export class NotFound extends CairnError {
  constructor(message: string, cause?: unknown) {
    super('NotFound', message, { code: 404, cause });
  }
}

export class Conflict extends CairnError {
  constructor(message: string, cause?: unknown) {
    super('Conflict', message, { code: 409, cause });
  }
}

export class AlreadyExists extends CairnError {
  constructor(message: string, cause?: unknown) {
    super('AlreadyExists', message, { code: 409, cause });
  }
}

export class StorageError extends CairnError {
  constructor(message: string, cause?: unknown) {
    super('StorageError', message, { code: 502, cause });
  }
}

export class ApiError extends CairnError {
  readonly status: number;
  constructor(status: number, message: string, cause?: unknown) {
    super('ApiError', message, { code: status >= 500 ? 502 : status, cause });
    this.status = status;
  }
}

/** A message for any thrown value, without losing a CairnError's own text. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
