/**
 * CSI VolumeSnapshots (snapshot.storage.k8s.io/v1), for BackupPolicy backupStrategy: snapshot:
 * the snapshot job-launcher asks for, what job-watcher reads of its status, and the claim
 * restore-runner creates from one. The fields are the API's (kubernetes-csi/external-snapshotter,
 * client/apis/volumesnapshot/v1/types.go).
 */
import type { OwnerReference, SnapshotRecord } from './api/index.ts';
import { kubeTimeOf } from './clock.ts';
import type { KubeObject } from './kube.ts';
import { childName } from './naming.ts';

export const SNAPSHOT_GROUP = 'snapshot.storage.k8s.io';
export const SNAPSHOT_API_VERSION = `${SNAPSHOT_GROUP}/v1`;

/**
 * The VolumeSnapshot of `claim` for Backup `backup`: `<backup>-<claim>`, shortened (with a hash)
 * as every child name is, and with a long claim name cut and hashed first so the Backup's name
 * stays readable in it.
 */
export function snapshotName(backup: string, claim: string): string {
  if (claim.length <= 40) return childName(backup, claim);
  return childName(backup, childName(claim.slice(0, 30).replace(/[-.]+$/, ''), claim.length.toString(16)));
}

export interface SnapshotInput {
  name: string;
  namespace: string;
  claim: string;
  className?: string | undefined;
  labels: Record<string, string>;
  owner: OwnerReference;
}

export function volumeSnapshot(input: SnapshotInput): KubeObject {
  return {
    apiVersion: SNAPSHOT_API_VERSION,
    kind: 'VolumeSnapshot',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels: input.labels,
      ownerReferences: [input.owner],
    },
    spec: {
      ...(input.className ? { volumeSnapshotClassName: input.className } : {}),
      source: { persistentVolumeClaimName: input.claim },
    },
  };
}

/** What a VolumeSnapshot's status says, as a Backup records it. */
export function snapshotRecord(vs: KubeObject, claim: string): SnapshotRecord {
  const st = (vs.status ?? {}) as {
    readyToUse?: boolean;
    restoreSize?: string | number;
    creationTime?: string;
    error?: { message?: string };
  };
  const cls = vs.spec?.volumeSnapshotClassName as string | undefined;
  const created = kubeTimeOf(st.creationTime);
  return {
    name: vs.metadata.name,
    persistentVolumeClaimName: claim,
    ...(cls ? { volumeSnapshotClassName: cls } : {}),
    ...(st.readyToUse !== undefined ? { readyToUse: st.readyToUse } : {}),
    ...(st.restoreSize !== undefined ? { restoreSize: String(st.restoreSize) } : {}),
    ...(created ? { creationTime: created } : {}),
    ...(st.error?.message ? { error: st.error.message.slice(0, 1024) } : {}),
  };
}

/** The dataSource a claim restored from the snapshot `name` has. */
export function snapshotDataSource(name: string): { apiGroup: string; kind: string; name: string } {
  return { apiGroup: SNAPSHOT_GROUP, kind: 'VolumeSnapshot', name };
}

/** Whether a claim was created from the snapshot `name` (dataSource or dataSourceRef). */
export function claimFromSnapshot(claim: KubeObject, name: string): boolean {
  const ds = (claim.spec?.dataSourceRef ?? claim.spec?.dataSource) as
    | { apiGroup?: string; kind?: string; name?: string }
    | undefined;
  return ds?.apiGroup === SNAPSHOT_GROUP && ds.kind === 'VolumeSnapshot' && ds.name === name;
}
