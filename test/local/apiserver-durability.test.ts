/**
 * Durable state: the emulator's command is killed with SIGKILL in the middle of a stream of
 * creates; after a restart every create that was acknowledged is there and resourceVersions keep
 * growing. A clean SIGTERM also exits 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
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
