/**
 * job-watcher: on changes of Cairn's Jobs and their Pods, moves Backups and Restores through
 * their phases, derives the policy's status, records Events, and replies with
 * dev.cairn.backup|restore.completed|failed. On the tick it fails runs whose Job vanished or
 * outlived its deadline, so nothing stays Running forever.
 */
import { createHash } from 'node:crypto';
import type { Backup, PolicyKind, Restore } from '../../shared/api/index.ts';
import { InvalidEvent } from '../../shared/errors.ts';
import type { CairnEventType } from '../../shared/event-types.ts';
import { cairnEvent, eventKind, functionSource, parseResourceEvent } from '../../shared/events.ts';
import {
  type FunctionDeps,
  makeHandle,
  type Outcome,
  outcomeOfParts,
  type Planner,
  planEach,
} from '../../shared/function.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { Labels } from '../../shared/labels.ts';
import { type Plan, refOf } from '../../shared/plan.ts';
import { groupKey, isFinished, type Policy } from '../../shared/policy.ts';
import { isVerification } from '../../shared/verification.ts';
import {
  decidePolicy,
  decideRun,
  decideVerification,
  decideVerified,
  type RunDecision,
  unrecordedVerifications,
} from './decide.ts';
import {
  getRun,
  jobNameOfPod,
  jobState,
  policyAndBackups,
  policyRestores,
  type RunKind,
  runOf,
} from './gather.ts';

export const NAME = 'job-watcher';

/**
 * The run's own status write is what makes it finished: once it is stored, a redelivery of the same
 * event decides nothing and replies nothing. So the other status writes the event brings about
 * (the policy's status, a verification's Verified condition and lastVerification) go before it,
 * and only what needs the run finished (its Events, a verification Restore) after it: a failure
 * before that write fails the delivery, and the redelivery does all of it again, reply included.
 */
async function planRun(
  deps: FunctionDeps,
  kind: RunKind,
  run: Backup | Restore,
  jobName: string,
  jobDeleted: boolean,
): Promise<Outcome> {
  const namespace = run.metadata.namespace ?? 'default';
  const state = jobDeleted ? { job: undefined, pods: [] } : await jobState(deps.kube, namespace, jobName);
  const d: RunDecision = decideRun(kind, run, state, deps.clock.now(), jobDeleted);
  const own: Plan = d.plan.filter((a) => a.type === 'status');
  const before: Plan = [];
  const after: Plan = d.plan.filter((a) => a.type !== 'status');
  if (kind === 'Backup') {
    const { policy, backups } = await policyAndBackups(deps.kube, run as Backup);
    if (policy) {
      const policyKind = (run as Backup).spec.policyRef.kind;
      const merged = backups.map((b) => (b.metadata.name === run.metadata.name ? (d.updated as Backup) : b));
      before.push(...decidePolicy(policyKind, policy, merged));
      if (d.reply && d.updated.status?.phase === 'Completed' && policy.spec.verification) {
        const restores = await policyRestores(deps.kube, namespace, policy.metadata.name);
        after.push(...decideVerification(policyKind, policy, merged, restores));
      }
    }
  } else if (d.reply && isVerification(run as Restore)) {
    // A verification's answer is about the Backup: its Verified condition, the policy's
    // lastVerification, and dev.cairn.backup.verified / .verification.failed.
    const backup = await deps.kube.get<Backup>('Backup', namespace, (run as Restore).spec.backupRef.name);
    const v = decideVerified(d.updated as Restore, backup, deps.clock.now());
    if (v) {
      before.push(...v.plan.filter((a) => a.type === 'status'));
      after.push(...v.plan.filter((a) => a.type !== 'status'));
      d.reply = v.reply;
    }
  }
  const reply = d.reply
    ? cairnEvent(d.reply.type as CairnEventType, {
        id: replyId(run, d.reply.type),
        subject: d.reply.subject,
        source: functionSource(NAME),
        data: d.reply.data,
      })
    : undefined;
  return { plan: [...before, ...own, ...after], ...(reply ? { reply } : {}) };
}

/**
 * A run finishes once, but the Job's and the Pod's events can both carry the news, concurrently or
 * again after a failed delivery. The reply's id names the fact (this run, this outcome), not the
 * delivery, so every copy of it has the same `source` + `id` and consumers can drop the repeats,
 * as the CloudEvents spec intends.
 */
function replyId(run: Backup | Restore, type: string): string {
  const who = run.metadata.uid ?? `${run.metadata.namespace ?? 'default'}/${run.kind}/${run.metadata.name}`;
  const h = createHash('sha256').update(`${who}\n${type}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

async function planPolicy(
  deps: FunctionDeps,
  namespace: string,
  kind: PolicyKind,
  name: string,
): Promise<Plan> {
  const [policy, backups] = await Promise.all([
    deps.kube.get<Policy>(kind, namespace, name),
    deps.kube.list<Backup>('Backup', namespace, { labelSelector: `${Labels.policy}=${name}` }),
  ]);
  if (!policy) return [];
  return decidePolicy(
    kind,
    policy,
    backups.filter((b) => b.spec.policyRef.kind === kind && b.spec.policyRef.name === name),
  );
}

export const plan: Planner = async (event, deps) => {
  switch (eventKind(event)) {
    case 'resource': {
      const ev = parseResourceEvent(event);
      let jobName: string | undefined;
      if (ev.kind === 'Job') jobName = ev.name;
      else if (ev.kind === 'Pod') jobName = jobNameOfPod(ev.object as KubeObject);
      else throw new InvalidEvent(`kind: ${NAME} handles Job and Pod events, not ${ev.kind}`, 'kind');
      if (!jobName) return { plan: [] };
      const owner = runOf((ev.object as KubeObject).metadata.labels);
      if (!owner) return { plan: [] };
      const run = await getRun(deps.kube, owner.kind, ev.namespace, owner.name);
      if (!run) {
        // The Backup is gone (retention, a person): its policy's status must forget it.
        const labels = (ev.object as KubeObject).metadata.labels ?? {};
        const kind = labels[Labels.policyKind] as PolicyKind | undefined;
        const name = labels[Labels.policy];
        if (owner.kind !== 'Backup' || !kind || !name) return { plan: [] };
        return { plan: await planPolicy(deps, ev.namespace, kind, name) };
      }
      return planRun(deps, owner.kind, run, jobName, ev.kind === 'Job' && ev.action === 'delete');
    }
    case 'ping': {
      const [backups, restores] = await Promise.all([
        deps.kube.list<Backup>('Backup', undefined),
        deps.kube.list<Restore>('Restore', undefined),
      ]);
      const open: [RunKind, Backup | Restore][] = [
        ...backups.filter((b) => !isFinished(b)).map((b): [RunKind, Backup] => ['Backup', b]),
        ...restores
          .filter((r) => !isFinished(r as unknown as Backup))
          .map((r): [RunKind, Restore] => ['Restore', r]),
      ];
      // One part per run, per policy, per verification: one that cannot be handled stops no other.
      const outcomes = await planEach(
        open,
        ([kind, run]) => refOf(run, kind),
        async ([kind, run]) =>
          (await planRun(deps, kind, run, run.status?.jobName ?? run.metadata.name, false)).plan,
      );
      // Every policy's status is derived again, so nothing a lost event left stale stays stale.
      const [dbbs, bps] = await Promise.all([
        deps.kube.list<Policy>('DatabaseBackup', undefined),
        deps.kube.list<Policy>('BackupPolicy', undefined),
      ]);
      const byPolicy = new Map<string, Backup[]>();
      for (const b of backups) {
        const key = groupKey(b.metadata.namespace, b.spec.policyRef.kind, b.spec.policyRef.name);
        byPolicy.set(key, [...(byPolicy.get(key) ?? []), b]);
      }
      const policies = [
        ...dbbs.map((p): [PolicyKind, Policy] => ['DatabaseBackup', p]),
        ...bps.map((p): [PolicyKind, Policy] => ['BackupPolicy', p]),
      ];
      const touched = new Set(
        outcomes.flatMap((o) =>
          o.plan
            .filter((a) => a.type === 'status')
            .map((a) => (a.type === 'status' ? `${a.kind}/${a.namespace}/${a.name}` : '')),
        ),
      );
      const derived = await planEach(
        policies.filter(([kind, p]) => !touched.has(`${kind}/${p.metadata.namespace}/${p.metadata.name}`)),
        ([kind, p]) => refOf(p, kind),
        ([kind, p]) =>
          decidePolicy(kind, p, byPolicy.get(groupKey(p.metadata.namespace, kind, p.metadata.name)) ?? []),
      );
      const verifications = await planEach(
        policies,
        ([kind, p]) => refOf(p, kind),
        ([kind, p]) => {
          if (!p.spec.verification) return [];
          const ns = p.metadata.namespace ?? 'default';
          const own = restores.filter(
            (r) =>
              (r.metadata.namespace ?? 'default') === ns &&
              r.metadata.labels?.[Labels.policy] === p.metadata.name,
          );
          const mine = byPolicy.get(groupKey(p.metadata.namespace, kind, p.metadata.name)) ?? [];
          return decideVerification(kind, p, mine, own, false);
        },
      );
      const now = deps.clock.now();
      const recorded = await planEach(
        unrecordedVerifications(restores, backups),
        (r) => refOf(r, 'Restore'),
        (r) => {
          const b = backups.find(
            (x) => x.metadata.namespace === r.metadata.namespace && x.metadata.name === r.spec.backupRef.name,
          );
          return decideVerified(r, b, now)?.plan ?? [];
        },
      );
      // The tick answers with no event: each finished run's own event carries it.
      return outcomeOfParts([...outcomes, ...derived, ...verifications, ...recorded]);
    }
    default:
      throw new InvalidEvent(`type: ${NAME} does not handle ${String(event.type)} events`, 'type');
  }
};

export const handle = makeHandle(NAME, plan);
