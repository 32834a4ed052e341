/**
 * The all-in-one overlay (eventing/all-in-one) behind the one `cairn` Service: every event the
 * per-function Triggers route reaches the Service exactly once, and the router runs each handler
 * it routes to exactly once per delivery (issue 18, item 1). The overlay is rendered both by the
 * real kustomize (`kubectl kustomize`) and by the local runtime's loader, which must agree.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { HANDLERS, ROUTES, handle as route } from '../../functions/router.ts';
import { type LocalBroker, startBroker } from '../../local/broker/index.ts';
import { isTrigger, type Manifest, type Trigger } from '../../local/events/knative.ts';
import { loadManifests } from '../../local/events/manifests.ts';
import { type CloudEventLike, pingEvent, resourceEvent } from '../../shared/events.ts';
import { silentLogger } from '../../shared/log.ts';
import { type Receiver, startReceiver, tempDir } from './_event-helpers.ts';

const run = promisify(execFile);
const eventing = join(import.meta.dirname, '..', '..', 'eventing');
const NS = 'cairn-system';

async function kustomize(dir: string): Promise<Manifest[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir]);
  return parseAllDocuments(stdout).map((d) => d.toJS() as Manifest);
}

const filterOf = (tr: Trigger) =>
  JSON.stringify(tr.spec.filter?.attributes ?? {}, Object.keys(tr.spec.filter?.attributes ?? {}).sort());

/** One event for each (type, kind) the Triggers route. */
function routedEvents(): CloudEventLike[] {
  const seen = new Set<string>();
  const out: CloudEventLike[] = [];
  for (const [, type, kind] of ROUTES) {
    const key = `${type} ${kind ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (type === 'dev.knative.sources.ping')
      out.push(pingEvent({ namespace: NS, name: 'cairn-tick', data: '{}' }));
    else if (type.startsWith('dev.knative.apiserver.resource.')) {
      const action = type.slice('dev.knative.apiserver.resource.'.length) as 'add' | 'update' | 'delete';
      const apiVersion = kind === 'Job' ? 'batch/v1' : kind === 'Pod' ? 'v1' : 'backup.cairn.dev/v1alpha1';
      out.push(
        resourceEvent(
          action,
          { apiVersion, kind: kind!, metadata: { name: 'x', namespace: 'default', uid: 'u' } },
          { source: 'https://127.0.0.1:6443' },
        ),
      );
    } else
      out.push({
        specversion: '1.0',
        id: `id-${type}`,
        type,
        source: 'cairn/job-watcher',
        subject: '/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/x',
        kind: 'Backup',
      } as CloudEventLike);
  }
  return out;
}

test('the overlay has one Trigger per distinct filter, all to cairn; kustomize and the local loader agree', async (t) => {
  const rendered = (await kustomize(join(eventing, 'all-in-one'))).filter(isTrigger);
  const filters = rendered.map(filterOf);
  t.deepEqual(filters.length, new Set(filters).size, `duplicate filters: ${filters.sort().join('\n')}`);
  const base = (await kustomize(eventing)).filter(isTrigger);
  t.deepEqual(
    [...new Set(filters)].sort(),
    [...new Set(base.map(filterOf))].sort(),
    'every filter of the per-function Triggers is kept',
  );
  for (const tr of rendered) t.is(tr.spec.subscriber.ref?.name, 'cairn', tr.metadata.name);
  const local = (await loadManifests(join(eventing, 'all-in-one'))).filter(isTrigger);
  const summary = (ts: Trigger[]) =>
    ts.map((tr) => `${tr.metadata.name} ${filterOf(tr)} ${tr.spec.subscriber.ref?.name}`).sort();
  t.deepEqual(summary(local), summary(rendered));
});

test('through the local Broker with the rendered overlay, each event reaches cairn once', async (t) => {
  const receiver: Receiver = await startReceiver();
  const broker: LocalBroker = await startBroker({
    manifests: await kustomize(join(eventing, 'all-in-one')),
    services: { cairn: receiver.url },
    stateDir: await tempDir(),
    record: false,
    log: silentLogger,
  });
  t.teardown(async () => {
    await broker.close();
    await receiver.close();
  });
  const events = routedEvents();
  t.true(events.length >= 10);
  for (const ev of events) await broker.publish(ev, { namespace: NS, name: 'default' });
  await broker.idle();
  const perEvent = new Map<string, number>();
  for (const r of receiver.received)
    perEvent.set(String(r.event.id), (perEvent.get(String(r.event.id)) ?? 0) + 1);
  for (const ev of events) t.is(perEvent.get(String(ev.id)), 1, `${ev.type} ${String(ev.kind ?? '')}`);
  t.is(receiver.received.length, events.length);
});

test('the router runs each handler it routes to once per delivery', async (t) => {
  const calls: string[] = [];
  const saved = { ...HANDLERS };
  t.teardown(() => Object.assign(HANDLERS, saved));
  for (const name of Object.keys(HANDLERS)) {
    HANDLERS[name] = async () => {
      calls.push(name);
      return undefined;
    };
  }
  for (const ev of routedEvents()) {
    calls.length = 0;
    await route({}, ev);
    const expected = [
      ...new Set(
        ROUTES.filter(([, type, kind]) => type === ev.type && (kind === undefined || kind === ev.kind)).map(
          ([fn]) => fn,
        ),
      ),
    ];
    t.deepEqual([...calls].sort(), expected.sort(), `${ev.type} ${String(ev.kind ?? '')}`);
  }
  // The ping reaches all five functions, each once.
  calls.length = 0;
  await route({}, pingEvent({ namespace: NS, name: 'cairn-tick', data: '{}' }));
  t.deepEqual([...calls].sort(), Object.keys(HANDLERS).sort());
});
