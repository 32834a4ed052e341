/**
 * Which API server to talk to and with which credentials, found as kubectl finds them: a given
 * kubeconfig file, else $KUBECONFIG (a list of files, merged: the first file to set a name or the
 * current context wins), else ~/.kube/config, else the pod's service account (in a cluster).
 *
 * Written by hand on purpose. @kubernetes/client-node's KubeConfig does the same, but importing it
 * loads undici and its generated client: ~140 ms and 1.3–4 MB before a function can answer its
 * first event (issue 17). Plain kubeconfigs — a token, a token file, client certificates, basic
 * auth, a CA, insecure-skip-tls-verify, tls-server-name, impersonation, the in-cluster account
 * (whose token file is re-read every minute, as client-go does, since the kubelet rotates it) and
 * `exec` credential plugins (GKE, EKS, AKS: client-go's exec protocol, run here too because
 * client-node would cost the CLI its start-up and needs Node ≥ 22.19) — are read here. What is
 * rare and deprecated — `auth-provider`s — and `proxy-url` are left to client-node, imported only
 * when used.
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
      doc = await parseKubeconfig(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new KubeconfigError(`kubeconfig ${file}: ${(err as Error).message.split('\n')[0]}`);
    }
    merge(merged, file, (doc ?? {}) as Dict);
  }
  return fromMerged(merged, opts.context, opts.now);
}

/**
 * A kubeconfig is YAML, or JSON (which kubectl also writes and reads): JSON is parsed without
 * loading the YAML parser (its chunk is most of what a function's first event would compile).
 */
async function parseKubeconfig(text: string): Promise<unknown> {
  if (text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch {
      // YAML's flow style: the YAML parser reads it
    }
  }
  const yaml = await import('yaml');
  // Bundled with code splitting, a CommonJS package imported dynamically offers only `default`.
  const parse = yaml.parse ?? (yaml as unknown as { default: typeof yaml }).default.parse;
  return parse(text);
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
  if (u['auth-provider'] || c['proxy-url'])
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
  let read: (() => string | Promise<string>) | undefined =
    tokenFile && !token
      ? tokenReader(isAbsolute(tokenFile) ? tokenFile : join(dir, tokenFile), now)
      : undefined;
  if (u.exec && !token) {
    const plugin = execPlugin(u.exec as Dict, dir, server, c, now);
    // Run now: a failing plugin is a clear error before any request, and a client certificate it
    // gives goes into the connection's TLS options.
    const first = await plugin.credential();
    if (first.cert && first.key) Object.assign(tls, { cert: first.cert, key: first.key });
    if (first.token) read = async () => (await plugin.credential()).token ?? '';
  }
  return {
    server,
    namespace,
    context: name,
    source,
    tls,
    headers: async () => (read ? { ...fixed, Authorization: `Bearer ${await read()}` } : fixed),
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

interface ExecCredential {
  token?: string;
  cert?: Buffer;
  key?: Buffer;
  /** ms since the epoch; undefined: valid for as long as this process runs. */
  expires?: number;
}

/**
 * A `users[].user.exec` credential plugin, run as client-go runs it (k8s.io/client-go
 * plugin/pkg/client/auth/exec): the command with its args, the kubeconfig's env added to ours, and
 * KUBERNETES_EXEC_INFO saying what is asked (never interactively: Cairn has no prompt to give it);
 * its ExecCredential is kept until its expirationTimestamp.
 */
function execPlugin(exec: Dict, dir: string, server: string, cluster: Dict, now: () => number = Date.now) {
  const apiVersion = str(exec.apiVersion) ?? 'client.authentication.k8s.io/v1';
  const rawCommand = str(exec.command);
  if (!rawCommand) throw new KubeconfigError('users[].user.exec.command is missing');
  // As client-go: a command with a path separator is relative to the kubeconfig's folder.
  const command = rawCommand.includes('/') && !isAbsolute(rawCommand) ? join(dir, rawCommand) : rawCommand;
  if (str(exec.interactiveMode) === 'Always')
    throw new KubeconfigError(`exec plugin ${command} needs a terminal (interactiveMode: Always)`);
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const e of Array.isArray(exec.env) ? (exec.env as Dict[]) : []) {
    if (typeof e.name === 'string') env[e.name] = String(e.value ?? '');
  }
  const spec: Dict = { interactive: false };
  if (exec.provideClusterInfo === true) {
    spec.cluster = {
      server,
      'certificate-authority-data': str(cluster['certificate-authority-data']),
      'insecure-skip-tls-verify': cluster['insecure-skip-tls-verify'] === true || undefined,
      'tls-server-name': str(cluster['tls-server-name']),
      config: (cluster.extensions as Dict[] | undefined)?.find(
        (x) => x.name === 'client.authentication.k8s.io/exec',
      )?.extension,
    };
  }
  env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec });
  const hint = str(exec.installHint);
  let cached: Promise<ExecCredential> | undefined;
  const run = async (): Promise<ExecCredential> => {
    const { execFile } = await import('node:child_process');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(command, args, { env, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const why =
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? `${command} was not found${hint ? `: ${hint}` : ''}`
            : `${command} failed (exit ${String(err.code ?? err.signal)}): ${stderr.trim() || err.message}`;
        reject(new KubeconfigError(`exec credential plugin ${why}`));
      }),
    );
    let status: Dict;
    try {
      const doc = JSON.parse(out) as Dict;
      if (doc.kind !== 'ExecCredential' || doc.apiVersion !== apiVersion)
        throw new Error(
          `expected an ExecCredential of ${apiVersion}, got ${String(doc.kind)} ${String(doc.apiVersion)}`,
        );
      status = (doc.status ?? {}) as Dict;
    } catch (err) {
      throw new KubeconfigError(`exec credential plugin ${command}: ${(err as Error).message}`);
    }
    const cert = str(status.clientCertificateData);
    const key = str(status.clientKeyData);
    const expiry = str(status.expirationTimestamp);
    const token = str(status.token);
    if (!token && !(cert && key))
      throw new KubeconfigError(
        `exec credential plugin ${command} gave neither a token nor a client certificate`,
      );
    return {
      ...(token ? { token } : {}),
      ...(cert && key ? { cert: Buffer.from(cert), key: Buffer.from(key) } : {}),
      ...(expiry ? { expires: Date.parse(expiry) } : {}),
    };
  };
  return {
    async credential(): Promise<ExecCredential> {
      const current = cached && (await cached.catch(() => undefined));
      if (current && (current.expires === undefined || current.expires > now())) return current;
      cached = run();
      return cached;
    },
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
 * auth-providers (gcp, azure, oidc: deprecated in kubectl) and proxies: client-node's KubeConfig,
 * loaded with just this context, computes each request's headers and, for a proxy, the agent.
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
