/**
 * Turns an HTTP request into what the API means (RequestInfoFactory in kube-apiserver): which
 * resource, namespace, name and subresource; plus body reading and query-parameter parsing.
 */
import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { StatusError, statusErr } from './errors.ts';
import { checkBodyDepth } from './guard.ts';
import type { FieldValidation } from './objects.ts';
import { decodeKubeProtobuf } from './protobuf.ts';
import { optionalBoolParam } from './query.ts';
import type { PropagationPolicy } from './types.ts';

export interface ResourcePath {
  group: string;
  version: string;
  namespace: string | undefined;
  plural: string;
  name: string | undefined;
  subresource: string | undefined;
  /** `/api/v1/watch/...` (the legacy watch prefix). */
  legacyWatch: boolean;
}

const namespaceSubresources = new Set(['status', 'finalize']);

/** undefined when the path is not a resource path (discovery and the like). */
export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const parts = pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else return undefined;
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 2) {
    if (rest.length > 2 && !namespaceSubresources.has(rest[2]!)) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
  }
  if (rest.length === 0 || rest.length > 3) return undefined;
  return { group, version, namespace, plural: rest[0]!, name: rest[1], subresource: rest[2], legacyWatch };
}

const maxBody = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBody)
      throw new StatusError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * JSON, or YAML when the content type says so (apply patches, `kubectl create --raw` of YAML);
 * nested no deeper than the emulator can handle (guard.ts).
 */
export function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  const body = decodeBody(raw, contentType);
  checkBodyDepth(body);
  return body;
}

function decodeBody(raw: Buffer, contentType: string | undefined): unknown {
  const ct = (contentType ?? 'application/json').toLowerCase();
  if (raw.length === 0) return undefined;
  if (ct.includes('protobuf')) return decodeKubeProtobuf(raw);
  if (ct.includes('cbor')) throw statusErr.unsupportedMediaType('application/json, application/yaml');
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    if (ct.includes('yaml')) return parseYaml(text) as unknown;
    return JSON.parse(text) as unknown;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw statusErr.badRequest(`error decoding request body: ${msg}`);
  }
}

export function dryRunOf(q: URLSearchParams, body?: unknown): boolean {
  const values = q.getAll('dryRun');
  const fromBody =
    body && typeof body === 'object' && Array.isArray((body as { dryRun?: unknown }).dryRun)
      ? (body as { dryRun: string[] }).dryRun
      : [];
  for (const v of [...values, ...fromBody]) {
    if (v !== 'All')
      throw statusErr.badRequest(`Invalid dry run value: ${JSON.stringify(v)}: supported values: "All"`);
  }
  return values.length + fromBody.length > 0;
}

export function fieldValidationOf(q: URLSearchParams): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw statusErr.badRequest(
    `fieldValidation: Unsupported value: ${JSON.stringify(v)}: supported values: "Ignore", "Strict", "Warn"`,
  );
}

export function propagationOf(q: URLSearchParams, body: unknown): PropagationPolicy | undefined {
  const b = (body && typeof body === 'object' ? body : {}) as {
    propagationPolicy?: string;
    orphanDependents?: boolean;
  };
  const v = b.propagationPolicy ?? q.get('propagationPolicy') ?? undefined;
  if (v === undefined || v === '') {
    const orphan = b.orphanDependents ?? optionalBoolParam(q, 'orphanDependents');
    if (orphan === true) return 'Orphan';
    if (orphan === false) return 'Background';
    return undefined;
  }
  if (v === 'Background' || v === 'Foreground' || v === 'Orphan') return v;
  throw statusErr.badRequest(
    `propagationPolicy: Unsupported value: ${JSON.stringify(v)}: supported values: "Background", "Foreground", "Orphan"`,
  );
}

export type AcceptAs = { as: 'Table' | 'PartialObjectMetadata' | 'PartialObjectMetadataList' | 'json' };

/** What representation the Accept header asks for (first acceptable wins). */
export function acceptAs(accept: string | undefined): AcceptAs['as'] {
  if (!accept) return 'json';
  let jsonOk = false;
  for (const part of accept.split(',')) {
    const p = part.replace(/\s/g, '');
    const base = p.split(';')[0];
    if (base !== 'application/json' && base !== '*/*' && base !== 'application/*') continue;
    if (p.includes('as=Table') && p.includes('g=meta.k8s.io')) return 'Table';
    if (p.includes('as=PartialObjectMetadataList') && p.includes('g=meta.k8s.io'))
      return 'PartialObjectMetadataList';
    if (p.includes('as=PartialObjectMetadata') && p.includes('g=meta.k8s.io')) return 'PartialObjectMetadata';
    if (!p.includes('as=')) jsonOk = true;
  }
  if (!jsonOk && !accept.includes('json') && !accept.includes('*/*')) {
    throw statusErr.notAcceptable(
      'only the following media types are accepted: application/json, application/yaml',
    );
  }
  return 'json';
}
