/** job-launcher's reads: the Backup, its policy, and what the policy names in the namespace. */
import type { Backup, BackupPolicy, DatabaseBackup } from '../../shared/api/index.ts';
import type { KubeClient, KubeObject } from '../../shared/kube.ts';
import { selectorToString } from '../../shared/labels.ts';
import { destinationClaim, isFinished, isLaunched, type Policy } from '../../shared/policy.ts';
import type { Endpoint, LaunchState } from './decide.ts';
import type { PodContainer, PodInfo } from './pod-credentials.ts';

/** The Backups the tick re-examines: not started, not finished, not being deleted. */
export function needsJob(b: Backup): boolean {
  return !b.metadata.deletionTimestamp && !isFinished(b) && !isLaunched(b);
}

const running = (kube: KubeClient, namespace: string, labelSelector: string) =>
  kube
    .list<KubeObject>('Pod', namespace, { labelSelector, fieldSelector: 'status.phase=Running' })
    .then((pods) =>
      pods
        .filter((p) => typeof p.status?.podIP === 'string')
        .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)),
    );

/** What job-launcher needs of a Pod: its containers' names, images, env and ports (no status). */
function podInfo(p: KubeObject): PodInfo {
  const containers = (p.spec?.containers ?? []) as PodContainer[];
  return {
    name: p.metadata.name,
    containers: containers.map((c) => ({
      name: c.name,
      ...(c.image ? { image: c.image } : {}),
      ...(c.env ? { env: c.env } : {}),
      ...(c.ports ? { ports: c.ports } : {}),
    })),
  };
}

/** The Services (first) or running Pods databaseSelector matches, and the Pods behind them. */
async function selected(
  kube: KubeClient,
  namespace: string,
  p: DatabaseBackup,
): Promise<{ endpoints: Endpoint[]; pods: PodInfo[] }> {
  const sel = p.spec.databaseSelector;
  if (!sel || p.spec.database?.host) return { endpoints: [], pods: [] };
  const labelSelector = selectorToString(sel);
  const [services, pods] = await Promise.all([
    kube.list<KubeObject>('Service', namespace, { labelSelector }),
    running(kube, namespace, labelSelector),
  ]);
  if (services.length > 0) {
    services.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const endpoints = services.map((s) => ({
      host: `${s.metadata.name}.${namespace}.svc`,
      port: s.spec?.ports?.[0]?.port as number | undefined,
      what: `Service ${s.metadata.name}`,
    }));
    // The credentials live on the Pods: those the selector matches, else those the Service selects.
    const svcSelector = services[0]?.spec?.selector as Record<string, string> | undefined;
    const behind =
      pods.length > 0 || !svcSelector
        ? pods
        : await running(kube, namespace, selectorToString({ matchLabels: svcSelector }));
    return { endpoints, pods: behind.map(podInfo) };
  }
  return {
    endpoints: pods.map((p) => ({ host: p.status.podIP as string, what: `Pod ${p.metadata.name}` })),
    pods: pods.map(podInfo),
  };
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
  // A snapshot policy writes to no claim.
  const dest = destinationClaim(policy);
  if (dest) claimNames.add(dest);
  if (kind === 'DatabaseBackup') {
    const db = policy as DatabaseBackup;
    const found = await selected(kube, namespace, db);
    state.endpoints = found.endpoints;
    state.selectedPods = found.pods;
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
