/**
 * Serves Cairn's five functions with faas-js-runtime over HTTP, as Knative would: each on its own
 * port, the same handle() a cluster runs, in this process (so a test can pin their clock), on
 * loopback only.
 */
import type { Server } from 'node:http';
import { type AddressInfo, type ListenOptions, Server as NetServer } from 'node:net';
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
 * faas-js-runtime takes no host: every version listens on `::` (index.js: `server.listen({port,
 * host: '::'})`), every interface of the machine. While `start` runs, that one listen (the port we
 * gave it, host `::`) is sent to 127.0.0.1 instead; any other listen passes untouched. Written by
 * hand because the library has no option for it; a ref count keeps concurrent starts correct.
 */
const loopbackPorts = new Map<number, number>();
let originalListen: NetServer['listen'] | undefined;

async function onLoopback<T>(port: number, start: () => Promise<T>): Promise<T> {
  loopbackPorts.set(port, (loopbackPorts.get(port) ?? 0) + 1);
  if (!originalListen) {
    const original = NetServer.prototype.listen;
    originalListen = original;
    NetServer.prototype.listen = function (this: NetServer, ...args: unknown[]) {
      const opts = args[0] as ListenOptions | undefined;
      if (opts && typeof opts === 'object' && opts.host === '::' && loopbackPorts.has(opts.port ?? -1))
        args[0] = { ...opts, host: '127.0.0.1' };
      return (original as (...a: unknown[]) => NetServer).apply(this, args);
    } as NetServer['listen'];
  }
  try {
    return await start();
  } finally {
    const n = (loopbackPorts.get(port) ?? 1) - 1;
    if (n > 0) loopbackPorts.set(port, n);
    else loopbackPorts.delete(port);
    if (loopbackPorts.size === 0 && originalListen) {
      NetServer.prototype.listen = originalListen;
      originalListen = undefined;
    }
  }
}

/**
 * One handle served by faas-js-runtime on 127.0.0.1:`port`, its func.yaml read from the folder `config`,
 * without the process hooks faas-js-runtime would install (see above). Tests that provoke
 * failures on purpose pass `logLevel: 'fatal'`: faas-js-runtime logs every thrown error at `error`.
 */
export async function serveHandle(
  handle: unknown,
  opts: { port: number; config: string; logLevel?: 'silent' | 'fatal' | 'error' | 'warn' | 'info' },
): Promise<Server> {
  const server = await onLoopback(opts.port, () =>
    withoutProcessHooks(() =>
      faas.start(
        { handle } as unknown as Parameters<typeof faas.start>[0],
        opts as unknown as Parameters<typeof faas.start>[1],
      ),
    ),
  );
  // A func.yaml that named another port would have slipped past onLoopback: never serve on it.
  const address = (server.address() as AddressInfo | null)?.address ?? '';
  if (address !== '127.0.0.1') {
    await new Promise((resolve) => server.close(resolve));
    throw new Error(`faas-js-runtime listened on ${address}, not on loopback; refusing to serve there`);
  }
  return server;
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
