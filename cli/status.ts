/**
 * `cairn status`: every DatabaseBackup and BackupPolicy with its schedule, last result, next run
 * and a compact history of recent runs, one glyph each, newest last — the first view to open.
 * Read from the policies' status (job-watcher and schedule-evaluator keep it) and their Backups.
 */
import type { Backup, PolicyKind } from '../shared/api/index.ts';
import { systemClock } from '../shared/clock.ts';
import { getCondition } from '../shared/conditions.ts';
import { backupsOf, type Policy } from '../shared/policy.ts';
import { connect } from './cluster.ts';
import { type Command, UsageError } from './command.ts';
import { age, emit, table } from './output.ts';

export const GLYPHS: Record<string, string> = { Completed: '✓', Failed: '✗', Running: '●', Pending: '○' };
const HISTORY = 10;

export interface RunSummary {
  name: string;
  phase: string;
  manual: boolean;
  time: string | undefined;
}

export interface PolicySummary {
  kind: PolicyKind;
  namespace: string;
  name: string;
  schedule: string;
  timeZone: string;
  suspend: boolean;
  ready: { status: string; reason: string; message: string } | undefined;
  lastBackupStatus: string | undefined;
  lastBackup: string | undefined;
  lastSuccessfulTime: string | undefined;
  nextScheduledBackup: string | undefined;
  activeBackupJob: string | undefined;
  failureReason: string | undefined;
  /** Oldest first. */
  history: RunSummary[];
}

const PHASE_OF: Record<string, string> = {
  Succeeded: 'Completed',
  Failed: 'Failed',
  Running: 'Running',
  Pending: 'Pending',
};

/** The recent runs: live Backups, plus runs backupHistory remembers whose Backup is gone. */
export function history(policy: Policy, backups: Backup[]): RunSummary[] {
  const runs = new Map<string, RunSummary>();
  for (const h of policy.status?.backupHistory ?? []) {
    runs.set(h.backup, {
      name: h.backup,
      phase: PHASE_OF[h.status] ?? h.status,
      manual: h.scheduledTime === undefined,
      time: h.scheduledTime ?? h.startTime ?? h.completionTime,
    });
  }
  for (const b of backups) {
    runs.set(b.metadata.name, {
      name: b.metadata.name,
      phase: b.status?.phase ?? 'Pending',
      manual: b.spec.scheduledTime === undefined,
      time: b.spec.scheduledTime ?? b.metadata.creationTimestamp ?? b.status?.startTime,
    });
  }
  return [...runs.values()]
    .sort((a, b) => (a.time ?? '').localeCompare(b.time ?? '') || a.name.localeCompare(b.name))
    .slice(-HISTORY);
}

export function summarize(kind: PolicyKind, policy: Policy, backups: Backup[]): PolicySummary {
  const s = policy.status ?? {};
  const ready = getCondition(s.conditions, 'Ready');
  return {
    kind,
    namespace: policy.metadata.namespace ?? 'default',
    name: policy.metadata.name,
    schedule: policy.spec.schedule,
    timeZone: policy.spec.timeZone ?? 'UTC',
    suspend: policy.spec.suspend === true,
    ready: ready ? { status: ready.status, reason: ready.reason, message: ready.message } : undefined,
    lastBackupStatus: s.lastBackupStatus,
    lastBackup: s.lastBackup,
    lastSuccessfulTime: s.lastSuccessfulTime,
    nextScheduledBackup: s.nextScheduledBackup,
    activeBackupJob: s.activeBackupJob,
    failureReason: s.failureReason,
    history: history(policy, backupsOf(kind, policy, backups)),
  };
}

const SHORT: Record<PolicyKind, string> = { DatabaseBackup: 'dbb', BackupPolicy: 'bpol' };

export function statusTable(rows: PolicySummary[], allNamespaces: boolean, now: Date): string {
  if (rows.length === 0) return 'No DatabaseBackups or BackupPolicies found.';
  const body = rows.map((p) => [
    ...(allNamespaces ? [p.namespace] : []),
    `${SHORT[p.kind]}/${p.name}`,
    p.timeZone === 'UTC' ? p.schedule : `${p.schedule} ${p.timeZone}`,
    p.lastBackupStatus ? `${p.lastBackupStatus}${p.lastBackup ? ` ${p.lastBackup}` : ''}` : undefined,
    age(p.lastSuccessfulTime, now),
    p.suspend ? 'suspended' : age(p.nextScheduledBackup, now),
    p.history.map((r) => GLYPHS[r.phase] ?? '?').join('') || undefined,
    p.ready
      ? `${p.ready.status === 'True' ? 'Ready' : 'NotReady'}${p.ready.reason ? ` (${p.ready.reason})` : ''}`
      : undefined,
  ]);
  const headers = [
    ...(allNamespaces ? ['namespace'] : []),
    'name',
    'schedule',
    'last',
    'last success',
    'next',
    'history',
    'ready',
  ];
  const notes = rows.flatMap((p) => {
    const out: string[] = [];
    const who = `${SHORT[p.kind]}/${p.name}`;
    if (p.ready && p.ready.status !== 'True') out.push(`${who}: ${p.ready.message}`);
    else if (p.lastBackupStatus === 'Failed' && p.failureReason) out.push(`${who}: ${p.failureReason}`);
    return out;
  });
  const legend = `history: ${Object.entries(GLYPHS)
    .map(([k, v]) => `${v} ${k}`)
    .join('  ')} (oldest first, newest last)`;
  return [table(headers, body), '', legend, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

export const status: Command = {
  name: 'status',
  summary: 'Every DatabaseBackup and BackupPolicy: schedule, last result, next run, recent runs.',
  help: `Usage: cairn status [-n NS | -A] [-o json|yaml]

One line per DatabaseBackup (dbb/…) and BackupPolicy (bpol/…): SCHEDULE (and its time zone),
LAST (lastBackupStatus and lastBackup), LAST SUCCESS (age of lastSuccessfulTime), NEXT
(nextScheduledBackup), HISTORY (the last ${HISTORY} runs, one glyph each, newest last:
✓ Completed, ✗ Failed, ● Running, ○ Pending; runs retention deleted are taken from
status.backupHistory), READY (the Ready condition). A policy that is not Ready, or whose last
run failed, gets a line below with the reason.`,
  options: {},
  async run(args, g, io) {
    if (args.positionals.length > 0) throw new UsageError('status takes no arguments');
    const cluster = await connect(g);
    const ns = cluster.listNamespace;
    const [dbbs, bpols, backups] = await Promise.all([
      cluster.kube.list<Policy>('DatabaseBackup', ns),
      cluster.kube.list<Policy>('BackupPolicy', ns),
      cluster.kube.list<Backup>('Backup', ns),
    ]);
    const rows = [
      ...dbbs.map((p) => summarize('DatabaseBackup', p, backups)),
      ...bpols.map((p) => summarize('BackupPolicy', p, backups)),
    ].sort(
      (a, b) =>
        a.namespace.localeCompare(b.namespace) ||
        a.name.localeCompare(b.name) ||
        a.kind.localeCompare(b.kind),
    );
    emit(io, g.output, rows, () => statusTable(rows, g.allNamespaces, systemClock.now()));
    return 0;
  },
};
