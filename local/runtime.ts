/**
 * The embedded default, composed: the API emulator (or a real cluster's kubeconfig), the CRDs,
 * the five functions, the Broker and event sources of eventing/, and the job runner.
 */
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Clock, systemClock } from '../shared/clock.ts';
import { KubeClient, type KubeObject } from '../shared/kube.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { type ApiServer, startApiServer } from './apiserver/index.ts';
import { type LocalBroker, startBroker } from './broker/index.ts';
import { type EventSources, startEventSources } from './events/index.ts';
import { type LocalFunctions, serveFunctions } from './functions.ts';
import { hostEnvDefault, type JobRunner, startJobRunner } from './jobs/index.ts';
import { installSnapshotCrds, type SnapshotController, startSnapshotController } from './snapshots/index.ts';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface LocalRuntimeOptions {
  /** Everything durable goes here (default `.cairn`). */
  stateDir: string;
  /** API emulator port (0: a free one). */
  apiPort?: number;
  /** Use this cluster instead of the emulator (no job runner then: the cluster runs Jobs). */
  kubeconfig?: string;
  clock?: Clock;
  /** PingSource ticks: on their schedule (default), every intervalMs, or only on tick(). */
  ping?: { mode: 'schedule' } | { mode: 'interval'; intervalMs: number } | { mode: 'manual' };
  /** Broker retry override (tests retry fast). */
  retry?: { retry?: number; backoffDelayMs?: number };
  /** Job runner pod-retry backoff. */
  jobBackoffMs?: number;
  /**
   * Extra host env for every pod the job runner starts (beside PATH, HOME, LANG, TZ): what a
   * cluster's nodes provide at the wire, e.g. STORAGE_EMULATOR_HOST for a GCS stand-in in tests.
   */
  jobHostEnv?: Record<string, string>;
  log?: Logger;
}

export interface LocalRuntime {
  readonly kubeconfig: string;
  readonly apiUrl: string | undefined;
  readonly functionUrls: Record<string, string>;
  readonly brokerUrl: string;
  readonly kube: KubeClient;
  /** The job runner (kubelet and the Job controller), when Jobs run here (not with a cluster). */
  readonly jobs: JobRunner | undefined;
  /** Sends a PingSource tick now and waits until its deliveries are done. */
  tick(): Promise<void>;
  /** Waits until the event sources have sent what they saw so far. */
  flushed(): Promise<void>;
  close(): Promise<void>;
}

/** Creates or replaces each object of YAML files (CRDs, examples). */
export async function applyFiles(kubeconfig: string, files: string[]): Promise<KubeObject[]> {
  return applyYaml(kubeconfig, await Promise.all(files.map((f) => readFile(f, 'utf8'))));
}

/** Creates or replaces each object of YAML texts (one or more documents each). */
export async function applyYaml(kubeconfig: string, texts: string[]): Promise<KubeObject[]> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const applied: KubeObject[] = [];
  for (const text of texts) {
    // The client's own loader, not plain YAML: create/replace serialize through its typed models,
    // which silently drop fields they know under another name (a CRD schema's `enum`, `default`).
    for (const obj of k8s.loadAllYaml(text) as (KubeObject | null)[]) {
      if (!obj?.kind) continue;
      try {
        await api.create(obj as K8sObject);
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
        const live = await api.read(obj as K8sObject & { metadata: { name: string } });
        await api.replace({
          ...obj,
          metadata: { ...obj.metadata, resourceVersion: live.metadata?.resourceVersion },
        } as K8sObject);
      }
      applied.push(obj);
    }
  }
  return applied;
}
type K8sObject = import('@kubernetes/client-node').KubernetesObject;

/** Applies Cairn's CRDs (crds/*.yaml) to the cluster the kubeconfig names. */
export async function installCrds(kubeconfig: string): Promise<void> {
  const dir = join(REPO_ROOT, 'crds');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f));
  await applyFiles(kubeconfig, files);
}

export async function startLocalRuntime(opts: LocalRuntimeOptions): Promise<LocalRuntime> {
  const log = opts.log ?? createLogger({ component: 'cairn-local' });
  const clock = opts.clock ?? systemClock;
  const stateDir = opts.stateDir;
  // Private to the user: it holds the API's token and TLS key, every Secret (the journal), pod
  // logs and recorded events. A folder left by an older version is tightened.
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse())
      await c().catch((e: unknown) => log.warn('stop failed', { error: String(e) }));
    closers.length = 0;
  };
  try {
    let api: ApiServer | undefined;
    let kubeconfig = opts.kubeconfig;
    if (!kubeconfig) {
      api = await startApiServer({
        port: opts.apiPort ?? 0,
        stateDir: join(stateDir, 'apiserver'),
        podLogDir: join(stateDir, 'logs'),
        logger: log.child({ component: 'apiserver' }),
        clock,
      });
      closers.push(() => (api as ApiServer).close());
      kubeconfig = join(stateDir, 'kubeconfig');
      api.writeKubeconfig(kubeconfig);
    }
    const kube = await KubeClient.connect({ kubeconfig, clock });
    await installCrds(kubeconfig);
    // The emulator serves the CSI snapshot API as a cluster with the snapshot CRDs does.
    if (api) await installSnapshotCrds((texts) => applyYaml(kubeconfig as string, texts));

    const fns: LocalFunctions = await serveFunctions({ kube, clock, log });
    closers.push(() => fns.close());

    const eventing = join(REPO_ROOT, 'eventing', 'base');
    const broker: LocalBroker = await startBroker({
      manifests: eventing,
      services: fns.urls,
      stateDir,
      clock,
      log: log.child({ component: 'broker' }),
      ...(opts.retry
        ? {
            retryOverride: { retry: opts.retry.retry ?? 5, backoffDelayMs: opts.retry.backoffDelayMs ?? 100 },
          }
        : {}),
    } as Parameters<typeof startBroker>[0]);
    closers.push(() => broker.close());

    const sources: EventSources = await startEventSources({
      manifests: eventing,
      kube: kubeconfig,
      sinks: { brokerIngress: broker.url, services: fns.urls },
      clock,
      ping: opts.ping ?? { mode: 'schedule' },
      log: log.child({ component: 'event-sources' }),
    });
    closers.push(() => sources.close());

    let jobs: JobRunner | undefined;
    if (api) {
      jobs = await startJobRunner({
        kube: kubeconfig,
        stateDir,
        repoRoot: REPO_ROOT,
        clock,
        log: log.child({ component: 'job-runner' }),
        ...(opts.jobBackoffMs
          ? { backoff: { baseMs: opts.jobBackoffMs, maxMs: opts.jobBackoffMs * 4 } }
          : {}),
        ...(opts.jobHostEnv ? { hostEnv: { ...hostEnvDefault(), ...opts.jobHostEnv } } : {}),
      });
      closers.push(() => (jobs as JobRunner).close());
      const snapshots: SnapshotController = await startSnapshotController({
        kube: kubeconfig,
        stateDir,
        clock,
        log: log.child({ component: 'snapshot-controller' }),
      });
      closers.push(() => snapshots.close());
    }
    // Discoverability for `cairn replay --local`, `cairn events` and `cairn describe`: where this
    // runtime's API, functions and Broker listen. Removed on close.
    const discovery = join(stateDir, 'runtime.json');
    const info = {
      pid: process.pid,
      kubeconfig,
      apiUrl: api?.url,
      functionUrls: fns.urls,
      brokerUrl: broker.url,
    };
    await writeFile(discovery, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    closers.push(() => rm(discovery, { force: true }));
    return {
      kubeconfig,
      apiUrl: api?.url,
      functionUrls: fns.urls,
      brokerUrl: broker.url,
      kube,
      jobs,
      async tick() {
        await sources.firePing();
        await broker.idle?.();
      },
      flushed: () => sources.flushed(),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
