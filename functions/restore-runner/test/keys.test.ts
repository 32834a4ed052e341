/**
 * What restore-runner and job-launcher hand the agent to protect artifacts (issue 15 items 4, 5):
 * the digest a restore checks comes from the Backup in the API, and the keys reach the pod only as
 * secretKeyRefs — a backup gets the age recipient (a public key), never the identity.
 */
import test from 'ava';
import { parseAgentArgs } from '../../../shared/agent-contract.ts';
import type { Restore } from '../../../shared/api/index.ts';
import type { Action } from '../../../shared/plan.ts';
import { backup, databaseBackup } from '../../../test/builders.ts';
import { decide as launch } from '../../job-launcher/decide.ts';
import { decide, type RestoreState } from '../decide.ts';

const now = new Date('2025-03-21T10:00:00Z');
const SHA = 'c'.repeat(64);
const encryption = {
  recipientSecretRef: { name: 'age-keys', key: 'recipient' },
  identitySecretRef: { name: 'age-keys', key: 'identity' },
};
const signing = { keySecretRef: { name: 'signing', key: 'signing-key' } };
const policy = databaseBackup('pg-nightly', { encryption, signing });

function restore(spec: Partial<Restore['spec']> = {}): Restore {
  return {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'r1', namespace: 'default', uid: 'uid-r1' },
    spec: {
      backupRef: { name: 'pg-1' },
      target: { database: { host: 'pg', name: 'copy', passwordSecretRef: { name: 'pg', key: 'password' } } },
      ...spec,
    },
  };
}
function state(
  over: Partial<RestoreState> = {},
  status: Record<string, unknown> = { sha256: SHA },
): RestoreState {
  return {
    restore: restore(),
    backup: backup(
      'pg-1',
      { kind: 'DatabaseBackup', name: 'pg-nightly' },
      { phase: 'Completed', manifestKey: 'pg/pg-nightly/20250320T010000Z.manifest.json', ...status },
    ),
    policy,
    claims: {},
    ...over,
  };
}
// biome-ignore lint/suspicious/noExplicitAny: reaching into the Job in assertions.
const podOf = (plan: Action[]): any => {
  const c = plan.find((a) => a.type === 'create');
  return c?.type === 'create' ? c.object.spec.template.spec : undefined;
};
const envOf = (pod: { containers: { env: { name: string; valueFrom?: unknown }[] }[] }) =>
  Object.fromEntries(pod.containers[0]?.env.map((e) => [e.name, e.valueFrom]) ?? []);

test("a restore checks the Backup's status.sha256 and gets the identity and signing key as secretKeyRefs", (t) => {
  const pod = podOf(decide(state(), now));
  t.like(parseAgentArgs(pod.containers[0].args), { command: 'restore', expectSha256: SHA });
  t.false('allowUnauthenticated' in parseAgentArgs(pod.containers[0].args));
  const env = envOf(pod);
  t.deepEqual(env.CAIRN_AGE_IDENTITY, { secretKeyRef: { name: 'age-keys', key: 'identity' } });
  t.deepEqual(env.CAIRN_SIGNING_KEY, { secretKeyRef: { name: 'signing', key: 'signing-key' } });
  t.false('CAIRN_AGE_RECIPIENT' in env);
  t.false(JSON.stringify(pod).includes('AGE-SECRET-KEY'), 'no key material in the Job');
});

test('a Backup without a sha256 is refused unless the Restore allows unauthenticated artifacts', (t) => {
  const refused = decide(state({}, {}), now);
  t.deepEqual(
    refused.map((a) => a.type),
    ['status', 'event'],
  );
  const s = refused[0];
  t.regex(s?.type === 'status' ? String(s.set.message) : '', /records no sha256.*allowUnauthenticated/);
  const allowed = podOf(decide(state({ restore: restore({ allowUnauthenticated: true }) }, {}), now));
  const opts = parseAgentArgs(allowed.containers[0].args);
  t.like(opts, { allowUnauthenticated: true });
  t.false('expectSha256' in opts);
});

test("a Restore's own keys win over the policy's (a rotated or moved Secret)", (t) => {
  const pod = podOf(
    decide(
      state({
        restore: restore({
          encryption: { passphraseSecretRef: { name: 'old-pass', key: 'passphrase' } },
          signing: { keySecretRef: { name: 'old-signing', key: 'k' } },
        }),
      }),
      now,
    ),
  );
  const env = envOf(pod);
  t.deepEqual(env.CAIRN_AGE_PASSPHRASE, { secretKeyRef: { name: 'old-pass', key: 'passphrase' } });
  t.false('CAIRN_AGE_IDENTITY' in env);
  t.deepEqual(env.CAIRN_SIGNING_KEY, { secretKeyRef: { name: 'old-signing', key: 'k' } });
});

test('a backup Job of an encrypting policy gets --encryption age and the recipient, never the identity', (t) => {
  const plan = launch(
    {
      backup: backup('pg-nightly-202503200100', { kind: 'DatabaseBackup', name: 'pg-nightly' }),
      policy,
      endpoints: [],
      claims: {},
      selectedClaims: [],
    },
    now,
  );
  const c = plan.find((a) => a.type === 'create');
  const pod = c?.type === 'create' ? c.object.spec.template.spec : undefined;
  t.like(parseAgentArgs(pod.containers[0].args), { command: 'backup', encryption: 'age' });
  const env = envOf(pod);
  t.deepEqual(env.CAIRN_AGE_RECIPIENT, { secretKeyRef: { name: 'age-keys', key: 'recipient' } });
  t.deepEqual(env.CAIRN_SIGNING_KEY, { secretKeyRef: { name: 'signing', key: 'signing-key' } });
  t.false('CAIRN_AGE_IDENTITY' in env);

  const plain = launch(
    {
      backup: backup('pg-nightly-202503200100', { kind: 'DatabaseBackup', name: 'pg-nightly' }),
      policy: databaseBackup(),
      endpoints: [],
      claims: {},
      selectedClaims: [],
    },
    now,
  );
  const pc = plain.find((a) => a.type === 'create');
  const plainPod = pc?.type === 'create' ? pc.object.spec.template.spec : undefined;
  t.false('encryption' in parseAgentArgs(plainPod.containers[0].args));
});
