/**
 * Boolean and integer query parameters parsed as kube-apiserver parses them. The table is ported
 * from TestStringMapConversion in kubernetes/kubernetes
 * (staging/src/k8s.io/apimachinery/pkg/runtime/conversion_test.go); the HTTP tests check each
 * parameter where it changes what the server does (issue 18, item 3).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { StatusError } from '../../local/apiserver/errors.ts';
import { boolParam, intParam, optionalBoolParam } from '../../local/apiserver/query.ts';
import { apiFetch } from '../fixtures/api.ts';
import { type Emulator, startEmulator } from './apiserver-helpers.ts';

const q = (s: string) => new URLSearchParams(s);

// [query, boolParam("bool"), optionalBoolParam("bool")]
const bools: [string, boolean, boolean | undefined][] = [
  ['bool=true', true, true], // "parses boolean true"
  ['bool=foo', true, true], // "parses boolean any value"
  ['bool=false', false, false], // "parses boolean false"
  ['bool=', true, true], // "parses boolean empty value"
  ['', false, undefined], // "parses boolean no value"
  // strings.ToLower in Convert_Slice_string_To_bool, and "0":
  ['bool=True', true, true],
  ['bool=FALSE', false, false],
  ['bool=0', false, false],
  ['bool=1', true, true],
  // the first value counts
  ['bool=false&bool=true', false, false],
];
for (const [query, want, wantOptional] of bools) {
  test(`bool query parameter: "${query}"`, (t) => {
    t.is(boolParam(q(query), 'bool'), want);
    t.is(optionalBoolParam(q(query), 'bool'), wantOptional);
  });
}

test('int query parameters: int64 in base 10, anything else is a 400', (t) => {
  t.is(intParam(q('int=-1'), 'int'), -1); // "parses int64"
  t.is(intParam(q('int=500'), 'int'), 500);
  t.is(intParam(q(''), 'int'), undefined);
  for (const bad of ['a', '1.5', '1e3', '0x10']) {
    const e = t.throws(() => intParam(q(`int=${bad}`), 'int'), { instanceOf: StatusError });
    t.is(e?.code, 400, bad); // "returns error on bad int64"
  }
});

let emu: Emulator;
test.before(async () => {
  emu = await startEmulator({
    bookmarkIntervalMs: 50,
    podLogDir: mkdtempSync(join(tmpdir(), 'cairn-query-logs-')),
  });
});
test.after.always(async () => {
  await emu?.close();
});

async function watchLines(
  path: string,
): Promise<{ type: string; object: { metadata: Record<string, unknown> } }[]> {
  const res = await apiFetch(emu.server, path);
  const text = await res.text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

test('watch=True (the Python client) watches instead of listing, and allowWatchBookmarks=True sends bookmarks', async (t) => {
  const made = await emu.call('POST', '/api/v1/namespaces/default/configmaps', {
    metadata: { name: 'watched' },
    data: { a: '1' },
  });
  t.is(made.status, 201);
  const lines = await watchLines(
    '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dwatched&watch=True&allowWatchBookmarks=True&timeoutSeconds=1',
  );
  t.is(lines[0]?.type, 'ADDED');
  t.is(lines[0]?.object.metadata.name, 'watched');
  t.true(
    lines.some((l) => l.type === 'BOOKMARK'),
    JSON.stringify(lines.map((l) => l.type)),
  );
});

test('sendInitialEvents=True with allowWatchBookmarks=yes ends the initial events with a bookmark', async (t) => {
  await emu.call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'initial' } });
  const lines = await watchLines(
    '/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=True&allowWatchBookmarks=yes&resourceVersionMatch=NotOlderThan&timeoutSeconds=1',
  );
  const end = lines.find(
    (l) =>
      l.type === 'BOOKMARK' &&
      (l.object.metadata.annotations as Record<string, string> | undefined)?.['k8s.io/initial-events-end'] ===
        'true',
  );
  t.truthy(end, JSON.stringify(lines.map((l) => l.type)));
});

test('watch=false and watch=0 list', async (t) => {
  for (const v of ['false', '0', 'FALSE']) {
    const r = await emu.call('GET', `/api/v1/namespaces/default/configmaps?watch=${v}`);
    t.is(r.status, 200);
    t.is(r.body.kind, 'ConfigMapList', v);
  }
});

test('orphanDependents=True orphans the dependents, orphanDependents=False deletes them', async (t) => {
  for (const [value, kept] of [
    ['True', true],
    ['False', false],
  ] as const) {
    const owner = await emu.call('POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: `owner-${value.toLowerCase()}` },
    });
    t.is(owner.status, 201);
    const dep = await emu.call('POST', '/api/v1/namespaces/default/configmaps', {
      metadata: {
        name: `dependent-${value.toLowerCase()}`,
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            name: owner.body.metadata.name,
            uid: owner.body.metadata.uid,
          },
        ],
      },
    });
    t.is(dep.status, 201);
    const del = await emu.call(
      'DELETE',
      `/api/v1/namespaces/default/configmaps/${owner.body.metadata.name}?orphanDependents=${value}`,
    );
    t.is(del.status, 200);
    await emu.server.settled();
    const after = await emu.call('GET', `/api/v1/namespaces/default/configmaps/${dep.body.metadata.name}`);
    t.is(after.status, kept ? 200 : 404, `orphanDependents=${value}`);
    if (kept) t.deepEqual(after.body.metadata.ownerReferences ?? [], []);
  }
});

test('pods/log: previous=True is refused like previous=true; follow=0 does not follow', async (t) => {
  const pod = await emu.call('POST', '/api/v1/namespaces/default/pods', {
    metadata: { name: 'logged' },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
  });
  t.is(pod.status, 201, JSON.stringify(pod.body));
  const prev = await emu.call('GET', '/api/v1/namespaces/default/pods/logged/log?previous=True');
  t.is(prev.status, 400);
  t.regex(JSON.stringify(prev.body), /previous terminated container/);
  // A pod that never finishes: follow=0 answers at once, as without follow.
  const noFollow = await emu.call('GET', '/api/v1/namespaces/default/pods/logged/log?follow=0');
  t.is(noFollow.status, 200);
});

test('a watch that times out while bookmarks are due ends cleanly (no write after its end)', async (t) => {
  const fast = await startEmulator({ bookmarkIntervalMs: 1 });
  t.teardown(() => fast.close());
  const errors: unknown[] = [];
  const onError = (e: unknown) => errors.push(e);
  process.on('uncaughtException', onError);
  t.teardown(() => process.off('uncaughtException', onError));
  for (let i = 0; i < 5; i++) {
    const res = await apiFetch(
      fast.server,
      '/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=1',
    );
    t.is(res.status, 200);
    await res.text();
  }
  // Timers that fire after the end would throw ERR_STREAM_WRITE_AFTER_END from the server.
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(errors.map(String), []);
});
