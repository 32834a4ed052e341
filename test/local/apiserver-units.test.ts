/**
 * The emulator's parts on their own: selectors, patches, schema validation wording, defaults and
 * pruning, CEL rules, and garbage collection.
 */
import test from 'ava';
import { fieldErrorText, StatusError } from '../../local/apiserver/errors.ts';
import { builtinPatchMeta, mergePatch, strategicMerge } from '../../local/apiserver/patch.ts';
import { validateCel } from '../../local/apiserver/schema/cel.ts';
import { pruneAndDefault } from '../../local/apiserver/schema/structural.ts';
import { validateSchema } from '../../local/apiserver/schema/validate.ts';
import {
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
} from '../../local/apiserver/selectors.ts';
import { humanDuration } from '../../local/apiserver/table.ts';
import type { Schema } from '../../local/apiserver/types.ts';
import { eventually, type JsonAny, startEmulator } from './apiserver-helpers.ts';

test('label selectors: =, ==, !=, in, notin, exists, !exists', (t) => {
  const labels = { app: 'pg', tier: 'gold', 'backup.cairn.dev/policy': 'nightly' };
  const yes = [
    'app=pg',
    'app==pg',
    'app!=mysql',
    'tier in (gold,silver)',
    'tier notin (bronze)',
    'backup.cairn.dev/policy',
    '!missing',
    'app=pg,tier=gold',
    'missing!=x',
  ];
  const no = [
    'app=mysql',
    'app!=pg',
    'tier in (silver)',
    'tier notin (gold, bronze)',
    'missing',
    '!app',
    'app=pg,tier=silver',
    'missing in (x)',
  ];
  for (const s of yes) t.true(matchLabels(parseLabelSelector(s), labels), s);
  for (const s of no) t.false(matchLabels(parseLabelSelector(s), labels), s);
  t.true(matchLabels(parseLabelSelector(''), undefined));
  const err = t.throws(() => parseLabelSelector('app=Not Valid!'));
  t.true(err instanceof StatusError && err.code === 400);
});

test('field selectors: =, ==, != with escapes', (t) => {
  const fields: Record<string, string> = { 'metadata.name': 'a,b', 'status.phase': 'Running' };
  const get = (f: string) => fields[f];
  t.true(matchFields(parseFieldSelector('metadata.name=a\\,b'), get));
  t.true(matchFields(parseFieldSelector('status.phase==Running,metadata.name!=c'), get));
  t.false(matchFields(parseFieldSelector('status.phase!=Running'), get));
  t.deepEqual(parseFieldSelector('involvedObject.name=x,involvedObject.uid=1-2'), [
    { field: 'involvedObject.name', op: '=', value: 'x' },
    { field: 'involvedObject.uid', op: '=', value: '1-2' },
  ]);
});

test('merge patch follows RFC 7386', (t) => {
  t.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { a: null, b: { c: 4 }, l: [3] }), {
    b: { c: 4, d: 3 },
    l: [3],
  });
});

test('strategic merge patch: keyed lists, $patch delete/replace, $setElementOrder, $retainKeys, primitive sets', (t) => {
  const pod = {
    metadata: { labels: { app: 'one' }, finalizers: ['a', 'b'] },
    spec: {
      containers: [
        { name: 'a', image: 'x:1', env: [{ name: 'E', value: '1' }] },
        { name: 'b', image: 'y:1' },
      ],
      volumes: [{ name: 'v', emptyDir: {} }],
      tolerations: [{ key: 'k' }],
    },
  };
  const out = strategicMerge(
    pod,
    {
      metadata: { labels: { app: 'two' }, finalizers: ['c'], '$deleteFromPrimitiveList/finalizers': ['a'] },
      spec: {
        '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }, { name: 'c' }],
        containers: [
          { name: 'a', env: [{ name: 'F', value: '2' }] },
          { name: 'c', image: 'z:1' },
        ],
        volumes: [{ name: 'v', $patch: 'delete' }],
        tolerations: [{ key: 'other' }],
      },
    },
    builtinPatchMeta,
  ) as JsonAny;
  t.deepEqual(out.metadata, { labels: { app: 'two' }, finalizers: ['b', 'c'] });
  t.deepEqual(
    out.spec.containers.map((c: JsonAny) => c.name),
    ['b', 'a', 'c'],
  );
  t.deepEqual(out.spec.containers[1].env, [
    { name: 'E', value: '1' },
    { name: 'F', value: '2' },
  ]);
  t.is(out.spec.containers[1].image, 'x:1');
  t.deepEqual(out.spec.volumes, []);
  t.deepEqual(out.spec.tolerations, [{ key: 'other' }], 'lists without a merge key are replaced');
  const replaced = strategicMerge(
    { spec: { a: 1, b: 2 } },
    { spec: { $patch: 'replace', c: 3 } },
    builtinPatchMeta,
  );
  t.deepEqual(replaced, { spec: { c: 3 } });
  const retained = strategicMerge(
    { s: { a: 1, b: 2 } },
    { s: { $retainKeys: ['b', 'c'], c: 3 } },
    builtinPatchMeta,
  );
  t.deepEqual(retained, { s: { b: 2, c: 3 } });
});

const schema: Schema = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['schedule', 'storageDestination'],
      properties: {
        schedule: { type: 'string', minLength: 1 },
        concurrencyPolicy: { type: 'string', enum: ['Forbid', 'Allow', 'Replace'], default: 'Forbid' },
        retentionCount: { type: 'integer', minimum: 1, maximum: 100 },
        port: { 'x-kubernetes-int-or-string': true },
        bucketName: { type: 'string', maxLength: 5, pattern: '^[a-z]+$' },
        tags: { type: 'array', maxItems: 2, items: { type: 'string' } },
        storageDestination: {
          type: 'object',
          required: ['bucket'],
          properties: { bucket: { type: 'string' }, type: { type: 'string', default: 's3' } },
        },
        free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        nullable: { type: 'string', nullable: true },
      },
    },
  },
};

const messages = (obj: unknown) => validateSchema(obj, schema).map(fieldErrorText);

test('schema errors are worded as kube-apiserver words them', (t) => {
  t.deepEqual(messages({ spec: { schedule: 'x', storageDestination: {} } }), [
    'spec.storageDestination.bucket: Required value',
  ]);
  t.deepEqual(
    messages({
      spec: { schedule: 'x', storageDestination: { bucket: 'b' }, concurrencyPolicy: 'Sometimes' },
    }),
    [
      'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Forbid", "Allow", "Replace"',
    ],
  );
  t.deepEqual(
    messages({ spec: { schedule: 'x', storageDestination: { bucket: 'b' }, retentionCount: 'seven' } }),
    [
      'spec.retentionCount: Invalid value: "string": spec.retentionCount in body must be of type integer: "string"',
    ],
  );
  t.deepEqual(messages({ spec: { schedule: 'x', storageDestination: { bucket: 'b' }, retentionCount: 0 } }), [
    'spec.retentionCount: Invalid value: 0: spec.retentionCount in body should be greater than or equal to 1',
  ]);
  t.deepEqual(messages({ spec: { schedule: '', storageDestination: { bucket: 'b' } } }), [
    'spec.schedule: Invalid value: "": spec.schedule in body should be at least 1 chars long',
  ]);
  t.deepEqual(
    messages({ spec: { schedule: 'x', storageDestination: { bucket: 'b' }, bucketName: 'ABCDEFG' } }),
    [
      'spec.bucketName: Too long: may not be more than 5 bytes',
      'spec.bucketName: Invalid value: "ABCDEFG": spec.bucketName in body should match \'^[a-z]+$\'',
    ],
  );
  t.deepEqual(
    messages({ spec: { schedule: 'x', storageDestination: { bucket: 'b' }, tags: ['a', 'b', 'c'] } }),
    ['spec.tags: Too many: 3: must have at most 2 items'],
  );
  t.deepEqual(messages({ spec: { schedule: 'x', storageDestination: { bucket: 'b' }, port: 8080 } }), []);
  t.deepEqual(messages({ spec: { schedule: 'x', storageDestination: { bucket: 'b' }, port: 'http' } }), []);
  t.deepEqual(
    messages({ spec: { schedule: 'x', storageDestination: { bucket: 'b' }, port: true } }).length,
    1,
  );
  t.deepEqual(messages({ spec: { schedule: 'x', storageDestination: { bucket: 'b' }, nullable: null } }), []);
});

test('pruning drops unknown fields (except where preserved), defaults fill in, nulls of non-nullable fields go', (t) => {
  const obj: JsonAny = {
    apiVersion: 'x/v1',
    kind: 'X',
    spec: {
      schedule: 'x',
      storageDestination: { bucket: 'b' },
      extra: 1,
      free: { any: { thing: true } },
      retentionCount: null,
      nullable: null,
    },
    other: 2,
  };
  const pruned = pruneAndDefault(obj, schema);
  t.deepEqual(pruned.sort(), ['other', 'spec.extra']);
  t.deepEqual(obj, {
    apiVersion: 'x/v1',
    kind: 'X',
    spec: {
      schedule: 'x',
      storageDestination: { bucket: 'b', type: 's3' },
      free: { any: { thing: true } },
      concurrencyPolicy: 'Forbid',
      nullable: null,
    },
  });
});

test('CEL rules: messages, messageExpression, fieldPath, reasons and transition rules with oldSelf', (t) => {
  const s: Schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        'x-kubernetes-validations': [
          {
            rule: 'has(self.database) != has(self.databaseSelector)',
            message: 'exactly one of database or databaseSelector must be set',
          },
          {
            rule: 'self.keep <= 10',
            messageExpression: "'keep must be at most 10, got ' + string(self.keep)",
            fieldPath: '.keep',
          },
          { rule: 'self.type == oldSelf.type', message: 'type is immutable' },
          {
            rule: "self.type != 'pvc' || has(self.claimName)",
            reason: 'FieldValueRequired',
            message: 'claimName is required for pvc',
            fieldPath: '.claimName',
          },
        ],
        properties: {
          keep: { type: 'integer' },
          type: { type: 'string' },
          claimName: { type: 'string' },
          database: { type: 'object' },
          databaseSelector: { type: 'object' },
          items: {
            type: 'array',
            items: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self.startsWith("a")' }] },
          },
        },
      },
    },
  };
  const texts = (obj: unknown, old?: unknown) => validateCel(obj, old, s).map(fieldErrorText);
  t.deepEqual(texts({ spec: { keep: 3, type: 's3', database: {} } }), []);
  t.deepEqual(texts({ spec: { keep: 30, type: 's3', database: {}, databaseSelector: {} } }), [
    'spec: Invalid value: "object": exactly one of database or databaseSelector must be set',
    'spec.keep: Invalid value: "object": keep must be at most 10, got 30',
  ]);
  t.deepEqual(
    texts({ spec: { keep: 1, type: 'gcs', database: {} } }, { spec: { keep: 1, type: 's3', database: {} } }),
    ['spec: Invalid value: "object": type is immutable'],
  );
  t.deepEqual(texts({ spec: { keep: 1, type: 'pvc', database: {} } }), [
    'spec.claimName: Required value: claimName is required for pvc',
  ]);
  t.deepEqual(texts({ spec: { keep: 1, type: 's3', database: {}, items: ['abc', 'bcd'] } }), [
    'spec.items[1]: Invalid value: "string": failed rule: self.startsWith("a")',
  ]);
});

test('humanDuration matches apimachinery', (t) => {
  const s = 1000;
  t.is(humanDuration(5 * s), '5s');
  t.is(humanDuration(150 * s), '2m30s');
  t.is(humanDuration(45 * 60 * s), '45m');
  t.is(humanDuration(5 * 3600 * s + 7 * 60 * s), '5h7m');
  t.is(humanDuration(30 * 3600 * s), '30h');
  t.is(humanDuration(3 * 86400 * s + 3600 * s), '3d1h');
  t.is(humanDuration(40 * 86400 * s), '40d');
});

test('garbage collection: background, orphan, dangling owners, and a dependent with a remaining owner', async (t) => {
  const emu = await startEmulator();
  try {
    const cm = async (name: string, owners: Array<{ name: string; uid: string }> = []) => {
      const r = await emu.call('POST', '/api/v1/namespaces/default/configmaps', {
        metadata: {
          name,
          ownerReferences: owners.map((o) => ({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            name: o.name,
            uid: o.uid,
          })),
        },
      });
      if (r.status !== 201) throw new Error(JSON.stringify(r.body));
      return { name, uid: r.body.metadata.uid as string };
    };
    const exists = async (name: string) =>
      (await emu.call('GET', `/api/v1/namespaces/default/configmaps/${name}`)).status === 200;
    const a = await cm('a');
    const b = await cm('b');
    await cm('child-of-a', [a]);
    await cm('child-of-both', [a, b]);
    const o = await cm('o');
    await cm('child-of-o', [o]);
    await cm('dangling', [{ name: 'ghost', uid: '00000000-0000-0000-0000-000000000000' }]);

    await emu.call('DELETE', '/api/v1/namespaces/default/configmaps/a');
    await eventually(async () => !(await exists('child-of-a')));
    await emu.server.settled();
    const both = await emu.call('GET', '/api/v1/namespaces/default/configmaps/child-of-both');
    t.is(both.status, 200, 'a dependent with another owner stays');
    t.deepEqual(
      both.body.metadata.ownerReferences.map((r: JsonAny) => r.name),
      ['b'],
    );
    t.false(await exists('dangling'), 'an owner that never existed makes a dependent garbage');

    const orphaning = await emu.call('DELETE', '/api/v1/namespaces/default/configmaps/o', {
      propagationPolicy: 'Orphan',
    });
    t.is(orphaning.status, 200);
    await eventually(async () => !(await exists('o')));
    const orphan = await emu.call('GET', '/api/v1/namespaces/default/configmaps/child-of-o');
    t.is(orphan.status, 200);
    t.is(orphan.body.metadata.ownerReferences, undefined);
  } finally {
    await emu.close();
  }
});

test('foreground deletion: the owner carries foregroundDeletion until blocking dependents are gone', async (t) => {
  const emu = await startEmulator();
  try {
    const owner = await emu.call('POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: 'owner' },
    });
    const ref = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: 'owner',
      uid: owner.body.metadata.uid,
      blockOwnerDeletion: true,
    };
    await emu.call('POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: 'held', finalizers: ['test/hold'], ownerReferences: [ref] },
    });
    const del = await emu.call(
      'DELETE',
      '/api/v1/namespaces/default/configmaps/owner?propagationPolicy=Foreground',
    );
    t.is(del.status, 200);
    t.truthy(del.body.metadata.deletionTimestamp);
    t.deepEqual(del.body.metadata.finalizers, ['foregroundDeletion']);
    await emu.server.settled();
    const held = await emu.call('GET', '/api/v1/namespaces/default/configmaps/held');
    t.truthy(held.body.metadata.deletionTimestamp, 'the dependent is being deleted');
    t.is(
      (await emu.call('GET', '/api/v1/namespaces/default/configmaps/owner')).status,
      200,
      'the owner waits',
    );
    await emu.call(
      'PATCH',
      '/api/v1/namespaces/default/configmaps/held',
      { metadata: { finalizers: null } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    await eventually(
      async () => (await emu.call('GET', '/api/v1/namespaces/default/configmaps/owner')).status === 404,
    );
    t.pass();
  } finally {
    await emu.close();
  }
});
