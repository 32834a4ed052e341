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
import { type Endpoint, KubeconfigError, loadKubeconfig } from '../shared/kubeconfig.ts';
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
  const file = kubeconfigFile(g);
  let endpoint: Endpoint;
  try {
    endpoint = await loadKubeconfig({
      ...(file ? { kubeconfig: file } : {}),
      ...(g.context ? { context: g.context } : {}),
    });
  } catch (err) {
    if (err instanceof KubeconfigError && err.field === 'context')
      throw new UsageError(`--context: no context "${g.context}" in the kubeconfig`);
    if (err instanceof KubeconfigError && !file && !process.env.KUBECONFIG)
      throw new OperationFailed('no cluster configured: pass --kubeconfig, set KUBECONFIG, or run npm start');
    throw new OperationFailed(
      `cannot read the kubeconfig${file ? ` ${file}` : ''}: ${(err as Error).message}`,
    );
  }
  const kube = await KubeClient.connect({ endpoint });
  const namespace = g.namespace ?? endpoint.namespace ?? 'default';
  return {
    kube,
    namespace,
    listNamespace: g.allNamespaces ? undefined : namespace,
    server: endpoint.server,
    async podLog(ns, pod, tailLines) {
      try {
        return await kube.podLog(ns, pod, { tailLines });
      } catch {
        return undefined;
      }
    },
  };
}
