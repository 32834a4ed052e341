/**
 * A function as its image runs it: `npm run build:functions`' bundle, served by faas-js-runtime's
 * own CLI under plain node, answering a PingSource tick against the API emulator. What a cold start
 * must not pay for (issue 17) is checked from Node's own account of what it compiled
 * (NODE_DEBUG_NATIVE=COMPILE_CACHE names every module it loads and whether the cache served it).
 * Speed itself is bench/cold-start.ts's to judge.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { HTTP } from 'cloudevents';
import { bundleFunction } from '../functions/build.ts';
import { startApiServer } from '../local/apiserver/index.ts';
import { freePort } from '../local/ports.ts';
import { installCrds, REPO_ROOT } from '../local/runtime.ts';
import { pingEvent } from '../shared/events.ts';
import { KubeClient, type KubeObject } from '../shared/kube.ts';
import { databaseBackup } from './builders.ts';

const FAAS_CLI = join(REPO_ROOT, 'node_modules', 'faas-js-runtime', 'bin', 'cli.js');

function post(port: number): Promise<number> {
  const { headers, body } = HTTP.binary(
    pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: '{}', contentType: 'application/json' }),
  );
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/', headers: headers as Record<string, string> },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body as string);
  });
}

test('a bundled function answers a tick from its compile cache, records its Event, and never loads client-node', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bundle-'));
  const api = await startApiServer({ port: 0 });
  t.teardown(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  await installCrds(kubeconfig);
  // A policy whose schedule only the function can refuse: the tick sets Ready=False and records a
  // Warning Event (KubeClient.recordEvent, whose hash comes from a node:crypto imported on demand).
  const kube = await KubeClient.connect({ kubeconfig });
  const { uid: _u, creationTimestamp: _c, generation: _g, ...metadata } = databaseBackup('bad').metadata;
  await kube.create('DatabaseBackup', { ...databaseBackup('bad', { schedule: '61 * * * *' }), metadata });
  // As functions/schedule-evaluator/ holds it: a package.json of type module beside dist/.
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  await bundleFunction(join(REPO_ROOT, 'functions', 'schedule-evaluator', 'handle.ts'), join(dir, 'dist'));
  const clientNode = readdirSync(join(dir, 'dist', 'chunks')).filter(
    (f) =>
      f.endsWith('.js') &&
      readFileSync(join(dir, 'dist', 'chunks', f), 'utf8').includes('kubernetes-client-javascript'),
  );
  t.is(clientNode.length, 1, 'client-node sits in a chunk of its own');

  const port = await freePort();
  const child = spawn(process.execPath, [FAAS_CLI, './dist/index.js', '--port', String(port)], {
    cwd: dir,
    env: {
      ...process.env,
      CAIRN_KUBECONFIG: kubeconfig,
      FUNC_LOG_LEVEL: 'warn',
      NODE_DEBUG_NATIVE: 'COMPILE_CACHE',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise((r) => child.once('exit', r));
  t.teardown(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let status = 0;
  for (let i = 0; i < 3000 && status === 0; i++) {
    status = await post(port).catch(async () => {
      await new Promise((r) => setTimeout(r, 10));
      return 0;
    });
    if (child.exitCode !== null) break;
  }
  t.true(status >= 200 && status < 300, `answered ${status}: ${stderr.slice(-2000)}`);
  t.regex(stderr, /V8 code cache for ESM file:\/\/\S+\/dist\/function\.js was accepted/);
  t.false(stderr.includes(clientNode[0] as string), 'the client-node chunk was loaded');
  t.false(stderr.includes('\n    at '), 'no stack traces');
  const events = await kube.list<KubeObject>('Event', 'default');
  t.true(
    events.some(
      (e) => e.reason === 'InvalidSchedule' && e.type === 'Warning' && e.involvedObject?.name === 'bad',
    ),
    JSON.stringify(events.map((e) => e.reason)),
  );
});
