/** job-launcher's reads: the Backup, its policy, and what the policy names in the namespace. */
import type { Backup, BackupPolicy, DatabaseBackup } from '../../shared/api/index.ts';
import { DEFAULT_POLICY_DESTINATION } from '../../shared/api/index.ts';
import type { KubeClient, KubeObject } from '../../shared/kube.ts';
import { selectorToString } from '../../shared/labels.ts';
import { isFinished, type Policy } from '../../shared/policy.ts';
import type { Endpoint, LaunchState } from './decide.ts';

/** The Backups the tick re-examines: not started, not finished, not being deleted. */
export function needsJob(b: Backup): boolean {
  return !b.metadata.deletionTimestamp && !isFinished(b) && !b.status?.jobName;
}

async function endpoints(kube: KubeClient, namespace: string, p: DatabaseBackup): Promise<Endpoint[]> {
  const sel = p.spec.databaseSelector;
  if (!sel || p.spec.database?.host) return [];
  const labelSelector = selectorToString(sel);
  const services = await kube.list<KubeObject>('Service', namespace, { labelSelector });
  if (services.length > 0) {
    return services
      .map((s) => ({
        host: `${s.metadata.name}.${namespace}.svc`,
        port: s.spec?.ports?.[0]?.port as number | undefined,
        what: `Service ${s.metadata.name}`,
      }))
      .sort((a, b) => a.host.localeCompare(b.host));
  }
  const pods = await kube.list<KubeObject>('Pod', namespace, {
    labelSelector,
    fieldSelector: 'status.phase=Running',
  });
  return pods
    .filter((p) => typeof p.status?.podIP === 'string')
    .map((p) => ({ host: p.status.podIP as string, what: `Pod ${p.metadata.name}` }))
    .sort((a, b) => a.what.localeCompare(b.what));
}

export async function gather(kube: KubeClient, backup: Backup): Promise<LaunchState> {
  const namespace = backup.metadata.namespace ?? 'default';
  const { kind, name } = backup.spec.policyRef;
  const policy = await kube.get<Policy>(kind, namespace, name);
  const state: LaunchState = { backup, policy, endpoints: [], claims: {}, selectedClaims: [] };
  if (!policy) return state;
  // Secrets are not looked at, not even for existence: job-launcher may not read them (RBAC). A
  // missing one surfaces from the Pod (CreateContainerConfigError), which job-watcher reports.
  const claimNames = new Set<string>();
  const dest = policy.spec.storageDestination ?? DEFAULT_POLICY_DESTINATION;
  if (dest.type === 'pvc' && dest.claimName) claimNames.add(dest.claimName);
  if (kind === 'DatabaseBackup') {
    const db = policy as DatabaseBackup;
    state.endpoints = await endpoints(kube, namespace, db);
  } else {
    const bp = policy as BackupPolicy;
    const pvcs = await kube.list<KubeObject>('PersistentVolumeClaim', namespace, {
      labelSelector: selectorToString(bp.spec.pvcSelector),
    });
    state.selectedClaims = pvcs.map((p) => p.metadata.name).sort();
  }
  state.claims = await kube.existing('PersistentVolumeClaim', namespace, claimNames);
  return state;
}
