/**
 * Durable state: the emulator's command is killed with SIGKILL in the middle of a stream of
 * creates; after a restart every create that was acknowledged is there and resourceVersions keep
 * growing. A clean SIGTERM also exits 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { startApiServer } from '../../local/apiserver/index.ts';
import { type ApiTarget, apiFetch, apiTargetOf } from '../fixtures/api.ts';
import { fixtures, type JsonAny } from './apiserver-helpers.ts';

const main = new URL('../../local/apiserver/main.ts', import.meta.url).pathname;

async function startChild(stateDir: string): Promise<{ child: ChildProcess; api: ApiTarget }> {
  const kubeconfig = join(stateDir, 'kubeconfig');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', main, '--port', '0', '--state-dir', stateDir, '--kubeconfig', kubeconfig],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CAIRN_LOG_LEVEL: 'warn' } },
  );
  await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`apiserver exited early with ${code}`)));
  });
  return { child, api: apiTargetOf(kubeconfig) };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

async function post(api: ApiTarget, path: string, body: unknown): Promise<{ status: number; body: JsonAny }> {
  const res = await apiFetch(api, path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

test('a SIGKILL mid-stream loses no acknowledged create, and resourceVersion keeps increasing after restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-apiserver-state-'));
  try {
    let { child, api } = await startChild(dir);
    const firstToken = api.token;
    const crd = parseAllDocuments(readFileSync(join(fixtures, 'crds', 'backupruns.yaml'), 'utf8'))[0]!.toJS();
    t.is((await post(api, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status, 201);
    const acked = new Map<string, number>();
    let stop = false;
    let attempted = 0;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const name = `run-${w}-${i}`;
        attempted++;
        try {
          const r = await post(api, '/apis/fixtures.cairn.dev/v1alpha1/namespaces/default/backupruns', {
            apiVersion: 'fixtures.cairn.dev/v1alpha1',
            kind: 'BackupRun',
            metadata: { name },
            spec: { scheduleRef: { name: 'nightly' } },
          });
          if (r.status === 201) acked.set(name, Number(r.body.metadata.resourceVersion));
        } catch {
          return; // the server died under this request: not acknowledged
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    while (acked.size < 200) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await exited(child);
    stop = true;
    await Promise.all(workers);
    t.true(attempted >= acked.size);

    ({ child, api } = await startChild(dir));
    t.is(api.token, firstToken, 'the state folder keeps the token');
    try {
      const list = (await (
        await apiFetch(api, '/apis/fixtures.cairn.dev/v1alpha1/namespaces/default/backupruns')
      ).json()) as JsonAny;
      const present = new Set<string>(list.items.map((i: JsonAny) => i.metadata.name));
      const lost = [...acked.keys()].filter((n) => !present.has(n));
      t.deepEqual(lost, [], 'every acknowledged create survived');
      const maxAcked = Math.max(...acked.values());
      t.true(Number(list.metadata.resourceVersion) >= maxAcked);
      const after = await post(api, '/apis/fixtures.cairn.dev/v1alpha1/namespaces/default/backupruns', {
        apiVersion: 'fixtures.cairn.dev/v1alpha1',
        kind: 'BackupRun',
        metadata: { name: 'after-restart' },
      });
      t.is(after.status, 201, JSON.stringify(after.body));
      t.true(Number(after.body.metadata.resourceVersion) > Number(list.metadata.resourceVersion));
      const ns = (await (await apiFetch(api, '/api/v1/namespaces/default')).json()) as JsonAny;
      t.is(ns.metadata.name, 'default');
    } finally {
      child.kill('SIGTERM');
      t.is(await exited(child), 0, 'SIGTERM ends the command cleanly');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a crash that leaves a zero-filled tail longer than any string (600 MiB, sparse) loses only that tail', async (t) => {
  // ext4 and XFS can leave a file's last blocks zero-filled after a power cut: the size was
  // written, the data was not. One torn "line" of 600 MiB of NULs is more than V8 can hold as a
  // string (0x1fffffe8 characters), so the journal must be read as a stream of lines.
  const dir = mkdtempSync(join(tmpdir(), 'cairn-journal-tail-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = await startApiServer({ stateDir: dir });
  for (const name of ['a', 'b', 'c']) {
    const res = await apiFetch(first, '/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ metadata: { name }, data: { k: name } }),
    });
    t.is(res.status, 201);
  }
  await first.close();
  const journal = join(dir, 'journal.jsonl');
  const size = statSync(journal).size;
  truncateSync(journal, size + 600 * 2 ** 20);
  const second = await startApiServer({ stateDir: dir });
  t.teardown(() => second.close());
  const list = (await (await apiFetch(second, '/api/v1/namespaces/default/configmaps')).json()) as JsonAny;
  t.deepEqual(
    list.items.map((i: JsonAny) => i.data.k),
    ['a', 'b', 'c'],
  );
  t.true(statSync(journal).size < size * 2, 'compacted without the tail');
});

test('a corrupt line in the middle of the journal is refused, not skipped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-journal-mid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = await startApiServer({ stateDir: dir });
  await apiFetch(first, '/api/v1/namespaces/default/configmaps', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ metadata: { name: 'kept' } }),
  });
  await first.close();
  const journal = join(dir, 'journal.jsonl');
  const lines = readFileSync(journal, 'utf8').split('\n');
  lines.splice(1, 0, '{"rv":');
  writeFileSync(journal, lines.join('\n'));
  await t.throwsAsync(startApiServer({ stateDir: dir }), { message: /journal\.jsonl line 2 is corrupt/ });
});
