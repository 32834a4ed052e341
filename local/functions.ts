/**
 * Serves Cairn's five functions with faas-js-runtime over HTTP, as Knative would: each on its own
 * port, the same handle() a cluster runs, in this process (so a test can pin their clock).
 */
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
// faas-js-runtime is CommonJS whose exports Node's ESM loader cannot see by name.
import faas from 'faas-js-runtime';
import { FUNCTION_NAMES, type FunctionName } from '../functions/names.ts';

import type { Clock } from '../shared/clock.ts';
import { makeHandle, type Planner } from '../shared/function.ts';
import type { KubeClient } from '../shared/kube.ts';
import type { Logger } from '../shared/log.ts';
import { freePort } from './ports.ts';

export interface LocalFunctions {
  /** Knative Service name → URL, as the Broker's Triggers address them. */
  urls: Record<FunctionName, string>;
  close(): Promise<void>;
}

export interface ServeOptions {
  kube: KubeClient;
  clock: Clock;
  log: Logger;
  ports?: Partial<Record<FunctionName, number>>;
  /** Awaited by faas-js-runtime's own SIGINT/SIGTERM handler before it exits the process. */
  shutdown?: () => Promise<void>;
}

export async function serveFunctions(opts: ServeOptions): Promise<LocalFunctions> {
  const servers: Server[] = [];
  const urls = {} as Record<FunctionName, string>;
  for (const name of FUNCTION_NAMES) {
    const mod = (await import(`../functions/${name}/handle.ts`)) as { plan: Planner };
    const handle = makeHandle(name, mod.plan, {
      deps: { kube: opts.kube, clock: opts.clock, log: opts.log.child({ function: name }) },
    });
    const port = opts.ports?.[name] ?? (await freePort());
    // faas-js-runtime reads func.yaml from `config`: the function's own folder, as in its image.
    const server = await faas.start(
      { handle, ...(opts.shutdown ? { shutdown: opts.shutdown } : {}) } as unknown as Parameters<
        typeof faas.start
      >[0],
      {
        port,
        logLevel: 'warn',
        config: fileURLToPath(new URL(`../functions/${name}/`, import.meta.url)),
      } as unknown as Parameters<typeof faas.start>[1],
    );
    servers.push(server);
    urls[name] = `http://127.0.0.1:${port}/`;
  }
  return {
    urls,
    async close() {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}
