/**
 * `GET /api/v1/namespaces/{ns}/pods/{name}/log`: what `kubectl logs` (and `kubectl logs job/x`,
 * which resolves the Job's pods first) reads. The local job runner writes each pod's output to
 * `<logDir>/<ns>/<pod>.log` (its containers one after the other, as they ran); the emulator serves
 * that file as text/plain. Supported, as kubelet does: `tailLines`, `limitBytes`, `follow` (until
 * the pod is Succeeded or Failed, or the client goes), `container` (checked against the pod spec;
 * the file holds all of a pod's containers). `previous` and `timestamps` are refused / ignored.
 */
import { open, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { StatusError } from './errors.ts';
import type { ObjectService } from './objects.ts';
import { boolParam, intParam } from './query.ts';
import type { ResourceType } from './types.ts';

const FOLLOW_POLL_MS = 200;

function badRequest(message: string): StatusError {
  return new StatusError(400, 'BadRequest', message);
}

function countParam(q: URLSearchParams, name: string): number | undefined {
  const n = intParam(q, name);
  if (n !== undefined && n < 0) throw badRequest(`${name}: expected a non-negative integer, got "${n}"`);
  return n;
}

/** The last `n` lines of `text` (a final newline does not count as the start of a line). */
function tail(text: string, n: number): string {
  if (n === 0) return '';
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  const lines = body.split('\n');
  return `${lines.slice(-n).join('\n')}${text.endsWith('\n') ? '\n' : ''}`;
}

interface PodLike {
  spec?: { containers?: { name: string }[]; initContainers?: { name: string }[] };
  status?: { phase?: string };
}

export async function servePodLog(
  svc: ObjectService,
  pods: ResourceType,
  logDir: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  ns: string,
  name: string,
): Promise<void> {
  if ((req.method ?? 'GET') !== 'GET') {
    throw new StatusError(405, 'MethodNotAllowed', `the server does not allow this method on pods/log`);
  }
  const q = url.searchParams;
  const pod = svc.get(pods, ns, name) as PodLike; // 404 NotFound like the real server
  const container = q.get('container');
  const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
  if (container !== null && !names.includes(container)) {
    throw badRequest(`container ${container} is not valid for pod ${name}`);
  }
  if (boolParam(q, 'previous')) {
    throw badRequest(`previous terminated container in pod "${name}" not found`);
  }
  const tailLines = countParam(q, 'tailLines');
  const limitBytes = countParam(q, 'limitBytes');
  const follow = boolParam(q, 'follow');
  const file = logDir ? join(logDir, ns, `${name}.log`) : undefined;
  const text = file ? await readFile(file, 'utf8').catch(() => '') : '';
  let out = Buffer.from(tailLines === undefined ? text : tail(text, tailLines));
  if (limitBytes !== undefined) out = out.subarray(0, limitBytes);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
  if (!follow || !file || (limitBytes !== undefined && out.length >= limitBytes)) {
    res.end(out);
    return;
  }
  res.write(out);
  let sent = Buffer.byteLength(text);
  let budget = limitBytes === undefined ? Number.POSITIVE_INFINITY : limitBytes - out.length;
  let closed = false;
  req.socket.setTimeout(0);
  res.on('close', () => {
    closed = true;
  });
  const finished = () => {
    try {
      const phase = (svc.get(pods, ns, name) as PodLike).status?.phase;
      return phase === 'Succeeded' || phase === 'Failed';
    } catch {
      return true; // deleted
    }
  };
  // Polls the file for what was appended; stops when the pod has finished and all is sent.
  while (!closed && budget > 0) {
    const done = finished();
    const fh = await open(file, 'r').catch(() => undefined);
    if (fh) {
      try {
        const { size } = await fh.stat();
        if (size > sent) {
          const buf = Buffer.alloc(Math.min(size - sent, budget));
          const { bytesRead } = await fh.read(buf, 0, buf.length, sent);
          sent += bytesRead;
          budget -= bytesRead;
          res.write(buf.subarray(0, bytesRead));
        }
      } finally {
        await fh.close();
      }
    }
    if (done) break;
    await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
  }
  res.end();
}
