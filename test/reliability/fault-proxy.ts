/**
 * A fault-injecting HTTP proxy between a KubeClient and the API emulator (issue 9): the network is
 * faked at the wire, not by mocking Cairn's modules. A plan — seeded random or scripted — picks, per
 * request, a fault or none:
 *
 * - `conflict`: 409 Conflict (a Kubernetes Status), the request not forwarded;
 * - `internal`: 500 InternalError, not forwarded;
 * - `throttle`: 429 TooManyRequests with Retry-After, not forwarded;
 * - `reset`: the client's socket destroyed, not forwarded;
 * - `lost`: forwarded (so a write is applied), then the socket destroyed: the answer is lost;
 * - `hang`: forwarded, and the answer withheld until the client gives up (or the proxy closes);
 * - `stale`: for a PUT only, the object is changed upstream first (an annotation), so the emulator
 *   itself answers 409 for the caller's now stale resourceVersion.
 *
 * Watches stream through untouched (no function watches). The proxy counts what it injected per
 * verb, what it passed, and every object the API server reports created (201), so a test can say
 * that nothing was created twice.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent, request } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { type StatusDetails, StatusError } from '../../local/apiserver/errors.ts';
import { kubeconfigYaml } from '../../local/apiserver/kubeconfig.ts';
import { type ApiTarget, authorized } from '../fixtures/api.ts';
import { seededRandom } from './seeded-random.ts';

export const FAULTS = ['conflict', 'internal', 'throttle', 'reset', 'lost', 'hang', 'stale'] as const;
export type Fault = (typeof FAULTS)[number];

/** A request as the plan sees it. `verb` is Kubernetes's (get, list, watch, create, update, patch, delete). */
export interface ApiRequest {
  /** 1-based, in arrival order. */
  seq: number;
  method: string;
  path: string;
  verb: string;
  /** The plural resource (`backups`, `jobs`), or '' for discovery and the like. */
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The query string without its `?` (`resourceVersion=0&labelSelector=…`), when there is one. */
  query?: string;
}

/** Chooses the fault for a request, or none. */
export type FaultPlan = (req: ApiRequest) => Fault | undefined;

/** `update:status`, `create`, …: the key counts are kept under. */
export function verbKey(req: Pick<ApiRequest, 'verb' | 'subresource'>): string {
  return req.subresource ? `${req.verb}:${req.subresource}` : req.verb;
}

export function isWrite(req: Pick<ApiRequest, 'method'>): boolean {
  return req.method !== 'GET' && req.method !== 'HEAD';
}

/** Which faults make sense for a request: conflicts only on writes, stale only on PUTs. */
export function applicable(fault: Fault, req: ApiRequest): boolean {
  if (fault === 'conflict' || fault === 'lost') return isWrite(req);
  if (fault === 'stale') return req.method === 'PUT' && req.name !== undefined;
  return true;
}

/** Each request is faulted with probability `rate`, the fault drawn by weight among the applicable ones. */
export function randomPlan(opts: {
  seed: number;
  rate: number;
  weights: Partial<Record<Fault, number>>;
}): FaultPlan {
  const random = seededRandom(opts.seed);
  return (req) => {
    if (random() >= opts.rate) return undefined;
    const choices = FAULTS.filter((f) => (opts.weights[f] ?? 0) > 0 && applicable(f, req));
    const total = choices.reduce((s, f) => s + (opts.weights[f] ?? 0), 0);
    let pick = random() * total;
    for (const f of choices) {
      pick -= opts.weights[f] ?? 0;
      if (pick < 0) return f;
    }
    return undefined;
  };
}

export interface FaultRule {
  match: (req: ApiRequest) => boolean;
  fault: Fault;
  /** How many matching requests get the fault (default 1); later ones pass. */
  times?: number;
}

/** The first `times` requests matching each rule get its fault; the first rule that matches wins. */
export function scriptedPlan(rules: FaultRule[]): FaultPlan {
  const left = rules.map((r) => r.times ?? 1);
  return (req) => {
    for (const [i, r] of rules.entries()) {
      if ((left[i] ?? 0) > 0 && r.match(req)) {
        left[i] = (left[i] ?? 0) - 1;
        return r.fault;
      }
    }
    return undefined;
  };
}

/** Parses a Kubernetes API path: /api/v1/namespaces/ns/pods/name/status, /apis/g/v/backups, … */
export function describeRequest(seq: number, method: string, url: string): ApiRequest {
  const u = new URL(url, 'http://proxy');
  const parts = u.pathname.split('/').filter(Boolean);
  let rest: string[] = [];
  if (parts[0] === 'api' && parts.length >= 2) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 3) rest = parts.slice(3);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource = '', name, subresource] = rest;
  const watch = u.searchParams.get('watch') === 'true' || u.searchParams.get('watch') === '1';
  const verbs: Record<string, string> = {
    POST: 'create',
    PUT: 'update',
    PATCH: 'patch',
    DELETE: name ? 'delete' : 'deletecollection',
    GET: watch ? 'watch' : name ? 'get' : 'list',
  };
  return {
    seq,
    method,
    path: u.pathname,
    verb: resource ? (verbs[method] ?? method.toLowerCase()) : 'other',
    resource,
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
    ...(subresource ? { subresource } : {}),
    ...(u.search ? { query: u.search.slice(1) } : {}),
  };
}

export interface LogEntry {
  req: ApiRequest;
  fault?: Fault;
  body?: string;
}

export interface FaultProxy {
  readonly url: string;
  /** Replaces the plan (undefined: pass everything). */
  setPlan(plan: FaultPlan | undefined): void;
  /** Faults injected, by verb key (`update:status`) and fault. */
  readonly injected: Map<string, Map<Fault, number>>;
  /** Requests forwarded untouched, by verb key. */
  readonly passed: Map<string, number>;
  /** Answers the API server gave to forwarded requests, by `verb key status` (e.g. `update:status 409`). */
  readonly answers: Map<string, number>;
  /** Objects the API server reports created (201), by `resource/namespace/name`: more than 1 is a duplicate. */
  readonly created: Map<string, number>;
  /** Every request the plan saw, with the fault it got and, for a write, its body. */
  readonly log: LogEntry[];
  /** The proxy's own failures (a plan that threw, a stale bump refused): a test should see none. */
  readonly errors: string[];
  /** Total faults injected. */
  total(): number;
  writeKubeconfig(path: string): void;
  close(): Promise<void>;
}

function bump<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** A metav1.Status as the API server writes it (the emulator's own serialiser). */
function statusBody(
  code: number,
  reason: string,
  message: string,
  req: ApiRequest,
  extra: StatusDetails = {},
): string {
  const details = { ...(req.name ? { name: req.name } : {}), kind: req.resource, ...extra };
  return JSON.stringify(new StatusError(code, reason, message, details).toStatus());
}

export async function startFaultProxy(opts: { target: ApiTarget; plan?: FaultPlan }): Promise<FaultProxy> {
  const target = new URL(opts.target.url);
  // Upstream is the emulator's https, verified against its CA; the proxy itself speaks plain http.
  const agent = new Agent({ keepAlive: true, ca: opts.target.ca });
  let plan = opts.plan;
  let seq = 0;
  const injected = new Map<string, Map<Fault, number>>();
  const passed = new Map<string, number>();
  const answers = new Map<string, number>();
  const created = new Map<string, number>();
  const log: LogEntry[] = [];
  const sockets = new Set<Socket>();
  const errors: string[] = [];

  /** Forwards `body`; resolves with the upstream response (not yet consumed). */
  function forward(req: IncomingMessage, body: Buffer, path = req.url ?? '/'): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: target.host };
      const up = request(
        { host: target.hostname, port: target.port, method: req.method, path, headers, agent },
        resolve,
      );
      up.on('error', reject);
      up.end(body);
    });
  }

  /** Changes the object upstream so that the caller's resourceVersion is stale. */
  function makeStale(r: ApiRequest): Promise<void> {
    const path = r.subresource ? r.path.slice(0, -(r.subresource.length + 1)) : r.path;
    const body = JSON.stringify({
      metadata: { annotations: { 'fault-proxy.cairn.dev/touched': String(r.seq) } },
    });
    return new Promise((resolve, reject) => {
      const up = request(
        {
          host: target.hostname,
          port: target.port,
          method: 'PATCH',
          path,
          agent,
          headers: authorized(opts.target, {
            'content-type': 'application/merge-patch+json',
            host: target.host,
          }),
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            (res.statusCode ?? 0) < 300
              ? resolve()
              : reject(new Error(`stale: PATCH ${path}: ${res.statusCode}`)),
          );
        },
      );
      up.on('error', reject);
      up.end(body);
    });
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const r = describeRequest(++seq, req.method ?? 'GET', req.url ?? '/');
    const key = verbKey(r);
    if (r.verb === 'watch') {
      // Streamed through as is, never faulted.
      const up = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
          ca: opts.target.ca,
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
      res.on('close', () => up.destroy());
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const fault = plan?.(r);
    log.push({ req: r, ...(fault ? { fault } : {}), ...(isWrite(r) ? { body: body.toString('utf8') } : {}) });
    if (fault) {
      const byFault = injected.get(key) ?? new Map<Fault, number>();
      bump(byFault, fault);
      injected.set(key, byFault);
    } else bump(passed, key);

    const answer = (code: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'content-type': 'application/json', ...headers });
      res.end(text);
    };
    switch (fault) {
      case 'conflict':
        return answer(
          409,
          statusBody(
            409,
            'Conflict',
            `Operation cannot be fulfilled on ${r.resource} "${r.name ?? ''}": injected by fault-proxy`,
            r,
          ),
        );
      case 'internal':
        return answer(
          500,
          statusBody(500, 'InternalError', 'Internal error occurred: injected by fault-proxy', r),
        );
      case 'throttle':
        return answer(
          429,
          statusBody(429, 'TooManyRequests', 'the server has received too many requests (fault-proxy)', r, {
            retryAfterSeconds: 1,
          }),
          { 'retry-after': '1' },
        );
      case 'reset':
        req.socket.destroy();
        return;
      case 'stale':
        await makeStale(r);
        break;
    }
    let up: IncomingMessage;
    try {
      up = await forward(req, body);
    } catch {
      res.destroy();
      return;
    }
    const upChunks: Buffer[] = [];
    for await (const c of up) upChunks.push(c as Buffer);
    const upBody = Buffer.concat(upChunks);
    bump(answers, `${key} ${up.statusCode}`);
    if (r.verb === 'create' && up.statusCode === 201) {
      try {
        const obj = JSON.parse(upBody.toString('utf8')) as {
          metadata?: { name?: string; namespace?: string };
        };
        bump(created, `${r.resource}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`);
      } catch {
        bump(created, `${r.resource}/?`);
      }
    }
    if (fault === 'lost') {
      req.socket.destroy();
      return;
    }
    if (fault === 'hang') return; // Applied upstream; the caller never hears of it.
    res.writeHead(up.statusCode ?? 502, up.headers);
    res.end(upBody);
  }

  const server = createServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      errors.push(`${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
      res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    setPlan(p) {
      plan = p;
    },
    injected,
    passed,
    answers,
    created,
    log,
    errors,
    total: () => [...injected.values()].reduce((s, m) => s + [...m.values()].reduce((a, b) => a + b, 0), 0),
    writeKubeconfig(path) {
      // The emulator's token: clients send it through the proxy, which forwards it as is.
      writeFileSync(path, kubeconfigYaml(url, opts.target.token, undefined), { mode: 0o600 });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
