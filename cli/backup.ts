/**
 * `cairn backup <policy>`: a manual Backup now. It is the Backup the schedule would create
 * (shared/policy.ts scheduledBackup: same labels, ownerReference and finalizer, so job-launcher,
 * job-watcher and retention treat it like any run), named `<policy>-manual-<yyyymmddhhmmss>` and
 * without `spec.scheduledTime`, which marks a manual run.
 */
import type { Backup, PolicyKind } from '../shared/api/index.ts';
import { systemClock } from '../shared/clock.ts';
import type { KubeClient } from '../shared/kube.ts';
import { Labels } from '../shared/labels.ts';
import { childName } from '../shared/naming.ts';
import { type Policy, scheduledBackup } from '../shared/policy.ts';
import { connect } from './cluster.ts';
import { bool, type Command, OperationFailed, parseDuration, str, UsageError } from './command.ts';
import { emit, fields, humanBytes } from './output.ts';
import { findPolicy, secondStamp, waitForRun } from './runs.ts';

export function manualBackup(...args: Parameters<typeof scheduledBackup>): Backup {
  const [, policy, now] = args;
  const b = scheduledBackup(...args);
  const name = childName(policy.metadata.name, `manual-${secondStamp(now)}`);
  const { scheduledTime: _, ...spec } = b.spec;
  return {
    ...b,
    metadata: { ...b.metadata, name, labels: { ...b.metadata.labels, [Labels.backup]: name } },
    spec,
  };
}

export function backupSummary(b: Backup): string {
  const s = b.status ?? {};
  return fields([
    ['Backup', `${b.metadata.namespace}/${b.metadata.name}`],
    ['Phase', s.phase ?? 'Pending'],
    ['Location', s.location],
    ['Size', s.sizeBytes === undefined ? undefined : `${humanBytes(s.sizeBytes)} (${s.sizeBytes} bytes)`],
    ['SHA-256', s.sha256],
    ['Duration', s.durationSeconds === undefined ? undefined : `${s.durationSeconds}s`],
    ['Reason', s.phase === 'Failed' ? s.reason : undefined],
    ['Message', s.message],
  ]);
}

/**
 * Creates the manual Backup. Its name has the second in it: when a run started within the same
 * second already holds it (a second `cairn backup` right after a fast first one), the next second's
 * name is taken instead, at most three times.
 */
async function createManual(kube: KubeClient, kind: PolicyKind, policy: Policy): Promise<Backup> {
  for (let attempt = 1; ; attempt++) {
    const object = manualBackup(kind, policy, systemClock.now());
    const { object: created, created: isNew } = await kube.create('Backup', object);
    if (isNew) return created;
    if (attempt >= 3) throw new OperationFailed(`Backup ${object.metadata.name} exists already; try again`);
    await new Promise((r) => setTimeout(r, 1000 - (systemClock.now().getTime() % 1000) + 10));
  }
}

export const backup: Command = {
  name: 'backup',
  summary: 'Start a manual Backup of a DatabaseBackup or BackupPolicy now.',
  help: `Usage: cairn backup <policy> [--wait] [--timeout 10m]

<policy> is a DatabaseBackup or BackupPolicy name, or kind/name (dbb/pg-nightly, bpol/volumes).
The Backup is named <policy>-manual-<yyyymmddhhmmss> (UTC), carries the policy's labels and
ownerReference, and counts for retention like a scheduled run.

Options:
  --wait           wait until it is Completed (exit 0) or Failed (exit 1)
  --timeout DUR    how long --wait waits (default 10m)`,
  options: { wait: { type: 'boolean' }, timeout: { type: 'string' } },
  async run(args, g, io) {
    const [ref, ...extra] = args.positionals;
    if (!ref || extra.length > 0) throw new UsageError('expected one <policy>');
    const timeout = parseDuration('--timeout', str(args.values, 'timeout') ?? '10m');
    const cluster = await connect(g);
    const { kind, policy } = await findPolicy(cluster.kube, cluster.namespace, ref);
    const created = await createManual(cluster.kube, kind, policy);
    if (!bool(args.values, 'wait')) {
      emit(io, g.output, created, () => `backup.backup.cairn.dev/${created.metadata.name} created`);
      return 0;
    }
    if (g.output === 'table') io.err(`backup.backup.cairn.dev/${created.metadata.name} created; waiting…\n`);
    const done = await waitForRun<Backup>(
      cluster.kube,
      'Backup',
      cluster.namespace,
      created.metadata.name,
      timeout,
    );
    emit(io, g.output, done, () => backupSummary(done));
    return done.status?.phase === 'Completed' ? 0 : 1;
  },
};
