/**
 * schedule-evaluator's reads: one LIST per kind per tick, or one policy and its Backups; and the
 * claim a new, edited or claim-less policy writes to.
 *
 * Which tick LISTs may come from the API server's watch cache (resourceVersion=0, a moment stale):
 * - the policies: yes. Deciding from an older policy is deciding as a tick a moment earlier would
 *   have: a due run it finds is created by its deterministic name (AlreadyExists if it was already),
 *   its status write carries the old resourceVersion (409: read again, decide the write again,
 *   lastScheduleTime never moves back), and a spec edited in that moment is evaluated by the
 *   edit's own update event, which reads the policy with a GET.
 * - the Backups: no. Forbid counts the active runs from them and Replace deletes those: a stale
 *   list could miss a run just started (two at once under Forbid) or show a finished run as
 *   active (Replace would delete a completed backup). They are read consistently.
 * - the Restores (only when some policy verifies on a cron): no, for the same reason: a
 *   verification still running must be seen, or a second one starts beside it.
 */
import type { Backup, PolicyKind, Restore } from '../../shared/api/index.ts';
import type { KubeClient } from '../../shared/kube.ts';
import { Labels } from '../../shared/labels.ts';
import { backupsOf, destinationClaim, groupKey, type Policy } from '../../shared/policy.ts';
import { needsClaimCheck, type PolicyState } from './decide.ts';

/**
 * The claim of a policy that needsClaimCheck, looked up (one GET; none in the steady state). The
 * tick calls it per policy, so a failed GET is that policy's error only.
 */
export async function withClaims(kube: KubeClient, state: PolicyState): Promise<PolicyState> {
  const claim = destinationClaim(state.policy);
  if (!claim || !needsClaimCheck(state.policy)) return state;
  const claims = await kube.existing('PersistentVolumeClaim', state.policy.metadata.namespace ?? 'default', [
    claim,
  ]);
  return { ...state, claims };
}

const POLICY_KINDS: readonly PolicyKind[] = ['DatabaseBackup', 'BackupPolicy'];

export async function gatherAll(kube: KubeClient): Promise<PolicyState[]> {
  const [dbbs, bps, backups] = await Promise.all([
    kube.list<Policy>('DatabaseBackup', undefined, { cached: true }),
    kube.list<Policy>('BackupPolicy', undefined, { cached: true }),
    kube.list<Backup>('Backup', undefined),
  ]);
  // Restores matter only to cron verification: one more LIST only when some policy has it.
  const restores = [...dbbs, ...bps].some((p) => p.spec.verification?.schedule)
    ? await kube.list<Restore>('Restore', undefined, { labelSelector: Labels.policy })
    : [];
  const byPolicy = new Map<string, Backup[]>();
  for (const b of backups) {
    const key = groupKey(b.metadata.namespace, b.spec.policyRef.kind, b.spec.policyRef.name);
    const list = byPolicy.get(key);
    if (list) list.push(b);
    else byPolicy.set(key, [b]);
  }
  const states: PolicyState[] = [];
  for (const [kind, policies] of [
    ['DatabaseBackup', dbbs],
    ['BackupPolicy', bps],
  ] as const) {
    for (const policy of policies) {
      states.push({
        kind,
        policy,
        backups: byPolicy.get(groupKey(policy.metadata.namespace, kind, policy.metadata.name)) ?? [],
        restores: restores.filter(
          (r) =>
            (r.metadata.namespace ?? 'default') === (policy.metadata.namespace ?? 'default') &&
            r.metadata.labels?.[Labels.policy] === policy.metadata.name &&
            r.metadata.labels?.[Labels.policyKind] === kind,
        ),
      });
    }
  }
  return states;
}

export async function gatherOne(
  kube: KubeClient,
  kind: string,
  namespace: string,
  name: string,
): Promise<PolicyState | undefined> {
  if (!POLICY_KINDS.includes(kind as PolicyKind)) return undefined;
  const policy = await kube.get<Policy>(kind, namespace, name);
  if (!policy) return undefined;
  const selector = { labelSelector: `${Labels.policy}=${name}` };
  const [backups, restores] = await Promise.all([
    kube.list<Backup>('Backup', namespace, selector),
    policy.spec.verification?.schedule ? kube.list<Restore>('Restore', namespace, selector) : [],
  ]);
  return withClaims(kube, {
    kind: kind as PolicyKind,
    policy,
    backups: backupsOf(kind as PolicyKind, policy, backups),
    restores: restores.filter((r) => r.metadata.labels?.[Labels.policyKind] === kind),
  });
}

export function isPolicyKind(kind: string): kind is PolicyKind {
  return POLICY_KINDS.includes(kind as PolicyKind);
}
