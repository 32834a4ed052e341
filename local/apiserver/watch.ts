/**
 * Watches: a chunked stream of `{"type":…,"object":…}` lines, started from a resourceVersion
 * (410 Expired inside the stream when it is older than the history, as the watch cache does),
 * with the initial state first when no resourceVersion (or "0") is given or sendInitialEvents is
 * set, selector transitions turned into ADDED/DELETED, and periodic BOOKMARKs on request.
 */
import type { ServerResponse } from 'node:http';
import { StatusError } from './errors.ts';
import type { ObjectService } from './objects.ts';
import type { FieldRequirement, LabelSelector } from './selectors.ts';
import type { Change } from './store.ts';
import { type IncludeObject, table } from './table.ts';
import type { Json, KubeObject, ResourceType } from './types.ts';
import { apiVersionOf } from './types.ts';

export interface WatchRequest {
  rt: ResourceType;
  namespace: string | undefined;
  /** Watch a single object (fieldSelector metadata.name=… is how clients do it; kept generic). */
  labelSelector: LabelSelector;
  fieldSelector: FieldRequirement[];
  resourceVersion: string | undefined;
  sendInitialEvents: boolean;
  allowBookmarks: boolean;
  timeoutSeconds: number | undefined;
  /** Objects as a meta.k8s.io Table (kubectl get -w). */
  asTable: IncludeObject | undefined;
}

export interface WatchHub {
  /** Open watches, so the server can end them on close. */
  readonly open: Set<ServerResponse>;
  bookmarkIntervalMs: number;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export function startWatch(svc: ObjectService, hub: WatchHub, req: WatchRequest, res: ServerResponse): void {
  const { rt } = req;
  const now = () => svc.clock.now();
  let headersSent = false;
  let tableHeadersSent = false;
  const write = (type: EventType, obj: KubeObject | Json, objJson?: string) => {
    // The watch's timeout ends the response before 'finish' runs stop(): a bookmark or change in
    // between has nowhere to go.
    if (res.writableEnded || res.destroyed) return;
    if (!headersSent) {
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Cache-Control': 'no-cache, private',
        'Transfer-Encoding': 'chunked',
      });
      headersSent = true;
    }
    let body: string;
    if (req.asTable && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')) {
      const t = table(
        rt,
        [obj as KubeObject],
        now(),
        req.asTable,
        { resourceVersion: (obj as KubeObject).metadata.resourceVersion ?? '' },
        !tableHeadersSent,
      );
      tableHeadersSent = true;
      body = JSON.stringify(t);
    } else body = objJson ?? JSON.stringify(obj);
    res.write(`{"type":"${type}","object":${body}}\n`);
  };
  const inScope = (o: KubeObject) =>
    !rt.namespaced || req.namespace === undefined || o.metadata.namespace === req.namespace;
  const matches = (o: KubeObject | undefined) => o !== undefined && inScope(o) && svc.matches(rt, o, req);
  const send = (type: EventType, stored: KubeObject, json: string) => {
    const shown = svc.present(rt, stored);
    write(type, shown, shown === stored ? json : undefined);
  };

  const deliver = (c: Change) => {
    if (c.storage !== rt.storage || c.rv <= startRv) return;
    const after = c.type === 'DELETED' ? false : matches(c.obj);
    const before = c.type === 'ADDED' ? false : matches(c.prev);
    if (c.type === 'DELETED') {
      if (matches(c.obj)) send('DELETED', c.obj, c.json);
    } else if (after && before) send('MODIFIED', c.obj, c.json);
    else if (after) send('ADDED', c.obj, c.json);
    else if (before) send('DELETED', c.obj, c.json);
    lastRv = c.rv;
  };

  const bookmark = (initialEnd = false) => {
    const metadata: { [k: string]: Json } = { resourceVersion: String(lastRv) };
    if (initialEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
    write('BOOKMARK', { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata });
  };

  let startRv: number;
  let lastRv: number;
  const rvText = req.resourceVersion;
  const initial = req.sendInitialEvents || rvText === undefined || rvText === '' || rvText === '0';
  let backlog: Change[] = [];
  if (initial) {
    startRv = svc.store.resourceVersion;
    lastRv = startRv;
  } else {
    const n = Number(rvText);
    if (!Number.isInteger(n) || n < 0) {
      writeError(
        res,
        400,
        'BadRequest',
        `resourceVersion: Invalid value: "${rvText}": must be a valid integer`,
      );
      return;
    }
    const since = svc.store.changesSince(n);
    if (!since) {
      write('ERROR', expired(n, svc.store.oldestResourceVersion));
      res.end();
      return;
    }
    startRv = n;
    lastRv = n;
    backlog = since;
  }

  // Everything up to here is synchronous, so no change slips between the snapshot and subscribing.
  const initialItems = initial ? svc.store.list(rt.storage, rt.namespaced ? req.namespace : undefined) : [];
  const unsubscribe = svc.store.subscribe(deliver);
  hub.open.add(res);
  for (const s of initialItems) if (matches(s.obj)) send('ADDED', s.obj, s.json);
  if (initial && req.sendInitialEvents && req.allowBookmarks) bookmark(true);
  for (const c of backlog) deliver(c);
  if (!headersSent) {
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    headersSent = true;
    res.flushHeaders();
  }

  const timers: NodeJS.Timeout[] = [];
  if (req.allowBookmarks) timers.push(setInterval(() => bookmark(), hub.bookmarkIntervalMs));
  if (req.timeoutSeconds !== undefined && req.timeoutSeconds > 0) {
    timers.push(
      setTimeout(() => {
        stop();
        res.end();
      }, req.timeoutSeconds * 1000),
    );
  }
  const stop = () => {
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    hub.open.delete(res);
  };
  res.on('close', stop);
  res.on('finish', stop);
}

function expired(requested: number, oldest: number): Json {
  return new StatusError(410, 'Expired', `too old resource version: ${requested} (${oldest})`).toStatus();
}

function writeError(res: ServerResponse, code: number, reason: string, message: string) {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(new StatusError(code, reason, message).toStatus()));
}
