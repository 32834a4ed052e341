/**
 * Starts one Cairn function the way a cluster does — faas-js-runtime serving its handle() over
 * HTTP — against the in-process API emulator with Cairn's CRDs, and posts CloudEvents to it in
 * binary mode as the Broker would. The clock is pinned.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CloudEvent, HTTP } from 'cloudevents';
import { type ApiServer, startApiServer } from '../local/apiserver/index.ts';
import { serveHandle } from '../local/functions.ts';
import { freePort } from '../local/ports.ts';
import { installCrds, REPO_ROOT } from '../local/runtime.ts';
import { ManualClock } from '../shared/clock.ts';
import { makeHandle, type Planner } from '../shared/function.ts';
import { KubeClient } from '../shared/kube.ts';
import { silentLogger } from '../shared/log.ts';

export interface Harness {
  kube: KubeClient;
  clock: ManualClock;
  api: ApiServer;
  /** The emulator's kubeconfig (for other clients: kubectl, applyYaml). */
  kubeconfig: string;
  url: string;
  /** POSTs the event in binary mode; returns the HTTP answer and any reply event's headers. */
  post(event: CloudEvent<unknown>): Promise<{ status: number; headers: Headers; body: string }>;
  stop(): Promise<void>;
}

export async function startFunction(
  name: string,
  plan: Planner,
  now = '2030-01-01T00:00:30Z',
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), `cairn-fn-${name}-`));
  const clock = new ManualClock(now);
  const api = await startApiServer({ clock });
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  await installCrds(kubeconfig);
  const kube = await KubeClient.connect({ kubeconfig, clock });
  const port = await freePort();
  const handle = makeHandle(name, plan, { deps: { kube, clock, log: silentLogger } });
  const server: Server = await serveHandle(handle, {
    port,
    logLevel: 'fatal',
    config: join(REPO_ROOT, 'functions', name),
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    kube,
    clock,
    api,
    kubeconfig,
    url,
    async post(event) {
      const { headers, body } = HTTP.binary(event);
      const res = await fetch(url, {
        method: 'POST',
        headers: headers as Record<string, string>,
        body: body as string,
      });
      return { status: res.status, headers: res.headers, body: await res.text() };
    },
    async stop() {
      await new Promise((r) => server.close(r));
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
