/**
 * retention-pruner: after each completed backup (dev.cairn.backup.completed), when a Backup is
 * being deleted, when a prune Job finishes or a snapshot Backup's VolumeSnapshot is gone, and on
 * the tick, applies retention and deletes artifacts before their Backups go.
 */
import { API_VERSION, type Backup, type PolicyKind, type Restore } from '../../shared/api/index.ts';
import { InvalidEvent } from '../../shared/errors.ts';
import { eventKind, parseCairnEvent, parseResourceEvent } from '../../shared/events.ts';
import { makeHandle, outcomeOfParts, type Planner, planEach } from '../../shared/function.ts';
import type { KubeClient, KubeObject } from '../../shared/kube.ts';
import { Labels, MANAGED_BY } from '../../shared/labels.ts';
import type { Ref } from '../../shared/plan.ts';
import { groupKey, isSnapshotBackup, type Policy } from '../../shared/policy.ts';
import { decide, type PrunerState } from './decide.ts';

export const NAME = 'retention-pruner';

async function gatherPolicy(
  kube: KubeClient,
  namespace: string,
  kind: PolicyKind,
  name: string,
): Promise<PrunerState> {
  const sel = { labelSelector: `${Labels.policy}=${name}` };
  const [policy, backups, jobs, restores] = await Promise.all([
    kube.get<Policy>(kind, namespace, name),
    kube.list<Backup>('Backup', namespace, sel),
    kube.list<KubeObject>('Job', namespace, sel),
    // Restores made by hand carry no policy label: all of the namespace's.
    kube.list<Restore>('Restore', namespace),
  ]);
  const mine = backups.filter((b) => b.spec.policyRef.kind === kind && b.spec.policyRef.name === name);
  // Snapshot Backups' VolumeSnapshots: read only when there are some (no snapshot CRDs needed otherwise).
  const snapshots = mine.some(isSnapshotBackup)
    ? (await kube.list<KubeObject>('VolumeSnapshot', namespace, sel)).filter(
        (v) => v.metadata.labels?.[Labels.policyKind] === kind,
      )
    : [];
  return {
    kind,
    name,
    namespace,
    policy,
    backups: mine,
    jobs: jobs.filter((j) => j.metadata.labels?.[Labels.policyKind] === kind),
    restores,
    snapshots,
  };
}

/**
 * The tick: one LIST per kind, grouped per policy (including policies that are gone). Read
 * consistently, not from the watch cache: it deletes from what it reads, and a stale list could
 * miss the newest Completed Backup it must keep, or a run that started.
 */
async function gatherAll(kube: KubeClient): Promise<PrunerState[]> {
  const [dbbs, bps, backups, jobs, restores] = await Promise.all([
    kube.list<Policy>('DatabaseBackup', undefined),
    kube.list<Policy>('BackupPolicy', undefined),
    kube.list<Backup>('Backup', undefined),
    kube.list<KubeObject>('Job', undefined, { labelSelector: `${Labels.managedBy}=${MANAGED_BY}` }),
    kube.list<Restore>('Restore', undefined),
  ]);
  const restoresIn = (namespace: string) =>
    restores.filter((r) => (r.metadata.namespace ?? 'default') === namespace);
  const states = new Map<string, PrunerState>();
  const stateFor = (namespace: string, kind: PolicyKind, name: string) => {
    const key = groupKey(namespace, kind, name);
    let s = states.get(key);
    if (!s) {
      s = {
        kind,
        name,
        namespace,
        policy: undefined,
        backups: [],
        jobs: [],
        restores: restoresIn(namespace),
      };
      states.set(key, s);
    }
    return s;
  };
  for (const p of dbbs)
    stateFor(p.metadata.namespace ?? 'default', 'DatabaseBackup', p.metadata.name).policy = p;
  for (const p of bps)
    stateFor(p.metadata.namespace ?? 'default', 'BackupPolicy', p.metadata.name).policy = p;
  for (const b of backups)
    stateFor(b.metadata.namespace ?? 'default', b.spec.policyRef.kind, b.spec.policyRef.name).backups.push(b);
  for (const j of jobs) {
    const kind = j.metadata.labels?.[Labels.policyKind] as PolicyKind | undefined;
    const name = j.metadata.labels?.[Labels.policy];
    if (kind && name) stateFor(j.metadata.namespace ?? 'default', kind, name).jobs.push(j);
  }
  if (backups.some(isSnapshotBackup)) {
    const snapshots = await kube.list<KubeObject>('VolumeSnapshot', undefined, {
      labelSelector: `${Labels.managedBy}=${MANAGED_BY}`,
    });
    for (const v of snapshots) {
      const kind = v.metadata.labels?.[Labels.policyKind] as PolicyKind | undefined;
      const name = v.metadata.labels?.[Labels.policy];
      if (!kind || !name) continue;
      const s = stateFor(v.metadata.namespace ?? 'default', kind, name);
      s.snapshots = [...(s.snapshots ?? []), v];
    }
  }
  return [...states.values()];
}

export const plan: Planner = async (event, { kube, clock }) => {
  const now = clock.now();
  switch (eventKind(event)) {
    case 'ping': {
      // One part per policy (or what is left of one): one that cannot be pruned stops no other.
      const parts = await planEach(
        await gatherAll(kube),
        (s): Ref => ({
          apiVersion: API_VERSION,
          kind: s.kind,
          namespace: s.namespace,
          name: s.name,
          ...(s.policy?.metadata.uid ? { uid: s.policy.metadata.uid } : {}),
        }),
        (s) => decide(s, now),
      );
      return outcomeOfParts(parts);
    }
    case 'cairn': {
      const ev = parseCairnEvent<{ name?: string; namespace?: string }>(event);
      const { name, namespace } = ev.data;
      if (!name || !namespace)
        throw new InvalidEvent('data: a backup event needs data.name and data.namespace', 'data');
      const backup = await kube.get<Backup>('Backup', namespace, name);
      if (!backup) return { plan: [] };
      const { kind, name: policy } = backup.spec.policyRef;
      return { plan: decide(await gatherPolicy(kube, namespace, kind, policy), now) };
    }
    case 'resource': {
      const ev = parseResourceEvent(event);
      const obj = ev.object as KubeObject;
      if (ev.kind !== 'Backup' && ev.kind !== 'Job' && ev.kind !== 'VolumeSnapshot')
        throw new InvalidEvent(
          `kind: ${NAME} handles Backup, Job and VolumeSnapshot events, not ${ev.kind}`,
          'kind',
        );
      const kind = (
        ev.kind === 'Backup'
          ? (obj as Backup).spec?.policyRef?.kind
          : obj.metadata.labels?.[Labels.policyKind]
      ) as PolicyKind | undefined;
      const policy =
        ev.kind === 'Backup' ? (obj as Backup).spec?.policyRef?.name : obj.metadata.labels?.[Labels.policy];
      if (!kind || !policy) return { plan: [] };
      // A Backup update matters only when it is being deleted; a Job update only for prune Jobs.
      if (ev.kind === 'Backup' && !obj.metadata.deletionTimestamp) return { plan: [] };
      if (ev.kind === 'Job' && obj.metadata.labels?.[Labels.component] !== 'prune') return { plan: [] };
      // A VolumeSnapshot's deletion may be the last one its Backup waits for.
      if (ev.kind === 'VolumeSnapshot' && ev.action !== 'delete') return { plan: [] };
      return { plan: decide(await gatherPolicy(kube, ev.namespace, kind, policy), now) };
    }
    default:
      throw new InvalidEvent(`type: ${NAME} does not handle ${String(event.type)} events`, 'type');
  }
};

export const handle = makeHandle(NAME, plan);
