/**
 * The HTTP face of the server: routes a request to discovery, OpenAPI or a resource verb, and
 * writes answers and errors (as metav1.Status) the way kube-apiserver does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../shared/log.ts';
import {
  aggregated,
  aggregatedMediaType,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  wantsAggregated,
} from './discovery.ts';
import { StatusError, statusErr } from './errors.ts';
import { checkBodyMediaType } from './guard.ts';
import type { ObjectService } from './objects.ts';
import type { OpenApi } from './openapi.ts';
import { patchTypeOf } from './patch.ts';
import { servePodLog } from './podlog.ts';
import { boolParam, fieldManagerOf, intParam, optionalBoolParam } from './query.ts';
import {
  acceptAs,
  dryRunOf,
  fieldValidationOf,
  parseBody,
  parseResourcePath,
  propagationOf,
  type ResourcePath,
  readBody,
} from './request.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { Stored } from './store.ts';
import { type IncludeObject, partialMetadata, table } from './table.ts';
import type { Json, KubeObject, ResourceType } from './types.ts';
import { apiVersionOf, isObject } from './types.ts';
import { startWatch, type WatchHub } from './watch.ts';

export interface Context {
  svc: ObjectService;
  openapi: OpenApi;
  hub: WatchHub;
  log: Logger;
  /** host:port as clients reach it (for /api's serverAddressByClientCIDRs). */
  address: () => string;
  /** Where the job runner writes pod logs (`<dir>/<ns>/<pod>.log`), for pods/log. */
  podLogDir?: string;
}

const jobsWarning =
  'child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning';

function send(
  res: ServerResponse,
  code: number,
  body: Json | string,
  contentType = 'application/json',
  warnings: string[] = [],
) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    'Content-Type': contentType,
    'Cache-Control': 'no-cache, private',
    'Content-Length': String(Buffer.byteLength(text)),
  };
  if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

export function sendError(res: ServerResponse, e: StatusError) {
  if (res.headersSent) {
    res.end();
    return;
  }
  send(res, e.code, e.toStatus());
}

const notFoundPath = () =>
  new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});

export async function handle(ctx: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = Date.now();
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    await route(ctx, req, res, url);
  } catch (e) {
    if (e instanceof StatusError) sendError(res, e);
    else {
      ctx.log.error('request failed', { method: req.method, path: url.pathname, error: e });
      sendError(res, statusErr.internal(e instanceof Error ? e.message : String(e)));
    }
  } finally {
    ctx.log.debug('request', {
      method: req.method,
      path: url.pathname,
      query: url.search,
      status: res.statusCode,
      ms: Date.now() - started,
    });
  }
}

async function route(ctx: Context, req: IncomingMessage, res: ServerResponse, url: URL) {
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  const reg = ctx.svc.registry;
  if (method === 'GET') {
    switch (path) {
      case '/version':
        return send(res, 200, {
          major: '1',
          minor: '32',
          gitVersion: 'v1.32.0-cairn',
          gitCommit: '0000000000000000000000000000000000000000',
          gitTreeState: 'clean',
          buildDate: '2025-01-01T00:00:00Z',
          goVersion: 'go1.23.4',
          compiler: 'gc',
          platform: 'linux/amd64',
        });
      case '/healthz':
      case '/livez':
      case '/readyz':
        return send(res, 200, 'ok', 'text/plain; charset=utf-8');
      case '/api':
        if (wantsAggregated(req.headers.accept))
          return send(res, 200, aggregated(reg, true), aggregatedMediaType);
        return send(res, 200, apiVersions(ctx.address()));
      case '/apis':
        if (wantsAggregated(req.headers.accept))
          return send(res, 200, aggregated(reg, false), aggregatedMediaType);
        return send(res, 200, apiGroupList(reg));
      case '/openapi/v2':
        if (
          !(req.headers.accept ?? 'application/json').includes('json') &&
          !(req.headers.accept ?? '').includes('*/*')
        ) {
          throw statusErr.notAcceptable('only application/json is served');
        }
        return send(res, 200, ctx.openapi.v2());
      case '/openapi/v3':
        return send(res, 200, ctx.openapi.index());
    }
    if (path.startsWith('/openapi/v3/')) {
      const doc = ctx.openapi.groupVersion(path.slice('/openapi/v3/'.length));
      if (!doc) throw notFoundPath();
      res.setHeader('ETag', `"${doc.hash}"`);
      if (url.searchParams.get('hash') === doc.hash) res.setHeader('Cache-Control', 'public, immutable');
      return send(res, 200, doc.json);
    }
    const parts = path.split('/').filter(Boolean);
    if (parts[0] === 'api' && parts.length === 2) {
      if (!reg.groupVersionExists('', parts[1]!)) throw notFoundPath();
      return send(res, 200, apiResourceList(reg, '', parts[1]!));
    }
    if (parts[0] === 'apis' && parts.length === 2) {
      const g = apiGroup(reg, parts[1]!);
      if (!g) throw notFoundPath();
      return send(res, 200, g);
    }
    if (parts[0] === 'apis' && parts.length === 3) {
      if (!reg.groupVersionExists(parts[1]!, parts[2]!)) throw notFoundPath();
      return send(res, 200, apiResourceList(reg, parts[1]!, parts[2]!));
    }
  }
  const rp = parseResourcePath(path);
  if (!rp) throw notFoundPath();
  const rt = reg.byResource(rp.group, rp.version, rp.plural);
  if (!rt) throw notFoundPath();
  checkBodyMediaType(req, rt);
  if (rp.subresource === 'log' && rt.group === '' && rt.plural === 'pods' && rp.namespace && rp.name) {
    return servePodLog(ctx.svc, rt, ctx.podLogDir, req, res, url, rp.namespace, rp.name);
  }
  if (rp.subresource !== undefined && !(rp.subresource === 'status' && rt.hasStatus)) throw notFoundPath();
  if (!rt.namespaced && rp.namespace !== undefined) throw notFoundPath();
  return resource(ctx, req, res, url, rt, rp);
}

async function resource(
  ctx: Context,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  rt: ResourceType,
  rp: ResourcePath,
) {
  const { svc } = ctx;
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  const ns = rt.namespaced ? rp.namespace : undefined;
  const sub = rp.subresource === 'status' ? ('status' as const) : undefined;
  const as = acceptAs(req.headers.accept);
  const include = (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
  const now = svc.clock.now();
  const isWatch = rp.legacyWatch || boolParam(q, 'watch');

  if (rp.name === undefined) {
    if (sub) throw notFoundPath();
    if (method === 'GET' && isWatch) {
      const fieldSelector = parseFieldSelector(q.get('fieldSelector'));
      svc.checkFieldSelector(rt, fieldSelector);
      req.socket.setTimeout(0);
      return startWatch(
        svc,
        ctx.hub,
        {
          rt,
          namespace: ns,
          labelSelector: parseLabelSelector(q.get('labelSelector')),
          fieldSelector,
          resourceVersion: q.get('resourceVersion') ?? undefined,
          sendInitialEvents: optionalBoolParam(q, 'sendInitialEvents') === true,
          allowBookmarks: boolParam(q, 'allowWatchBookmarks'),
          timeoutSeconds: intParam(q, 'timeoutSeconds'),
          asTable: as === 'Table' ? include : undefined,
        },
        res,
      );
    }
    if (method === 'GET') {
      const result = svc.list(rt, ns, {
        labelSelector: parseLabelSelector(q.get('labelSelector')),
        fieldSelector: parseFieldSelector(q.get('fieldSelector')),
        limit: intParam(q, 'limit'),
        continue: q.get('continue') ?? undefined,
      });
      const meta: { [k: string]: Json } = { resourceVersion: String(result.resourceVersion) };
      if (result.continue) meta.continue = result.continue;
      if (result.remainingItemCount !== undefined) meta.remainingItemCount = result.remainingItemCount;
      if (as === 'Table')
        return send(
          res,
          200,
          table(
            rt,
            result.items.map((s) => svc.present(rt, s.obj)),
            now,
            include,
            meta,
          ),
        );
      if (as === 'PartialObjectMetadataList' || as === 'PartialObjectMetadata') {
        return send(res, 200, {
          kind: 'PartialObjectMetadataList',
          apiVersion: 'meta.k8s.io/v1',
          metadata: meta,
          items: result.items.map((s) => partialMetadata(s.obj)),
        });
      }
      return send(res, 200, listJson(svc, rt, result.items, meta));
    }
    if (method === 'POST') {
      const body = parseBody(await readBody(req), req.headers['content-type']);
      const r = await svc.create(rt, ns, body, {
        dryRun: dryRunOf(q),
        fieldValidation: fieldValidationOf(q),
        fieldManager: fieldManagerOf(q, req.headers['user-agent']),
      });
      return send(res, 201, r.obj as unknown as Json, 'application/json', r.warnings);
    }
    if (method === 'DELETE') {
      const body = parseBody(await readBody(req), req.headers['content-type']);
      const result = svc.list(rt, ns, {
        labelSelector: parseLabelSelector(q.get('labelSelector')),
        fieldSelector: parseFieldSelector(q.get('fieldSelector')),
      });
      const deleted: KubeObject[] = [];
      const propagationPolicy = propagationOf(q, body);
      for (const s of result.items) {
        try {
          const r = await svc.delete(rt, s.obj.metadata.namespace, s.obj.metadata.name!, {
            dryRun: dryRunOf(q, body),
            propagationPolicy,
          });
          deleted.push(r.obj);
        } catch (e) {
          if (!(e instanceof StatusError && e.code === 404)) throw e;
        }
      }
      return send(res, 200, {
        kind: rt.listKind,
        apiVersion: apiVersionOf(rt),
        metadata: { resourceVersion: String(svc.store.resourceVersion) },
        items: deleted as unknown as Json,
      });
    }
    throw statusErr.methodNotAllowed('the server does not allow this method on the requested resource');
  }

  const name = rp.name;
  switch (method) {
    case 'GET': {
      if (isWatch)
        throw statusErr.methodNotAllowed('the server does not allow this method on the requested resource');
      const obj = svc.get(rt, ns, name);
      if (as === 'Table')
        return send(
          res,
          200,
          table(rt, [obj], now, include, { resourceVersion: obj.metadata.resourceVersion ?? '' }),
        );
      if (as === 'PartialObjectMetadata') return send(res, 200, partialMetadata(obj));
      return send(res, 200, obj as unknown as Json);
    }
    case 'PUT': {
      const body = parseBody(await readBody(req), req.headers['content-type']);
      const r = await svc.update(rt, ns, name, body, {
        dryRun: dryRunOf(q),
        fieldValidation: fieldValidationOf(q),
        subresource: sub,
        fieldManager: fieldManagerOf(q, req.headers['user-agent']),
      });
      return send(res, 200, r.obj as unknown as Json, 'application/json', r.warnings);
    }
    case 'PATCH': {
      const type = patchTypeOf(req.headers['content-type']);
      if (!type) {
        throw new StatusError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${rt.builtin ? ', application/strategic-merge-patch+json' : ''}`,
        );
      }
      if (type === 'apply' && !q.get('fieldManager')) {
        throw statusErr.badRequest('PATCH /apply requests require a non-empty fieldManager');
      }
      const body = parseBody(await readBody(req), type === 'apply' ? 'application/yaml' : 'application/json');
      const r = await svc.patch(rt, ns, name, type, body, {
        dryRun: dryRunOf(q),
        fieldValidation: fieldValidationOf(q),
        subresource: sub,
        force: boolParam(q, 'force'),
        fieldManager: fieldManagerOf(q, req.headers['user-agent']),
      });
      return send(res, r.created ? 201 : 200, r.obj as unknown as Json, 'application/json', r.warnings);
    }
    case 'DELETE': {
      if (sub)
        throw statusErr.methodNotAllowed('the server does not allow this method on the requested resource');
      const body = parseBody(await readBody(req), req.headers['content-type']);
      const propagationPolicy = propagationOf(q, body);
      const pre =
        isObject(body) && isObject(body.preconditions)
          ? (body.preconditions as { uid?: string; resourceVersion?: string })
          : undefined;
      const r = await svc.delete(rt, ns, name, {
        dryRun: dryRunOf(q, body),
        propagationPolicy,
        ...(pre ? { preconditions: pre } : {}),
      });
      const warnings = rt.storage === 'batch/jobs' && propagationPolicy === undefined ? [jobsWarning] : [];
      // endpoints/handlers/delete.go: 202 when the deletion is deferred and orphanDependents=false asked for it.
      const orphanDependents =
        isObject(body) && typeof body.orphanDependents === 'boolean'
          ? body.orphanDependents
          : optionalBoolParam(q, 'orphanDependents');
      const code = !r.deleted && orphanDependents === false ? 202 : 200;
      if (r.deleted && !rt.returnDeletedObject) {
        return send(
          res,
          200,
          {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            details: { name, group: rt.group, kind: rt.plural, uid: r.obj.metadata.uid ?? '' },
          },
          'application/json',
          warnings,
        );
      }
      return send(res, code, r.obj as unknown as Json, 'application/json', warnings);
    }
    default:
      throw statusErr.methodNotAllowed('the server does not allow this method on the requested resource');
  }
}

/**
 * A list as one string built from each object's cached JSON: 10,000 objects cost a join, not a
 * re-serialisation. Built-in lists leave apiVersion/kind off their items, as the real server does.
 */
function listJson(
  svc: ObjectService,
  rt: ResourceType,
  items: Stored[],
  meta: { [k: string]: Json },
): string {
  const parts: string[] = [];
  for (const s of items) {
    const shown = svc.present(rt, s.obj);
    const json = shown === s.obj ? s.json : JSON.stringify(shown);
    if (rt.builtin) {
      const at = json.indexOf('"metadata":');
      parts.push(at > 0 ? `{${json.slice(at)}` : json);
    } else parts.push(json);
  }
  return `{"kind":${JSON.stringify(rt.listKind)},"apiVersion":${JSON.stringify(apiVersionOf(rt))},"metadata":${JSON.stringify(meta)},"items":[${parts.join(',')}]}`;
}
