/**
 * Which API server to talk to and with which credentials, found as kubectl finds them: a given
 * kubeconfig file, else $KUBECONFIG (a list of files, merged: the first file to set a name or the
 * current context wins), else ~/.kube/config, else the pod's service account (in a cluster).
 *
 * Written by hand on purpose. @kubernetes/client-node's KubeConfig does the same, but importing it
 * loads undici and its generated client: ~140 ms and 1.3–4 MB before a function can answer its
 * first event (issue 17). Plain kubeconfigs — a token, a token file, client certificates, basic
 * auth, a CA, insecure-skip-tls-verify, tls-server-name, impersonation, and the in-cluster account
 * (whose token file is re-read every minute, as client-go does, since the kubelet rotates it) —
 * are read here. What a kubeconfig rarely has and a library must do right — `exec` credential
 * plugins, `auth-provider`s, `proxy-url` — is left to client-node, imported only when used.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { CairnError } from './errors.ts';

/** A kubeconfig that cannot be used; `field` is `context` when the asked-for context is missing. */
export class KubeconfigError extends CairnError {
  constructor(message: string, field?: string) {
    super('InvalidSpec', message, { code: 500, ...(field === undefined ? {} : { field }) });
  }
}

export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
}

/** Where requests go and what they carry. */
export interface Endpoint {
  /** The API server's URL, without a trailing slash. */
  server: string;
  /** The context's namespace (in a cluster: the pod's), if it names one. */
  namespace: string | undefined;
  /** The context in use, or undefined in a cluster. */
  context: string | undefined;
  /** Where the configuration came from (a file, or `in-cluster`), for messages. */
  source: string;
  tls: TlsOptions;
  /** The headers each request carries (Authorization, impersonation); re-read as tokens rotate. */
  headers(): Promise<Record<string, string>>;
  /** An agent to use instead of Cairn's own (a proxy-url, which client-node handles). */
  agent?: Agent;
}

export interface LoadOptions {
  /** A kubeconfig file (`--kubeconfig`); otherwise $CAIRN_KUBECONFIG, $KUBECONFIG, ~/.kube/config, in-cluster. */
  kubeconfig?: string;
  /** A context other than the current one (`--context`). */
  context?: string;
  /** For tests: the environment and the service account folder to read. */
  env?: NodeJS.ProcessEnv;
  serviceAccountDir?: string;
  home?: string;
  /** For tests: the clock token files are re-read by. */
  now?: () => number;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** client-go re-reads a token file at most once a minute (cachingTokenSource); so does Cairn. */
const TOKEN_FILE_TTL_MS = 60_000;

type Dict = Record<string, unknown>;
interface Named {
  name: string;
  /** The file that defined it: relative paths in it are relative to that file's folder. */
  dir: string;
  value: Dict;
}
interface Merged {
  clusters: Map<string, Named>;
  users: Map<string, Named>;
  contexts: Map<string, Named>;
  currentContext: string | undefined;
  files: string[];
}

export async function loadKubeconfig(opts: LoadOptions = {}): Promise<Endpoint> {
  const env = opts.env ?? process.env;
  const explicit = opts.kubeconfig ?? (env.CAIRN_KUBECONFIG || undefined);
  let files: string[];
  if (explicit) {
    if (!existsSync(explicit)) throw new KubeconfigError(`kubeconfig ${explicit} does not exist`);
    files = [explicit];
  } else if (env.KUBECONFIG) {
    // As kubectl: empty entries and files that do not exist are skipped.
    files = env.KUBECONFIG.split(delimiter).filter((f) => f !== '' && existsSync(f));
  } else {
    const home = join(opts.home ?? homedir(), '.kube', 'config');
    files = existsSync(home) ? [home] : [];
  }
  if (files.length === 0) {
    const sa = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
    if (!env.KUBECONFIG && env.KUBERNETES_SERVICE_HOST && existsSync(join(sa, 'token'))) {
      if (opts.context)
        throw new KubeconfigError(`no context "${opts.context}": in a cluster there is none`, 'context');
      return inCluster(env, sa, opts.now);
    }
    throw new KubeconfigError(
      'no kubeconfig: pass --kubeconfig, set KUBECONFIG, write ~/.kube/config, or run in a cluster',
    );
  }
  const yaml = await import('yaml');
  // Bundled with code splitting, a CommonJS package imported dynamically offers only `default`.
  const parse = yaml.parse ?? (yaml as unknown as { default: typeof yaml }).default.parse;
  const merged: Merged = {
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
    currentContext: undefined,
    files,
  };
  for (const file of files) {
    let doc: unknown;
    try {
      doc = parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new KubeconfigError(`kubeconfig ${file}: ${(err as Error).message.split('\n')[0]}`);
    }
    merge(merged, file, (doc ?? {}) as Dict);
  }
  return fromMerged(merged, opts.context, opts.now);
}

/** kubectl's merge: the first file to define a name keeps it; the first current-context wins. */
function merge(m: Merged, file: string, doc: Dict): void {
  const dir = dirname(file);
  const add = (into: Map<string, Named>, list: unknown, key: string) => {
    if (list == null) return;
    if (!Array.isArray(list)) throw new KubeconfigError(`kubeconfig ${file}: ${key}s must be a list`);
    for (const [i, entry] of list.entries()) {
      const e = entry as Dict | null;
      const name = e?.name;
      if (typeof name !== 'string' || name === '')
        throw new KubeconfigError(`kubeconfig ${file}: ${key}s[${i}].name is missing`);
      if (!into.has(name)) into.set(name, { name, dir, value: (e?.[key] ?? {}) as Dict });
    }
  };
  add(m.clusters, doc.clusters, 'cluster');
  add(m.users, doc.users, 'user');
  add(m.contexts, doc.contexts, 'context');
  const cur = doc['current-context'];
  if (m.currentContext === undefined && typeof cur === 'string' && cur !== '') m.currentContext = cur;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function fileOrData(dir: string, file: unknown, data: unknown): Buffer | undefined {
  const d = str(data);
  if (d) return Buffer.from(d, 'base64');
  const f = str(file);
  return f ? readFileSync(isAbsolute(f) ? f : join(dir, f)) : undefined;
}

async function fromMerged(m: Merged, wanted: string | undefined, now?: () => number): Promise<Endpoint> {
  const source = m.files.join(delimiter);
  const name = wanted ?? m.currentContext;
  if (!name) throw new KubeconfigError(`kubeconfig ${source}: current-context is not set (use --context)`);
  const ctx = m.contexts.get(name);
  if (!ctx)
    throw new KubeconfigError(`no context "${name}" in kubeconfig ${source}`, wanted ? 'context' : undefined);
  const clusterName = str(ctx.value.cluster);
  const cluster = clusterName ? m.clusters.get(clusterName) : undefined;
  if (!cluster)
    throw new KubeconfigError(`context "${name}": no cluster "${clusterName ?? ''}" in ${source}`);
  const c = cluster.value;
  const server = str(c.server)?.replace(/\/+$/, '');
  if (!server) throw new KubeconfigError(`cluster "${cluster.name}" has no server in ${source}`);
  const userName = str(ctx.value.user);
  const user = userName ? m.users.get(userName) : undefined;
  if (userName && !user) throw new KubeconfigError(`context "${name}": no user "${userName}" in ${source}`);
  const u = user?.value ?? {};
  const namespace = str(ctx.value.namespace);
  if (u.exec || u['auth-provider'] || c['proxy-url'])
    return delegated({ server, namespace, context: name, source }, cluster, user);

  const tls: TlsOptions = {};
  const ca = fileOrData(cluster.dir, c['certificate-authority'], c['certificate-authority-data']);
  if (ca) tls.ca = ca;
  if (c['insecure-skip-tls-verify'] === true) tls.rejectUnauthorized = false;
  const servername = str(c['tls-server-name']);
  if (servername) tls.servername = servername;
  const dir = user?.dir ?? cluster.dir;
  const cert = fileOrData(dir, u['client-certificate'], u['client-certificate-data']);
  const key = fileOrData(dir, u['client-key'], u['client-key-data']);
  if (cert) tls.cert = cert;
  if (key) tls.key = key;

  const fixed: Record<string, string> = {};
  const username = str(u.username);
  if (username)
    fixed.Authorization = `Basic ${Buffer.from(`${username}:${str(u.password) ?? ''}`).toString('base64')}`;
  const token = str(u.token);
  if (token) fixed.Authorization = `Bearer ${token}`;
  const as = str(u.as);
  if (as) fixed['Impersonate-User'] = as;
  const tokenFile = str(u.tokenFile) ?? str(u['token-file']);
  const read =
    tokenFile && !token
      ? tokenReader(isAbsolute(tokenFile) ? tokenFile : join(dir, tokenFile), now)
      : undefined;
  return {
    server,
    namespace,
    context: name,
    source,
    tls,
    headers: async () => (read ? { ...fixed, Authorization: `Bearer ${read()}` } : fixed),
  };
}

/** A token file, re-read once it is a minute old. */
function tokenReader(file: string, now: () => number = Date.now): () => string {
  let token = '';
  let readAt = Number.NEGATIVE_INFINITY;
  return () => {
    if (now() - readAt > TOKEN_FILE_TTL_MS) {
      token = readFileSync(file, 'utf8').trim();
      readAt = now();
    }
    return token;
  };
}

/** The pod's service account, as client-go's InClusterConfig reads it. */
function inCluster(env: NodeJS.ProcessEnv, dir: string, now?: () => number): Endpoint {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const nsFile = join(dir, 'namespace');
  const read = tokenReader(join(dir, 'token'), now);
  const caFile = join(dir, 'ca.crt');
  return {
    server,
    namespace: existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() || undefined : undefined,
    context: undefined,
    source: 'in-cluster',
    tls: existsSync(caFile) ? { ca: readFileSync(caFile) } : {},
    headers: async () => ({ Authorization: `Bearer ${read()}` }),
  };
}

/**
 * exec plugins, auth-providers and proxies: client-node's KubeConfig, loaded with just this
 * context, computes each request's headers (it caches exec credentials until they expire) and,
 * for a proxy, the agent.
 */
async function delegated(
  base: Pick<Endpoint, 'server' | 'namespace' | 'context' | 'source'>,
  cluster: Named,
  user: Named | undefined,
): Promise<Endpoint> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const context = base.context ?? 'cairn';
  kc.loadFromString(
    JSON.stringify({
      clusters: [{ name: cluster.name, cluster: cluster.value }],
      users: user ? [{ name: user.name, user: user.value }] : [],
      contexts: [{ name: context, context: { cluster: cluster.name, ...(user ? { user: user.name } : {}) } }],
      'current-context': context,
    }),
  );
  // Relative certificate paths are relative to the kubeconfig that named them.
  const absolute = (dir: string, f: string | undefined) => (f && !isAbsolute(f) ? join(dir, f) : f);
  for (const c of kc.clusters) (c as { caFile?: string }).caFile = absolute(cluster.dir, c.caFile);
  for (const u of kc.users) {
    const dir = user?.dir ?? cluster.dir;
    Object.assign(u, { certFile: absolute(dir, u.certFile), keyFile: absolute(dir, u.keyFile) });
  }
  const apply = async () => {
    const o: { headers?: Record<string, string> } & TlsOptions & { agent?: Agent } = {};
    await kc.applyToHTTPSOptions(o as Parameters<typeof kc.applyToHTTPSOptions>[0]);
    return o;
  };
  const first = await apply();
  const tls: TlsOptions = {};
  for (const k of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const) {
    if (first[k] !== undefined) Object.assign(tls, { [k]: first[k] });
  }
  return {
    ...base,
    tls,
    headers: async () => ({ ...((await apply()).headers ?? {}) }),
    ...(cluster.value['proxy-url'] && first.agent ? { agent: first.agent } : {}),
  };
}
