/**
 * metadata.managedFields and server-side apply (issue 18, item 5), checked against oracles no one
 * here wrote:
 *
 * - FieldsV1 encoding: TestSerializeV1GoldenData and TestDropUnknown of
 *   kubernetes-sigs/structured-merge-diff (fieldpath/serialize_test.go): the golden sets read and
 *   written back byte for byte.
 * - Ownership: TestUpdateLeaf of the same repository (merge/leaf_test.go), its single-version
 *   cases, run through the emulator's own write path with the leaf fields under `spec` of a CRD.
 * - The real kubectl: `apply --server-side`, a conflict with another manager, `--force-conflicts`.
 */
import test from 'ava';
import { createObjectService } from '../../local/apiserver/bootstrap.ts';
import { StatusError } from '../../local/apiserver/errors.ts';
import { fromFieldsV1, toFieldsV1 } from '../../local/apiserver/managed-fields.ts';
import type { ObjectService } from '../../local/apiserver/objects.ts';
import type { KubeObject, ResourceType } from '../../local/apiserver/types.ts';
import { systemClock } from '../../shared/clock.ts';
import { type Emulator, startEmulator } from './apiserver-helpers.ts';

const golden = [
  `{"f:aaa":{},"f:aab":{},"f:aac":{},"f:aad":{},"f:aae":{},"f:aaf":{},"k:{\\"name\\":\\"first\\"}":{},"k:{\\"name\\":\\"second\\"}":{},"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{},"k:{\\"port\\":443,\\"protocol\\":\\"udp\\"}":{},"v:1":{},"v:2":{},"v:3":{},"v:\\"aa\\"":{},"v:\\"ab\\"":{},"v:true":{},"i:1":{},"i:2":{},"i:3":{},"i:4":{}}`,
  `{"f:aaa":{"k:{\\"name\\":\\"second\\"}":{"v:3":{"f:aab":{}}},"v:3":{},"v:true":{}},"f:aab":{"f:aaa":{},"f:aaf":{"k:{\\"port\\":443,\\"protocol\\":\\"udp\\"}":{"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{}}},"k:{\\"name\\":\\"first\\"}":{}},"f:aac":{"f:aaa":{"v:1":{}},"f:aac":{},"v:3":{"k:{\\"name\\":\\"second\\"}":{}}},"f:aad":{"f:aac":{"v:1":{}},"f:aaf":{"k:{\\"name\\":\\"first\\"}":{"k:{\\"name\\":\\"first\\"}":{}}},"i:1":{"i:1":{},"i:3":{"v:true":{}}}},"f:aae":{"f:aae":{},"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{"k:{\\"port\\":443,\\"protocol\\":\\"udp\\"}":{}},"i:4":{"f:aaf":{}}},"f:aaf":{"i:1":{"f:aac":{}},"i:2":{},"i:3":{}},"k:{\\"name\\":\\"first\\"}":{"f:aad":{"f:aaf":{}}},"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{"f:aaa":{"f:aad":{}}},"k:{\\"port\\":443,\\"protocol\\":\\"udp\\"}":{"f:aac":{},"k:{\\"name\\":\\"first\\"}":{"i:3":{}},"k:{\\"port\\":443,\\"protocol\\":\\"udp\\"}":{"i:4":{}}},"v:1":{"f:aac":{"i:4":{}},"f:aaf":{},"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{}},"v:2":{"f:aad":{"f:aaf":{}},"i:1":{}},"v:3":{"f:aaa":{},"k:{\\"name\\":\\"first\\"}":{},"i:2":{}},"v:\\"aa\\"":{"f:aab":{"f:aaf":{}},"f:aae":{},"k:{\\"name\\":\\"first\\"}":{"f:aad":{}},"i:2":{}},"v:\\"ab\\"":{"f:aaf":{"i:4":{}},"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{},"k:{\\"port\\":443,\\"protocol\\":\\"udp\\"}":{},"v:1":{"k:{\\"port\\":443,\\"protocol\\":\\"udp\\"}":{}},"i:1":{"f:aae":{"i:4":{}}}},"v:true":{"k:{\\"name\\":\\"second\\"}":{"f:aaa":{}},"i:2":{"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{}}},"i:1":{"i:3":{"f:aaf":{}}},"i:2":{"f:aae":{},"k:{\\"port\\":443,\\"protocol\\":\\"tcp\\"}":{"v:1":{}}},"i:3":{"f:aab":{"v:true":{"v:\\"aa\\"":{}}},"f:aaf":{},"i:1":{}},"i:4":{"v:\\"aa\\"":{"f:aab":{"k:{\\"name\\":\\"second\\"}":{}}}}}`,
];

golden.forEach((str, i) => {
  test(`FieldsV1 golden set ${i} reads and writes back byte for byte (TestSerializeV1GoldenData)`, (t) => {
    t.is(JSON.stringify(toFieldsV1(fromFieldsV1(JSON.parse(str)))), str);
  });
});

test('FieldsV1: unknown element kinds are dropped (TestDropUnknown)', (t) => {
  t.is(JSON.stringify(toFieldsV1(fromFieldsV1(JSON.parse('{"f:aaa":{},"r:aab":{}}')))), '{"f:aaa":{}}');
});

test('FieldsV1: a member with members under it is marked with "."', (t) => {
  const set = fromFieldsV1({ 'f:data': { '.': {}, 'f:a': {} }, 'f:metadata': { 'f:labels': { 'f:x': {} } } });
  t.deepEqual([...set].sort(), ['f:data', 'f:data\nf:a', 'f:metadata\nf:labels\nf:x']);
  t.is(JSON.stringify(toFieldsV1(set)), '{"f:data":{".":{},"f:a":{}},"f:metadata":{"f:labels":{"f:x":{}}}}');
});

// merge/leaf_test.go, TestUpdateLeaf: the leafFields type (numeric, string, bool) as a CRD's spec.
const leafCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'leaves.smd.test' },
  spec: {
    group: 'smd.test',
    scope: 'Namespaced',
    names: { kind: 'Leaf', plural: 'leaves', singular: 'leaf', listKind: 'LeafList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: {
                  numeric: { type: 'integer' },
                  string: { type: 'string' },
                  bool: { type: 'boolean' },
                },
              },
            },
          },
        },
      },
    ],
  },
};

type Leaf = { numeric?: number; string?: string; bool?: boolean };
type Op =
  | { apply: string; spec: Leaf; force?: boolean; conflicts?: [manager: string, field: string][] }
  | { update: string; spec: Leaf };
interface Case {
  ops: Op[];
  object: Leaf;
  managed: Record<string, (keyof Leaf)[]>;
}

const cases: Record<string, Case> = {
  apply_twice: {
    ops: [
      { apply: 'default', spec: { numeric: 1, string: 'string' } },
      { apply: 'default', spec: { numeric: 2, string: 'string', bool: false } },
    ],
    object: { numeric: 2, string: 'string', bool: false },
    managed: { default: ['numeric', 'string', 'bool'] },
  },
  apply_update_apply_no_conflict: {
    ops: [
      { apply: 'default', spec: { numeric: 1, string: 'string' } },
      { update: 'controller', spec: { numeric: 1, string: 'string', bool: true } },
      { apply: 'default', spec: { numeric: 2, string: 'string' } },
    ],
    object: { numeric: 2, string: 'string', bool: true },
    managed: { default: ['numeric', 'string'], controller: ['bool'] },
  },
  apply_update_apply_with_conflict: {
    ops: [
      { apply: 'default', spec: { numeric: 1, string: 'string' } },
      { update: 'controller', spec: { numeric: 1, string: 'controller string', bool: true } },
      {
        apply: 'default',
        spec: { numeric: 2, string: 'user string' },
        conflicts: [['controller', '.spec.string']],
      },
      { apply: 'default', spec: { numeric: 2, string: 'user string' }, force: true },
    ],
    object: { numeric: 2, string: 'user string', bool: true },
    managed: { default: ['numeric', 'string'], controller: ['bool'] },
  },
  apply_twice_remove: {
    ops: [
      { apply: 'default', spec: { numeric: 1, string: 'string', bool: false } },
      { apply: 'default', spec: { string: 'new string' } },
    ],
    object: { string: 'new string' },
    managed: { default: ['string'] },
  },
  update_apply_omits: {
    ops: [
      { apply: 'default', spec: { numeric: 2 } },
      { update: 'controller', spec: { numeric: 1 } },
      { apply: 'default', spec: {} },
    ],
    object: { numeric: 1 },
    managed: { controller: ['numeric'] },
  },
  update_remove_empty_set: {
    ops: [
      { apply: 'default', spec: { string: 'string' } },
      { update: 'controller', spec: { string: 'new string' } },
    ],
    object: { string: 'new string' },
    managed: { controller: ['string'] },
  },
  apply_remove_empty_set: {
    ops: [
      { apply: 'default', spec: { string: 'string' } },
      { apply: 'default', spec: {} },
    ],
    object: {},
    managed: {},
  },
};

let svc: ObjectService;
let leaves: ResourceType;
test.before(async () => {
  svc = await createObjectService({ clock: systemClock });
  const crds = svc.registry.byResource('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
  await svc.create(crds, undefined, leafCrd, { fieldManager: 'test' });
  leaves = svc.registry.byResource('smd.test', 'v1', 'leaves')!;
});

/** The leaf fields each manager owns (paths under spec). */
function owned(obj: KubeObject): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of (obj.metadata.managedFields ?? []) as { manager: string; fieldsV1: unknown }[]) {
    const leaves = [...fromFieldsV1(e.fieldsV1)]
      .filter((p) => p.startsWith('f:spec\nf:'))
      .map((p) => p.slice('f:spec\nf:'.length))
      .sort();
    if (leaves.length) out[e.manager] = leaves;
  }
  return out;
}

for (const [name, c] of Object.entries(cases)) {
  test(`server-side apply ownership: ${name} (TestUpdateLeaf)`, async (t) => {
    const obj = `leaf-${name.replaceAll('_', '-')}`;
    for (const op of c.ops) {
      if ('apply' in op) {
        const body = {
          apiVersion: 'smd.test/v1',
          kind: 'Leaf',
          metadata: { name: obj },
          ...(Object.keys(op.spec).length ? { spec: op.spec } : {}),
        };
        const run = svc.patch(leaves, 'default', obj, 'apply', body, {
          fieldManager: op.apply,
          force: op.force === true,
        });
        if (op.conflicts) {
          const e = await t.throwsAsync(run, { instanceOf: StatusError });
          t.is(e?.code, 409);
          t.deepEqual(
            (e?.details?.causes ?? []).map((x) => [x.message, x.field]),
            op.conflicts.map(([m, f]) => [`conflict with "${m}" using smd.test/v1`, f]),
          );
        } else await run;
      } else {
        const cur = svc.get(leaves, 'default', obj);
        await svc.update(leaves, 'default', obj, { ...cur, spec: op.spec }, { fieldManager: op.update });
      }
    }
    const got = svc.get(leaves, 'default', obj);
    t.deepEqual(got.spec ?? {}, c.object);
    const want = Object.fromEntries(Object.entries(c.managed).map(([m, f]) => [m, [...f].sort()]));
    t.deepEqual(owned(got), want);
  });
}

let emu: Emulator;
test.before(async () => {
  emu = await startEmulator();
});
test.after.always(async () => {
  await emu?.close();
});

test('kubectl apply --server-side: managed fields, a conflict with another manager, --force-conflicts', async (t) => {
  const cm = (value: string) => `apiVersion: v1
kind: ConfigMap
metadata: {name: ssa, namespace: default}
data: {mode: ${value}, kept: "yes"}
`;
  const first = await emu.kubectl(['apply', '--server-side', '-f', '-'], cm('fast'));
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /configmap\/ssa serverside-applied/);
  const patched = await emu.kubectl([
    'patch',
    'configmap',
    'ssa',
    '--type=merge',
    '-p',
    '{"data":{"mode":"slow"}}',
  ]);
  t.is(patched.code, 0, patched.stderr);
  const yaml = await emu.kubectl(['get', 'configmap', 'ssa', '-o', 'json', '--show-managed-fields']);
  const managers = (
    JSON.parse(yaml.stdout).metadata.managedFields as { manager: string; operation: string }[]
  ).map((m) => `${m.manager}/${m.operation}`);
  t.deepEqual(managers, ['kubectl/Apply', 'kubectl-patch/Update']);
  const conflict = await emu.kubectl(['apply', '--server-side', '-f', '-'], cm('fast'));
  t.not(conflict.code, 0);
  t.regex(conflict.stderr, /conflict with "kubectl-patch" using v1: \.data\.mode/);
  const forced = await emu.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], cm('fast'));
  t.is(forced.code, 0, forced.stderr);
  const after = JSON.parse((await emu.kubectl(['get', 'configmap', 'ssa', '-o', 'json'])).stdout);
  t.deepEqual(after.data, { mode: 'fast', kept: 'yes' });
  t.is(after.metadata.managedFields, undefined, 'kubectl get hides managedFields unless asked');
});
