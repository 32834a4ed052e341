/**
 * job-watcher, the policy's status: derived again from all of its Backups whenever one changes, so
 * late, repeated or lost events cannot make it drift (the seed fields lastBackupStatus,
 * failureReason, backupHistory…). Pure.
 */
import type { Backup, HistoryEntry, PolicyKind } from '../../shared/api/index.ts';
import { Reason } from '../../shared/conditions.ts';
import type { KubeObject } from '../../shared/kube.ts';
import type { Action } from '../../shared/plan.ts';
import { refOf } from '../../shared/plan.ts';
import { isFinished, newestFirst } from '../../shared/policy.ts';

const LAST_STATUS = {
  Pending: 'Pending',
  Running: 'Running',
  Completed: 'Succeeded',
  Failed: 'Failed',
} as const;
export const HISTORY_LIMIT = 10;

/** The policy's status fields, derived from all of its Backups (newest first). */
export function policyStatus(backups: readonly Backup[]): Record<string, unknown> {
  const sorted = newestFirst(backups.filter((b) => !b.metadata.deletionTimestamp));
  const latest = sorted[0];
  const active = sorted.find((b) => !isFinished(b));
  const success = sorted.find((b) => b.status?.phase === 'Completed');
  const history: HistoryEntry[] = sorted.slice(0, HISTORY_LIMIT).map((b) => {
    const s = b.status ?? {};
    return {
      backup: b.metadata.name,
      ...(s.jobName ? { jobName: s.jobName } : {}),
      ...(b.spec.scheduledTime ? { scheduledTime: b.spec.scheduledTime } : {}),
      ...(s.startTime ? { startTime: s.startTime } : {}),
      ...(s.completionTime ? { completionTime: s.completionTime } : {}),
      status: LAST_STATUS[s.phase ?? 'Pending'],
      ...(s.message ? { message: s.message.slice(0, 1024) } : {}),
      ...(s.sizeBytes !== undefined ? { sizeBytes: s.sizeBytes } : {}),
    };
  });
  return {
    lastBackup: latest?.metadata.name ?? null,
    // Seed 004: before its first run a policy's last backup is Pending (what schedule-evaluator set first)
    lastBackupStatus: latest ? LAST_STATUS[latest.status?.phase ?? 'Pending'] : 'Pending',
    activeBackupJob: active?.status?.jobName ?? null,
    lastSuccessfulBackup: success?.metadata.name ?? null,
    lastSuccessfulTime: success?.status?.completionTime ?? null,
    lastDurationSeconds: success?.status?.durationSeconds ?? null,
    lastSizeBytes: success?.status?.sizeBytes ?? null,
    failureReason:
      latest?.status?.phase === 'Failed' ? (latest.status.message ?? latest.status.reason ?? 'failed') : null,
    backupHistory: history,
  };
}

export function decidePolicy(kind: PolicyKind, policy: KubeObject, backups: readonly Backup[]): Action[] {
  const set = policyStatus(backups);
  const current = (policy.status ?? {}) as Record<string, unknown>;
  const same = Object.entries(set).every(
    ([k, v]) => JSON.stringify(v ?? undefined) === JSON.stringify(current[k]),
  );
  if (same) return [];
  const last = set.lastBackupStatus;
  const condition =
    last === 'Succeeded'
      ? {
          type: 'LastBackupSucceeded',
          status: 'True' as const,
          reason: Reason.BackupCompleted,
          message: `${set.lastBackup} completed`,
        }
      : last === 'Failed'
        ? {
            type: 'LastBackupSucceeded',
            status: 'False' as const,
            reason: Reason.BackupFailed,
            message: String(set.failureReason),
          }
        : undefined;
  return [
    {
      type: 'status',
      kind,
      namespace: policy.metadata.namespace ?? 'default',
      name: policy.metadata.name,
      set,
      ...(condition ? { conditions: [condition] } : {}),
      why: `derived from its ${backups.length} Backup(s)`,
    },
  ];
}

/**
 * Seed 003's `kubectl describe backuppolicy` shows its runs: the Events a run's decision records
 * on the Backup (started, completed, failed) are recorded on its policy too — with the policy's
 * uid, which kubectl describe selects Events by. Mind the volume (a run a minute is two Events a
 * minute on the policy, as the CronJob controller writes on a CronJob): "started" says the same
 * text each time, so it is one Event whose count grows; completed and failed name the Backup.
 */
export function runEventsOnPolicy(plan: readonly Action[], kind: PolicyKind, policy: KubeObject): Action[] {
  const involved = refOf(policy, kind);
  return plan.flatMap((a): Action[] => {
    if (a.type !== 'event' || a.involved.kind !== 'Backup') return [];
    const name = a.involved.name;
    const message =
      a.reason === Reason.BackupStarted
        ? 'Backup execution started'
        : a.reason === Reason.BackupCompleted
          ? `Backup ${name} ${a.message.replace(/^Backup /, '')}`
          : a.reason === Reason.BackupFailed
            ? `Backup ${name} failed: ${a.message}`
            : undefined;
    return message === undefined ? [] : [{ ...a, involved, message: message.slice(0, 1024) }];
  });
}
