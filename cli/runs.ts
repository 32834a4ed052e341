/** Helpers for the commands that start runs: finding a policy by name, waiting for a run to end. */
import type { Backup, PolicyKind, Restore } from '../shared/api/index.ts';
import type { KubeClient } from '../shared/kube.ts';
import type { Policy } from '../shared/policy.ts';
import { OperationFailed, UsageError } from './command.ts';

const KIND_NAMES: Record<string, PolicyKind> = {
  databasebackup: 'DatabaseBackup',
  databasebackups: 'DatabaseBackup',
  dbb: 'DatabaseBackup',
  backuppolicy: 'BackupPolicy',
  backuppolicies: 'BackupPolicy',
  bpol: 'BackupPolicy',
};

/**
 * The policy `ref` names: `name`, or `kind/name` with kubectl's kind names (`dbb/x`, `bpol/x`,
 * `databasebackup/x`…). A bare name that both kinds use is a usage error asking for the kind.
 */
export async function findPolicy(
  kube: KubeClient,
  namespace: string,
  ref: string,
): Promise<{ kind: PolicyKind; policy: Policy }> {
  const slash = ref.indexOf('/');
  if (slash >= 0) {
    const kind =
      KIND_NAMES[
        ref
          .slice(0, slash)
          .toLowerCase()
          .replace(/\.backup\.cairn\.dev$/, '')
      ];
    if (!kind) throw new UsageError(`${ref}: expected databasebackup/<name> or backuppolicy/<name>`);
    const name = ref.slice(slash + 1);
    const policy = await kube.get<Policy>(kind, namespace, name);
    if (!policy) throw new OperationFailed(`${kind} ${name} not found in namespace ${namespace}`);
    return { kind, policy };
  }
  const [dbb, bpol] = await Promise.all([
    kube.get<Policy>('DatabaseBackup', namespace, ref),
    kube.get<Policy>('BackupPolicy', namespace, ref),
  ]);
  if (dbb && bpol)
    throw new UsageError(
      `both a DatabaseBackup and a BackupPolicy are named ${ref}: say dbb/${ref} or bpol/${ref}`,
    );
  if (dbb) return { kind: 'DatabaseBackup', policy: dbb };
  if (bpol) return { kind: 'BackupPolicy', policy: bpol };
  throw new OperationFailed(`no DatabaseBackup or BackupPolicy named ${ref} in namespace ${namespace}`);
}

/** `yyyymmddhhmmss` of an instant in UTC: manual runs are named by the second they were asked for. */
export function secondStamp(t: Date): string {
  return t.toISOString().slice(0, 19).replace(/[-T:]/g, '');
}

/** Polls a Backup or Restore until it is Completed or Failed; fails after `timeoutMs`. */
export async function waitForRun<T extends Backup | Restore>(
  kube: KubeClient,
  kind: 'Backup' | 'Restore',
  namespace: string,
  name: string,
  timeoutMs: number,
  onPhase?: (phase: string) => void,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  for (;;) {
    const run = await kube.get<T>(kind, namespace, name);
    if (!run) throw new OperationFailed(`${kind} ${name} disappeared while waiting for it`);
    const phase = run.status?.phase ?? 'Pending';
    if (phase !== last) {
      last = phase;
      onPhase?.(phase);
    }
    if (phase === 'Completed' || phase === 'Failed') return run;
    if (Date.now() > deadline)
      throw new OperationFailed(`${kind} ${name} is still ${phase} after ${Math.round(timeoutMs / 1000)}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
