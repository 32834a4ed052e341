/**
 * Event-order properties (issue 9): for random schedules and histories, the functions' events are
 * delivered duplicated, reordered, delayed and partly dropped — with the minute tick still
 * running — and the final state must be the one in-order delivery gives; no Backup is created twice
 * for one scheduled time and no Job twice for one Backup. The real planners, decide functions and
 * applyPlan run against an in-memory API (world.ts), so each property affords 1,000 runs.
 */
import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { type Chaos, type PolicyScenario, type Scenario, simulate } from './simulate.ts';
import type { World } from './world.ts';

const RUNS = 1000;

/**
 * Schedules whose runs are at least GAP minutes apart. Whether a run overlaps the previous one
 * (concurrencyPolicy Forbid/Replace) depends on timing, and a lost event legitimately costs up to a
 * minute per hop (Backup → Job → result) until the tick catches up; runs further apart than that
 * lag must end the same whatever the delivery.
 */
const GAP = 5;
const schedule = fc.oneof(
  fc.integer({ min: GAP, max: 10 }).map((k) => `*/${k} * * * *`),
  fc.integer({ min: 0, max: 20 }).map((m) => `${m} * * * *`),
  fc
    .tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: GAP, max: 12 }))
    .map(([m, g]) => `${m},${m + g} * * * *`),
);

/** The Backups of each policy were created (by the in-order run) at least GAP minutes apart. */
function runsApart(world: World): boolean {
  const times = new Map<string, number[]>();
  for (const w of world.writes) {
    if (w.verb !== 'create' || w.kind !== 'Backup' || !w.created) continue;
    const policy = w.name.replace(/-\d{12}$/, '');
    times.set(policy, [...(times.get(policy) ?? []), w.at]);
  }
  for (const list of times.values()) {
    for (let i = 1; i < list.length; i++)
      if ((list[i] as number) - (list[i - 1] as number) < GAP * 60_000) return false;
  }
  return true;
}

const policy = (name: string): fc.Arbitrary<PolicyScenario> =>
  fc.record(
    {
      name: fc.constant(name),
      schedule,
      concurrencyPolicy: fc.constantFrom('Forbid' as const, 'Allow' as const, 'Replace' as const),
      keepLast: fc.integer({ min: 1, max: 3 }),
      change: fc.record({ minute: fc.integer({ min: 1, max: 12 }), schedule }),
    },
    { requiredKeys: ['name', 'schedule', 'concurrencyPolicy'] },
  );

const scenario: fc.Arbitrary<Scenario> = fc.record({
  policies: fc.oneof(
    { weight: 3, arbitrary: policy('alpha').map((p) => [p]) },
    { weight: 1, arbitrary: fc.tuple(policy('alpha'), policy('beta')) },
  ),
  minutes: fc.integer({ min: 6, max: 16 }),
  failSeed: fc.integer({ min: 0, max: 1000 }),
});

const chaos = (crash: boolean): fc.Arbitrary<Chaos> =>
  fc.record({
    seed: fc.integer(),
    drop: fc.double({ min: 0, max: 0.4, noNaN: true }),
    duplicate: fc.double({ min: 0, max: 0.4, noNaN: true }),
    delay: fc.double({ min: 0, max: 0.4, noNaN: true }),
    crash: crash ? fc.double({ min: 0.05, max: 0.4, noNaN: true }) : fc.constant(0),
  });

/** Names created more than once (a create that met AlreadyExists does not count). */
function createdTwice(world: World, kind: string): string[] {
  const seen = new Map<string, number>();
  for (const w of world.writes)
    if (w.verb === 'create' && w.kind === kind && w.created)
      seen.set(`${w.namespace}/${w.name}`, (seen.get(`${w.namespace}/${w.name}`) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
}

test('duplicated, reordered, delayed and dropped events end in the state in-order delivery gives', async (t) => {
  await fc.assert(
    fc.asyncProperty(scenario, chaos(false), async (sc, ch) => {
      const reference = await simulate(sc);
      fc.pre(runsApart(reference.world));
      const chaotic = await simulate(sc, ch);
      assert.deepEqual(reference.errors, []);
      assert.deepEqual(chaotic.errors, []);
      assert.deepEqual(chaotic.state, reference.state);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('with functions crashing mid-plan as well, no Backup is created twice for one scheduled time, no Job twice for one Backup, and nothing stays running', async (t) => {
  await fc.assert(
    fc.asyncProperty(scenario, chaos(true), async (sc, ch) => {
      const reference = await simulate(sc);
      fc.pre(runsApart(reference.world));
      const chaotic = await simulate(sc, ch);
      assert.deepEqual(chaotic.errors, []);
      assert.deepEqual(createdTwice(chaotic.world, 'Backup'), []);
      assert.deepEqual(createdTwice(chaotic.world, 'Job'), []);
      const open = chaotic.world
        .all('Backup')
        .filter((b) => b.status?.phase !== 'Completed' && b.status?.phase !== 'Failed');
      assert.deepEqual(
        open.map((b) => `${b.metadata.name}:${b.status?.phase}`),
        [],
      );
      assert.deepEqual(chaotic.state, reference.state);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});
