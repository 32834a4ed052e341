/**
 * Scale: benchmarks list 10,000 custom objects per tick; a list of that size must stay cheap.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { apiFetch } from '../fixtures/api.ts';
import { fixtures, type JsonAny, startEmulator } from './apiserver-helpers.ts';

test('10,000 custom objects: created over HTTP, listed whole and by selector, quickly', async (t) => {
  const emu = await startEmulator();
  try {
    const crd = parseAllDocuments(readFileSync(join(fixtures, 'crds', 'backupruns.yaml'), 'utf8'))[0]!.toJS();
    t.is(
      (await emu.call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status,
      201,
    );
    const path = '/apis/fixtures.cairn.dev/v1alpha1/namespaces/default/backupruns';
    const total = 10_000;
    let next = 0;
    const createStart = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let i = next++; i < total; i = next++) {
          const r = await emu.call('POST', path, {
            apiVersion: 'fixtures.cairn.dev/v1alpha1',
            kind: 'BackupRun',
            metadata: { name: `run-${String(i).padStart(5, '0')}`, labels: { shard: String(i % 10) } },
            spec: { scheduleRef: { name: `policy-${i % 100}` } },
          });
          if (r.status !== 201) throw new Error(JSON.stringify(r.body));
        }
      }),
    );
    const createMs = performance.now() - createStart;
    const times: number[] = [];
    let list: JsonAny;
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const res = await apiFetch(emu.server, path);
      list = await res.json();
      times.push(performance.now() - start);
    }
    t.is(list.items.length, total);
    t.is(list.items[0].metadata.name, 'run-00000');
    t.is(list.items[total - 1].metadata.name, 'run-09999');
    const median = times.sort((a, b) => a - b)[2]!;
    const start = performance.now();
    const shard = (await (await apiFetch(emu.server, `${path}?labelSelector=shard%3D3`)).json()) as JsonAny;
    const selectedMs = performance.now() - start;
    t.is(shard.items.length, total / 10);
    t.log(
      `create ${total}: ${createMs.toFixed(0)} ms; list all (median of 5): ${median.toFixed(1)} ms; list by label: ${selectedMs.toFixed(1)} ms`,
    );
    t.true(median < 1000, `listing ${total} objects took ${median} ms`);
  } finally {
    await emu.close();
  }
});
