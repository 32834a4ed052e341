/** restore-runner's reads: the Restore, its Backup and policy (same namespace only), and what they name. */
import type { Backup, Restore } from '../../shared/api/index.ts';
import { DEFAULT_POLICY_DESTINATION } from '../../shared/api/index.ts';
import type { KubeClient, KubeObject } from '../../shared/kube.ts';
import type { Policy } from '../../shared/policy.ts';
import type { RestoreState } from './decide.ts';

export async function gather(kube: KubeClient, restore: Restore): Promise<RestoreState> {
  const ns = restore.metadata.namespace ?? 'default';
  // The Backup is read from the Restore's own namespace: a Restore cannot reach another's backups.
  const backup = await kube.get<Backup>('Backup', ns, restore.spec.backupRef.name);
  const policy = backup
    ? await kube.get<Policy>(backup.spec.policyRef.kind, ns, backup.spec.policyRef.name)
    : undefined;
  // Secrets are not looked at, not even for existence: restore-runner may not read them (RBAC).
  // A missing one surfaces from the Pod (CreateContainerConfigError).
  const claims = new Set<string>();
  const dest = backup?.status?.destination ?? policy?.spec.storageDestination ?? DEFAULT_POLICY_DESTINATION;
  if (dest.type === 'pvc' && dest.claimName) claims.add(dest.claimName);
  const t = restore.spec.target;
  // A snapshot Backup is restored by a claim created from its VolumeSnapshot: the snapshots, and the
  // target claim itself (its dataSource), are read; there is no store.
  const records = backup?.status?.phase === 'Completed' ? (backup.status.snapshots ?? []) : [];
  if (records.length > 0) {
    const [found, targetClaim] = await Promise.all([
      Promise.all(records.map((r) => kube.get<KubeObject>('VolumeSnapshot', ns, r.name))),
      t.pvc ? kube.get<KubeObject>('PersistentVolumeClaim', ns, t.pvc.claimName) : undefined,
    ]);
    const snapshots = Object.fromEntries(
      found.filter((v): v is KubeObject => v !== undefined).map((v) => [v.metadata.name, v]),
    );
    return { restore, backup, policy, claims: {}, snapshots, targetClaim };
  }
  if (t.pvc) claims.add(t.pvc.claimName);
  return { restore, backup, policy, claims: await kube.existing('PersistentVolumeClaim', ns, claims) };
}
