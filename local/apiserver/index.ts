/**
 * A Kubernetes API server emulator: real kubectl and @kubernetes/client-node talk to it as to a
 * cluster. See README.md for what it emulates and what it does not.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { type Clock, systemClock } from '../../shared/clock.ts';
import { type Logger, silentLogger } from '../../shared/log.ts';
import { createObjectService } from './bootstrap.ts';
import { Controllers } from './gc.ts';
import { createGuard, isLoopback, loadOrCreateToken } from './guard.ts';
import { handle, sendError } from './handlers.ts';
import { type KubeconfigOptions, kubeconfigYaml } from './kubeconfig.ts';
import { OpenApi } from './openapi.ts';
import { loadOrCreateTls } from './tls.ts';

export interface ApiServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** 127.0.0.1 by default; only loopback addresses are allowed. */
  host?: string;
  /**
   * Durable when given (a journal in this directory, and the bearer token in `token`); memory
   * only otherwise, with a fresh token.
   */
  stateDir?: string;
  logger?: Logger;
  clock?: Clock;
  /** How often watches that allow bookmarks get one (default 15 s; the real server: about a minute). */
  bookmarkIntervalMs?: number;
  /** How many changes are kept for watches resuming from a resourceVersion (default 100,000). */
  watchHistory?: number;
  /** The job runner's pod log folder (`<dir>/<ns>/<pod>.log`): served as pods/log for `kubectl logs`. */
  podLogDir?: string;
}

export interface ApiServer {
  readonly url: string;
  /** The bearer token every request must carry (it is in the kubeconfigs this server writes). */
  readonly token: string;
  /** PEM of the CA that signed the serving certificate (also in the kubeconfigs). */
  readonly ca: string;
  close(): Promise<void>;
  kubeconfig(opts?: KubeconfigOptions): string;
  writeKubeconfig(path: string, opts?: KubeconfigOptions): void;
  /** Resolves when garbage collection and other controller work has caught up (tests). */
  settled(): Promise<void>;
}

export type { KubeconfigOptions };

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const log = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host))
    throw new Error(`the API emulator listens on loopback only (127.0.0.1 or ::1), not on ${host}`);
  const token = loadOrCreateToken(opts.stateDir);
  const guard = createGuard(token);
  // Real time, not the injected clock: clients check the certificate against their own.
  const tls = await loadOrCreateTls(opts.stateDir);
  const svc = await createObjectService({
    clock,
    log,
    ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
    ...(opts.watchHistory ? { watchHistory: opts.watchHistory } : {}),
  });
  const store = svc.store;
  const controllers = new Controllers(svc, log.child({ component: 'controllers' }));
  const openapi = new OpenApi(svc.registry);
  const hub = { open: new Set<ServerResponse>(), bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 15_000 };
  let address = '';
  const server = createServer({ keepAliveTimeout: 30_000, key: tls.key, cert: tls.cert }, (req, res) => {
    if (!guard.admit(req, res, sendError)) return;
    void handle({ svc, openapi, hub, log, address: () => address, podLogDir: opts.podLogDir }, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  address = `${host}:${port}`;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info('api server listening', { url, stateDir: opts.stateDir ?? null });
  let closing: Promise<void> | undefined;
  return {
    url,
    token,
    ca: tls.ca,
    kubeconfig: (o) => kubeconfigYaml(url, token, tls.ca, o),
    writeKubeconfig(path, o) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, kubeconfigYaml(url, token, tls.ca, o), { mode: 0o600 });
      // A file that existed keeps its mode through writeFileSync: it holds the token now.
      chmodSync(path, 0o600);
    },
    settled: () => controllers.settled(),
    close() {
      closing ??= (async () => {
        controllers.close();
        for (const res of hub.open) res.end();
        server.closeIdleConnections();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          setTimeout(() => server.closeAllConnections(), 200).unref();
        });
        await store.close();
      })();
      return closing;
    },
  };
}
