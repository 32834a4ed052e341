/** job-watcher's reads: the Job, its Pods, the Backup or Restore that owns it, and the policy. */
import type { Backup, Restore } from '../../shared/api/index.ts';
import { timeOf } from '../../shared/clock.ts';
import type { KubeClient, KubeObject } from '../../shared/kube.ts';
import { Labels } from '../../shared/labels.ts';
import type { Policy } from '../../shared/policy.ts';
import type { JobState } from './decide.ts';

export type RunKind = 'Backup' | 'Restore';

/** Which run a Job (or its labels) belongs to. */
export function runOf(
  labels: Record<string, string> | undefined,
): { kind: RunKind; name: string } | undefined {
  const restore = labels?.[Labels.restore];
  if (restore) return { kind: 'Restore', name: restore };
  const backup = labels?.[Labels.backup];
  return backup ? { kind: 'Backup', name: backup } : undefined;
}

export function jobNameOfPod(pod: KubeObject): string | undefined {
  const l = pod.metadata.labels ?? {};
  return l['batch.kubernetes.io/job-name'] ?? l['job-name'];
}

export async function jobState(kube: KubeClient, namespace: string, jobName: string): Promise<JobState> {
  const [job, pods] = await Promise.all([
    kube.get<KubeObject>('Job', namespace, jobName),
    kube.list<KubeObject>('Pod', namespace, { labelSelector: `job-name=${jobName}` }),
  ]);
  // client-node's CoreV1Api hands creationTimestamp back as a Date, the emulator's JSON as a string.
  const created = (p: KubeObject) => timeOf(p.metadata.creationTimestamp) ?? 0;
  pods.sort((a, b) => created(b) - created(a) || b.metadata.name.localeCompare(a.metadata.name));
  return { job, pods };
}

export async function getRun(kube: KubeClient, kind: RunKind, namespace: string, name: string) {
  return kube.get<Backup | Restore>(kind, namespace, name);
}

export async function policyAndBackups(
  kube: KubeClient,
  backup: Backup,
): Promise<{ policy: Policy | undefined; backups: Backup[] }> {
  const namespace = backup.metadata.namespace ?? 'default';
  const { kind, name } = backup.spec.policyRef;
  const [policy, backups] = await Promise.all([
    kube.get<Policy>(kind, namespace, name),
    kube.list<Backup>('Backup', namespace, { labelSelector: `${Labels.policy}=${name}` }),
  ]);
  return {
    policy,
    backups: backups.filter((b) => b.spec.policyRef.kind === kind && b.spec.policyRef.name === name),
  };
}

/** The Restores a policy's verifications created (labelled with the policy). */
export async function policyRestores(
  kube: KubeClient,
  namespace: string,
  policy: string,
): Promise<Restore[]> {
  return kube.list<Restore>('Restore', namespace, { labelSelector: `${Labels.policy}=${policy}` });
}
