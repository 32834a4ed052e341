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
}

/**
 * faas-js-runtime's start() hooks uncaughtException, SIGINT, SIGTERM and SIGQUIT (the `death`
 * package) to run the function's shutdown and exit 0: right for a function's own container, wrong
 * inside the local runtime, where it turned any crash into a silent exit 0 and raced the
 * runtime's own signal handling. The embedding process keeps its signals and its crashes.
 */
const PROCESS_HOOKS = ['uncaughtException', 'SIGINT', 'SIGTERM', 'SIGQUIT'] as const;

async function withoutProcessHooks<T>(start: () => Promise<T>): Promise<T> {
  // As a plain emitter: Node's typings overload listeners() per event name.
  const proc: NodeJS.EventEmitter = process;
  const before = new Map(PROCESS_HOOKS.map((e) => [e, new Set(proc.listeners(e))]));
  try {
    return await start();
  } finally {
    for (const e of PROCESS_HOOKS) {
      for (const l of proc.listeners(e)) {
        if (!before.get(e)?.has(l)) proc.removeListener(e, l as (...args: unknown[]) => void);
      }
    }
  }
}

/**
 * One handle served by faas-js-runtime on `port`, its func.yaml read from the folder `config`,
 * without the process hooks faas-js-runtime would install (see above). Tests that provoke
 * failures on purpose pass `logLevel: 'fatal'`: faas-js-runtime logs every thrown error at `error`.
 */
export function serveHandle(
  handle: unknown,
  opts: { port: number; config: string; logLevel?: 'silent' | 'fatal' | 'error' | 'warn' | 'info' },
): Promise<Server> {
  return withoutProcessHooks(() =>
    faas.start(
      { handle } as unknown as Parameters<typeof faas.start>[0],
      opts as unknown as Parameters<typeof faas.start>[1],
    ),
  );
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
    const server = await serveHandle(handle, {
      port,
      logLevel: 'warn',
      config: fileURLToPath(new URL(`../functions/${name}/`, import.meta.url)),
    });
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
