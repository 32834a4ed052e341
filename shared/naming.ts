/**
 * Deterministic names. A scheduled Backup is `<policy>-<yyyymmddhhmm>` of its scheduled time in
 * UTC; its Job has the same name. Names stay valid DNS-1123 labels of at most 63 characters: a
 * long base is truncated and given a hash of the full name, so two long names never collide.
 */
import { createHash } from 'node:crypto';

export const MAX_NAME_LENGTH = 63;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isDns1123Label(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && LABEL.test(name);
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** `yyyymmddhhmm` of an instant in UTC. */
export function minuteStamp(t: Date): string {
  return t.toISOString().slice(0, 16).replace(/[-T:]/g, '');
}

/**
 * `<base>-<suffix>`, shortened to fit 63 characters: the base is cut and followed by an 8-hex hash
 * of the whole untruncated name, so the result is stable and distinct per input.
 */
export function childName(base: string, suffix: string): string {
  const full = `${base}-${suffix}`;
  if (full.length <= MAX_NAME_LENGTH) return full;
  const hash = shortHash(full);
  const room = MAX_NAME_LENGTH - suffix.length - hash.length - 2;
  const cut = base.slice(0, Math.max(room, 1)).replace(/[-.]+$/, '');
  return `${cut}-${hash}-${suffix}`;
}

/** The name of the Backup (and of its Job) for a policy's run scheduled at `scheduledTime`. */
export function scheduledBackupName(policy: string, scheduledTime: Date): string {
  return childName(policy, minuteStamp(scheduledTime));
}

/** The restore Job of a Restore. */
export function restoreJobName(restore: string): string {
  return childName(restore, 'restore');
}
