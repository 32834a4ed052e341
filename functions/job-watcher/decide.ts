/**
 * job-watcher's one decision, pure: from everything gather read (gather.ts), the plan — the run's
 * outcome (outcome.ts), its policy's status (policy-status.ts), verification (verification.ts) —
 * and the CloudEvent to reply with.
 */
import type { Backup, Restore } from '../../shared/api/index.ts';
import type { Part } from '../../shared/function.ts';
import type { Action, Plan } from '../../shared/plan.ts';
import { refOf } from '../../shared/plan.ts';
import { groupKey } from '../../shared/policy.ts';
import { isVerification } from '../../shared/verification.ts';
import type { EventState, PolicyState, RunState, TickState, UnreadRun } from './gather.ts';
import { decideRun, type Reply } from './outcome.ts';
import { decidePolicy, runEventsOnPolicy } from './policy-status.ts';
import { decideVerification, decideVerified, unrecordedVerifications } from './verification.ts';

export interface EventDecision {
  plan: Plan;
  /** The dev.cairn.* event to reply with, when this event finished a run. */
  reply?: Reply;
}

const replaced = (backups: readonly Backup[], updated: Backup) =>
  backups.map((b) => (b.metadata.name === updated.metadata.name ? updated : b));

/** A run decided, its own status apart: `before` goes first, then `own`, then `after`. */
interface RunPlan {
  before: Action[];
  own: Action[];
  after: Action[];
  updated: Backup | Restore;
  reply?: Reply;
}

/** The run's outcome; for a verification Restore that finishes, what it means for its Backup. */
function decideOne(run: RunState, verifiedBackup: Backup | undefined, now: Date): RunPlan {
  const d = decideRun(run.kind, run.run, run, now, run.jobDeleted);
  const r: RunPlan = {
    before: [],
    own: d.plan.filter((a) => a.type === 'status'),
    after: d.plan.filter((a) => a.type !== 'status'),
    updated: d.updated,
    ...(d.reply ? { reply: d.reply } : {}),
  };
  if (run.kind === 'Restore' && d.reply && isVerification(run.run as Restore)) {
    // A verification's answer is about the Backup: its Verified condition, the policy's
    // lastVerification, and dev.cairn.backup.verified / .verification.failed.
    const v = decideVerified(d.updated as Restore, verifiedBackup, now);
    if (v) {
      r.before.push(...v.plan.filter((a) => a.type === 'status'));
      r.after.push(...v.plan.filter((a) => a.type !== 'status'));
      r.reply = v.reply;
    }
  }
  return r;
}

/** A run with its policy's activeDeadlineSeconds, which a snapshot run (no Job) is held to. */
function withDeadline(run: RunState, policy: PolicyState | undefined): RunState {
  const deadline = policy?.policy.spec.activeDeadlineSeconds;
  return deadline === undefined ? run : { ...run, deadlineSeconds: deadline };
}

/**
 * An event about one Job or Pod. The run's own status write is what makes it finished: once it is
 * stored, a redelivery of the same event decides nothing and replies nothing. So the other status
 * writes the event brings about (the policy's status, a verification's Verified condition and
 * lastVerification) go before it, and only what needs the run finished (its Events, a
 * verification Restore) after it: a failure before that write fails the delivery, and the
 * redelivery does all of it again, reply included.
 */
export function decideEvent(state: EventState, now: Date): EventDecision {
  const { policy } = state;
  if (!state.run) return { plan: policy ? decidePolicy(policy.kind, policy.policy, policy.backups) : [] };
  const run = withDeadline(state.run, policy);
  const d = decideOne(run, state.verifiedBackup, now);
  if (run.kind === 'Backup' && policy) {
    const merged = replaced(policy.backups, d.updated as Backup);
    d.before.push(...decidePolicy(policy.kind, policy.policy, merged));
    d.after.push(...runEventsOnPolicy(d.after, policy.kind, policy.policy));
    if (d.reply && d.updated.status?.phase === 'Completed' && policy.policy.spec.verification)
      d.after.push(...decideVerification(policy.kind, policy.policy, merged, policy.restores));
  }
  return { plan: [...d.before, ...d.own, ...d.after], ...(d.reply ? { reply: d.reply } : {}) };
}

const isUnread = (r: RunState | UnreadRun): r is UnreadRun => 'error' in r;

/**
 * The tick: each open run is decided again from its Job (so a lost event costs a minute), every
 * policy's status is derived again from its Backups as they will be, due verifications start, and
 * finished verifications not yet recorded on their Backup are. One part per object, so one that
 * cannot be handled stops no other; the tick replies nothing (each finished run's event does).
 */
export function decideTick(state: TickState, now: Date): Part[] {
  const parts: Part[] = [];
  const policyOf = new Map(
    state.policies.map((p) => [groupKey(p.policy.metadata.namespace, p.kind, p.policy.metadata.name), p]),
  );
  // Backups by namespace and name: what a Restore refers to, and what a decision updated.
  const named = (namespace: string | undefined, name: string) => `${namespace ?? 'default'}/${name}`;
  const backupNamed = new Map(state.backups.map((b) => [named(b.metadata.namespace, b.metadata.name), b]));
  const backupOf = (x: Restore) => backupNamed.get(named(x.metadata.namespace, x.spec.backupRef.name));
  const updated = new Map<string, Backup>();
  const completedNow = new Set<string>();
  for (const r of state.runs) {
    const about = refOf(r.run, r.kind);
    if (isUnread(r)) {
      parts.push({ about, plan: [], error: r.error });
      continue;
    }
    const ref = r.kind === 'Backup' ? (r.run as Backup).spec.policyRef : undefined;
    const p = ref ? policyOf.get(groupKey(r.run.metadata.namespace, ref.kind, ref.name)) : undefined;
    const d = decideOne(
      withDeadline(r, p),
      r.kind === 'Restore' ? backupOf(r.run as Restore) : undefined,
      now,
    );
    if (p) d.after.push(...runEventsOnPolicy(d.after, p.kind, p.policy));
    parts.push({ about, plan: [...d.before, ...d.own, ...d.after] });
    if (r.kind !== 'Backup') continue;
    const b = d.updated as Backup;
    updated.set(named(b.metadata.namespace, b.metadata.name), b);
    if (d.reply && b.status?.phase === 'Completed')
      completedNow.add(groupKey(b.metadata.namespace, b.spec.policyRef.kind, b.spec.policyRef.name));
  }
  const asWillBe = (p: PolicyState): Backup[] =>
    p.backups.map((b) => updated.get(named(b.metadata.namespace, b.metadata.name)) ?? b);
  for (const p of state.policies) {
    const about = refOf(p.policy, p.kind);
    const backups = asWillBe(p);
    const plan: Action[] = [...decidePolicy(p.kind, p.policy, backups)];
    if (p.policy.spec.verification) {
      // Say why a due verification cannot start only when a backup completed now, not every tick.
      const announce = completedNow.has(
        groupKey(p.policy.metadata.namespace, p.kind, p.policy.metadata.name),
      );
      plan.push(...decideVerification(p.kind, p.policy, backups, p.restores, announce));
    }
    if (plan.length > 0) parts.push({ about, plan });
  }
  for (const r of unrecordedVerifications(state.restores, state.backups)) {
    const plan = decideVerified(r, backupOf(r), now)?.plan ?? [];
    if (plan.length > 0) parts.push({ about: refOf(r, 'Restore'), plan });
  }
  return parts;
}
