/**
 * A Kubernetes API server emulator: real kubectl and @kubernetes/client-node talk to it as to a
 * cluster. See README.md for what it emulates and what it does not.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { type Clock, systemClock } from '../../shared/clock.ts';
import { type Logger, silentLogger } from '../../shared/log.ts';
import { createObjectService } from './bootstrap.ts';
import { Controllers } from './gc.ts';
import { handle } from './handlers.ts';
import { type KubeconfigOptions, kubeconfigYaml } from './kubeconfig.ts';
import { OpenApi } from './openapi.ts';

export interface ApiServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** 127.0.0.1 by default. */
  host?: string;
  /** Durable when given (a journal in this directory); memory only otherwise. */
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
  const host = opts.host ?? '127.0.0.1';
  let address = '';
  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    void handle({ svc, openapi, hub, log, address: () => address, podLogDir: opts.podLogDir }, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  address = `${host}:${port}`;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info('api server listening', { url, stateDir: opts.stateDir ?? null });
  let closing: Promise<void> | undefined;
  return {
    url,
    kubeconfig: (o) => kubeconfigYaml(url, o),
    writeKubeconfig(path, o) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, kubeconfigYaml(url, o), { mode: 0o600 });
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
