/** The labels, annotations and finalizers Cairn puts on what it creates. */
export const Labels = {
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
  component: 'app.kubernetes.io/component',
  policy: 'backup.cairn.dev/policy',
  policyKind: 'backup.cairn.dev/policy-kind',
  backup: 'backup.cairn.dev/backup',
  restore: 'backup.cairn.dev/restore',
  /** On a DatabaseBackup's Backup: postgres, mysql or mariadb (a restore needs it once the policy is gone). */
  databaseType: 'backup.cairn.dev/database-type',
} as const;

/**
 * The labels seed 002's users query its backup Jobs by (`kubectl get jobs -l backup-policy=…`),
 * set beside Cairn's own on what a BackupPolicy's run creates.
 */
export const SeedLabels = {
  backupPolicy: 'backup-policy',
  /** The claim a Job backs up; absent when one run archives several. */
  pvc: 'pvc',
} as const;

export const MANAGED_BY = 'cairn';

/** On a Backup: its artifact is deleted before the Backup goes (unless deletionPolicy Retain). */
export const ARTIFACT_FINALIZER = 'backup.cairn.dev/artifact';

export interface LabelSelector {
  matchLabels?: Record<string, string> | undefined;
  matchExpressions?:
    | { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] | undefined }[]
    | undefined;
}

/** The string form the API's `labelSelector` parameter takes. */
export function selectorToString(sel: LabelSelector): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    parts.push(`${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.join(',');
}
