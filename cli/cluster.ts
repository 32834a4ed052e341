/**
 * Which API server the CLI talks to, found as kubectl finds it (--kubeconfig, $KUBECONFIG,
 * ~/.kube/config, with --context and --namespace), falling back to the local runtime's kubeconfig;
 * and what the local runtime says about itself in `<state-dir>/runtime.json`.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeClient } from '../shared/kube.ts';
import { type Globals, OperationFailed, UsageError } from './command.ts';

/** What local/runtime.ts writes to `<stateDir>/runtime.json` while it runs. */
export interface RuntimeInfo {
  pid: number;
  kubeconfig: string;
  apiUrl?: string;
  functionUrls: Record<string, string>;
  brokerUrl: string;
}

export async function readRuntime(stateDir: string): Promise<RuntimeInfo | undefined> {
  const file = join(stateDir, 'runtime.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as RuntimeInfo;
}

export interface Cluster {
  kube: KubeClient;
  /** The namespace to work in (--namespace, the context's, or "default"). */
  namespace: string;
  /** undefined with --all-namespaces. */
  listNamespace: string | undefined;
  /** The API server's URL. */
  server: string | undefined;
  /** The last lines of a pod's log, or undefined when the API cannot give them. */
  podLog(namespace: string, pod: string, tailLines: number): Promise<string | undefined>;
}

function kubeconfigFile(g: Globals): string | undefined {
  if (g.kubeconfig) return resolve(g.kubeconfig);
  if (process.env.KUBECONFIG || process.env.CAIRN_KUBECONFIG) return undefined;
  if (existsSync(join(homedir(), '.kube', 'config'))) return undefined;
  const local = join(resolve(g.stateDir), 'kubeconfig');
  return existsSync(local) ? local : undefined;
}

export async function connect(g: Globals): Promise<Cluster> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const file = kubeconfigFile(g);
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
  } catch (err) {
    throw new OperationFailed(
      `cannot read the kubeconfig${file ? ` ${file}` : ''}: ${(err as Error).message}`,
    );
  }
  if (g.context) {
    if (!kc.getContextObject(g.context))
      throw new UsageError(`--context: no context "${g.context}" in the kubeconfig`);
    kc.setCurrentContext(g.context);
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server)
    throw new OperationFailed('no cluster configured: pass --kubeconfig, set KUBECONFIG, or run npm start');
  const ctxNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const namespace = g.namespace ?? ctxNamespace ?? 'default';
  const kube = await KubeClient.connect({
    ...(file ? { kubeconfig: file } : {}),
    ...(g.context ? { context: g.context } : {}),
  });
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    kube,
    namespace,
    listNamespace: g.allNamespaces ? undefined : namespace,
    server,
    async podLog(ns, pod, tailLines) {
      try {
        return await core.readNamespacedPodLog({ name: pod, namespace: ns, tailLines });
      } catch {
        return undefined;
      }
    },
  };
}
