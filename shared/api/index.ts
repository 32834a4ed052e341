/** Cairn's API: the four kinds of backup.cairn.dev/v1alpha1, their types and schemas. */
export * from './backup.ts';
export * from './backuppolicy.ts';
export * from './common.ts';
export * from './databasebackup.ts';
export * from './keys.ts';
export * from './kinds.ts';
export * from './object.ts';
export * from './restore.ts';
export { type CelRule, DNS1123_LABEL, DNS1123_SUBDOMAIN } from './schema.ts';
export * from './verification.ts';

import { backupKind } from './backup.ts';
import { backupPolicyKind } from './backuppolicy.ts';
import { databaseBackupKind } from './databasebackup.ts';
import type { KindDef } from './kinds.ts';
import { restoreKind } from './restore.ts';

export const KINDS: readonly KindDef[] = [databaseBackupKind, backupPolicyKind, backupKind, restoreKind];

export function kindDef(kind: string): KindDef | undefined {
  return KINDS.find((k) => k.kind === kind);
}
