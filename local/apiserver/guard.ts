/**
 * The door of the API emulator: what a request must pass before any handler sees it.
 *
 * - The request path is a valid URL path. Go's net/http refuses a malformed `%` escape before
 *   kube-apiserver's handlers run, with a plain-text `400 Bad Request` and a closed connection.
 * - Host names loopback (`localhost`, 127.0.0.0/8, `[::1]`). kube-apiserver has no such check; a
 *   server on a developer's machine needs it against DNS rebinding (a web page whose own name
 *   resolves to 127.0.0.1 would otherwise be same-origin with this port).
 * - Authentication: the bearer token the emulator wrote into its kubeconfig (random, kept in the
 *   state folder, 0600). Anything else is answered 401 as kube-apiserver with
 *   `--anonymous-auth=false` answers it: a `Status` with reason Unauthorized, message
 *   "Unauthorized", whatever the path (/version and /healthz included).
 * - Body media types, as kube's NegotiateInputSerializer: an empty Content-Type means the first
 *   supported type (JSON); anything not supported is a 415 that lists what is
 *   (handlers check PATCH's own four types). So a browser's cross-site "simple request"
 *   (`text/plain`, no Authorization header) can neither authenticate nor be parsed.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import { MIMEType } from 'node:util';
import { StatusError, statusErr } from './errors.ts';
import type { ResourceType } from './types.ts';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** An IP address or host name that only ever means this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  const family = isIP(h);
  if (family === 4) return loopback.check(h, 'ipv4');
  if (family === 6) return loopback.check(h, 'ipv6') || /^::ffff:127\./.test(h);
  return false;
}

const TOKEN_FILE = 'token';

/**
 * The emulator's bearer token: read from `<stateDir>/token`, or made (32 random bytes, base64url)
 * and written there 0600, so a kubeconfig written earlier keeps working after a restart.
 * Without a state folder every server gets a fresh one.
 */
export function loadOrCreateToken(stateDir: string | undefined): string {
  if (!stateDir) return randomBytes(32).toString('base64url');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, TOKEN_FILE);
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token !== '') {
      chmodSync(file, 0o600);
      return token;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** The token of an `Authorization` header, as kube's bearer-token authenticator reads it. */
function bearerToken(header: string | undefined): string | undefined {
  const parts = (header ?? '').trim().split(' ');
  if (parts.length < 2 || parts[0]!.toLowerCase() !== 'bearer' || parts[1] === '') return undefined;
  return parts[1];
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether a path's `%` escapes all decode (Go's url.ParseRequestURI rejects the others). */
function validEscapes(rawPath: string): boolean {
  return !/%(?![0-9a-fA-F]{2})/.test(rawPath);
}

export interface Guard {
  /**
   * Answers a request that may not pass (and returns false), or returns true. Runs before the
   * body is read.
   */
  admit(
    req: IncomingMessage,
    res: ServerResponse,
    sendError: (res: ServerResponse, e: StatusError) => void,
  ): boolean;
}

export function createGuard(token: string): Guard {
  const want = digest(token);
  return {
    admit(req, res, sendError) {
      const rawPath = (req.url ?? '/').split('?')[0]!;
      if (!validEscapes(rawPath)) {
        const text = '400 Bad Request';
        res.writeHead(400, {
          'Content-Type': 'text/plain; charset=utf-8',
          'Content-Length': String(text.length),
          Connection: 'close',
        });
        res.end(text);
        return false;
      }
      const host = req.headers.host ?? '';
      let hostname: string;
      try {
        hostname = new URL(`http://${host}`).hostname;
      } catch {
        hostname = '';
      }
      if (!isLoopback(hostname)) {
        sendError(
          res,
          statusErr.badRequest(
            `Host ${JSON.stringify(host)} is not a loopback name: the local API emulator answers only requests addressed to localhost, 127.0.0.1 or [::1]`,
          ),
        );
        return false;
      }
      const got = bearerToken(req.headers.authorization);
      if (got === undefined || !timingSafeEqual(digest(got), want)) {
        sendError(res, new StatusError(401, 'Unauthorized', 'Unauthorized'));
        return false;
      }
      return true;
    },
  };
}

const JSON_YAML = ['application/json', 'application/yaml'];
const WITH_PROTOBUF = [...JSON_YAML, 'application/vnd.kubernetes.protobuf'];

/**
 * Refuses a body whose media type the real server would not decode: POST and PUT take JSON,
 * YAML and (built-in kinds only) protobuf; a DELETE's body (DeleteOptions) the three. PATCH has
 * its own four types, checked by its handler.
 */
export function checkBodyMediaType(req: IncomingMessage, rt: ResourceType): void {
  const method = req.method ?? 'GET';
  let accepted: string[];
  if (method === 'POST' || method === 'PUT') accepted = rt.builtin ? WITH_PROTOBUF : JSON_YAML;
  else if (method === 'DELETE') {
    const hasBody =
      Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (!hasBody) return;
    accepted = WITH_PROTOBUF;
  } else return;
  const header = req.headers['content-type'];
  if (header === undefined || header === '') return;
  let essence: string | undefined;
  try {
    essence = new MIMEType(header).essence;
  } catch {
    essence = undefined;
  }
  if (essence === undefined || !accepted.includes(essence))
    throw statusErr.unsupportedMediaType(accepted.join(', '));
}

/**
 * kube-apiserver decodes JSON up to 10,000 levels deep (encoding/json's maxNestingDepth) and
 * answers deeper bodies 400. The emulator's handling is recursive (structuredClone, pruning,
 * validation) and would exhaust the stack well before that, answering 500; so it stops at a
 * depth no Kubernetes object comes near, with the same 400. Iterative, so it cannot overflow.
 */
export const MAX_BODY_DEPTH = 1000;

export function checkBodyDepth(value: unknown): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_BODY_DEPTH)
      throw statusErr.badRequest(
        `error decoding request body: exceeded max depth (objects and arrays nested more than ${MAX_BODY_DEPTH} deep)`,
      );
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
}
