/**
 * Real receivers for the event-source and broker tests: a node:http server that records what it
 * gets and answers as told, a faas-js-runtime function server, free ports and temp folders.
 */
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type KubernetesObject, KubernetesObjectApi, loadAllYaml } from '@kubernetes/client-node';
import { HTTP } from 'cloudevents';
import type { CloudEventLike } from '../../shared/events.ts';

export async function tempDir(prefix = 'cairn-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** The CloudEvent read from the request (binary or structured). */
  event: CloudEventLike;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Resolves once `n` requests arrived (or rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Answers each request with `answer(request, index)` (default 200, empty). */
export async function startReceiver(
  answer: (r: Received, i: number, res: ServerResponse) => void | Promise<void> = (_r, _i, res) => {
    res.writeHead(200).end();
  },
): Promise<Receiver> {
  const received: Received[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const event = HTTP.toEvent({ headers: req.headers as Record<string, string>, body }) as CloudEventLike;
    const r: Received = { headers: req.headers, body, event, at: Date.now() };
    const i = received.push(r) - 1;
    for (const w of waiters.filter((w) => received.length >= w.n)) w.resolve();
    await answer(r, i, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    received,
    waitFor(n, ms = 5000) {
      if (received.length >= n) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${received.length} of ${n} requests`)), ms);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(received);
          },
        });
      });
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

type FaasStart = (
  fn: (context: unknown, event?: CloudEventLike) => unknown,
  opts: { port: number; logLevel: string; config: string },
) => Promise<Server>;

/** A function served by the real faas-js-runtime, as `func run` would. */
export async function startFunction(
  handle: (context: unknown, event?: CloudEventLike) => unknown,
): Promise<{ url: string; close(): Promise<void> }> {
  const { start } = createRequire(import.meta.url)('faas-js-runtime') as { start: FaasStart };
  const port = await freePort();
  // `config` points at a folder without func.yaml, so a func.yaml in the cwd cannot change the port.
  const server = await start(handle, { port, logLevel: 'silent', config: await tempDir('cairn-fn-') });
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function until<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The API server emulator in-process (memory only), with Cairn's CRDs installed through the API. */
export type ApiServer = import('../../local/apiserver/index.ts').ApiServer;

export async function startEmulator(
  opts: { crds?: boolean; stateDir?: string } = {},
): Promise<{ url: string; kc: KubeConfig; api: ApiServer; close(): Promise<void> }> {
  const { startApiServer } = await import('../../local/apiserver/index.ts');
  const api = await startApiServer({
    bookmarkIntervalMs: 1000,
    ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
  });
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  if (opts.crds !== false) await installCrds(kc);
  return { url: api.url, kc, api, close: () => api.close() };
}

export async function installCrds(kc: KubeConfig): Promise<void> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const crdDir = join(import.meta.dirname, '..', '..', 'crds');
  for (const f of (await readdir(crdDir)).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of loadAllYaml(await readFile(join(crdDir, f), 'utf8'))) {
      await objects.create(doc as KubernetesObject);
    }
  }
}
