/**
 * The Kubernetes access layer (shared/kube.ts) against the API emulator, with the real kubectl as
 * the other client: what a function reads must be what the API server holds.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { newestPodsFirst } from '../../functions/job-watcher/outcome.ts';
import { KubeClient, type KubeObject } from '../../shared/kube.ts';
import { type Emulator, startEmulator } from '../local/apiserver-helpers.ts';

let emu: Emulator;
test.before(async () => {
  emu = await startEmulator();
});
test.after.always(async () => {
  await emu?.close();
});

const pod = (name: string, job: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { 'job-name': job } },
    spec: { restartPolicy: 'Never', containers: [{ name: 'agent', image: 'cairn-agent' }] },
  });

test('core objects come back as the API server wrote them: timestamps are strings, so a Job with two Pods can be read', async (t) => {
  // A Job whose first Pod failed and was retried has two: kubectl creates them, as the Job
  // controller would.
  for (const name of ['retried-aaaaa', 'retried-bbbbb']) {
    const r = await emu.kubectl(['create', '-f', '-'], pod(name, 'retried'));
    t.is(r.code, 0, r.stderr);
  }
  const kube = await KubeClient.connect({ kubeconfig: emu.kubeconfig });
  const pods = await kube.list<KubeObject>('Pod', 'default', { labelSelector: 'job-name=retried' });
  t.is(pods.length, 2);
  const viaKubectl = JSON.parse(
    (await emu.kubectl(['get', 'pod', 'retried-aaaaa', '-o', 'json'])).stdout,
  ) as KubeObject;
  const mine = pods.find((p) => p.metadata.name === 'retried-aaaaa');
  t.is(typeof mine?.metadata.creationTimestamp, 'string');
  t.is(mine?.metadata.creationTimestamp, viaKubectl.metadata.creationTimestamp);
  // job-watcher sorts a Job's Pods by creationTimestamp, newest first (ties by name).
  t.deepEqual(
    newestPodsFirst(pods).map((p) => p.metadata.name),
    ['retried-bbbbb', 'retried-aaaaa'],
  );
});

test('a 2xx answer without a body (a proxy’s 204 to a delete) is a success, not a JSON error', async (t) => {
  const server = createServer((req, res) => {
    res.statusCode = req.method === 'DELETE' ? 204 : 200;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const kube = await KubeClient.connect({
    endpoint: {
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      namespace: undefined,
      context: undefined,
      source: 'test',
      tls: {},
      headers: async () => ({}),
    },
  });
  t.true(await kube.delete('Backup', 'default', 'gone'));
});
