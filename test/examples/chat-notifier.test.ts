/**
 * examples/notifications: the chat-notifier served by the real faas-js-runtime over HTTP, as its
 * func.yaml deploys it, receives Cairn's failure CloudEvents in binary mode as a Trigger delivers
 * them, and posts to a chat webhook (a local HTTP server here). The Triggers file filters on
 * types Cairn really emits.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import test from 'ava';
import { HTTP } from 'cloudevents';
import { handle } from '../../examples/notifications/chat-notifier/index.ts';
import { serveHandle } from '../../local/functions.ts';
import { freePort } from '../../local/ports.ts';
import { REPO_ROOT } from '../../local/runtime.ts';
import { CAIRN_EVENT_TYPES, type CairnEventType } from '../../shared/event-types.ts';
import { cairnEvent, functionSource } from '../../shared/events.ts';

const EXAMPLE = join(REPO_ROOT, 'examples', 'notifications');

interface Hook {
  url: string;
  posts: string[];
  status: number;
  server: Server;
}

async function startHook(): Promise<Hook> {
  const hook: Hook = { url: '', posts: [], status: 200, server: createServer() };
  hook.server.on('request', (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      hook.posts.push(body);
      res.writeHead(hook.status).end();
    });
  });
  await new Promise<void>((r) => hook.server.listen(0, '127.0.0.1', r));
  hook.url = `http://127.0.0.1:${(hook.server.address() as AddressInfo).port}/hooks/cairn`;
  return hook;
}

const failed = (type: CairnEventType, data: Record<string, unknown>) =>
  cairnEvent(type, {
    subject: '/apis/backup.cairn.dev/v1alpha1/namespaces/prod/backups/pg-nightly-203001010100',
    source: functionSource('job-watcher'),
    data,
  });

async function post(url: string, event: ReturnType<typeof failed>): Promise<number> {
  const { headers, body } = HTTP.binary(event);
  const res = await fetch(url, {
    method: 'POST',
    headers: headers as Record<string, string>,
    body: body as string,
  });
  await res.text();
  return res.status;
}

test('a failed verification reaches the chat webhook; a webhook error fails the delivery so the Trigger retries', async (t) => {
  const hook = await startHook();
  process.env.CHAT_WEBHOOK_URL = hook.url;
  process.env.CHAT_PREFIX = 'prod';
  const port = await freePort();
  const server = await serveHandle(handle, {
    port,
    logLevel: 'fatal',
    config: join(EXAMPLE, 'chat-notifier'),
  });
  t.teardown(async () => {
    await new Promise((r) => server.close(r));
    await new Promise((r) => hook.server.close(r));
  });
  const url = `http://127.0.0.1:${port}/`;

  const event = failed(CAIRN_EVENT_TYPES.backupVerificationFailed, {
    name: 'pg-nightly-203001010100',
    namespace: 'prod',
    policyRef: { kind: 'DatabaseBackup', name: 'pg-nightly' },
    restore: 'pg-nightly-203001010100-verify',
    result: 'Failed',
    reason: 'ChecksFailed',
    message: 'ChecksFailed: 1 of 1 check(s) failed: too-many: rowCount 500 is not >= 1000',
  });
  const ok = await post(url, event);
  t.true(ok >= 200 && ok < 300, `answered ${ok}`);
  t.is(hook.posts.length, 1);
  const { text } = JSON.parse(hook.posts[0] ?? '{}') as { text: string };
  t.regex(
    text,
    /^prod \*Restore verification failed\*: `prod\/pg-nightly-203001010100` \(DatabaseBackup pg-nightly\)/,
  );
  t.regex(text, /reason: ChecksFailed/);
  t.regex(text, /rowCount 500 is not >= 1000/);
  t.regex(text, /kubectl describe -n prod backup pg-nightly-203001010100/);

  hook.status = 502;
  const refused = await post(url, failed(CAIRN_EVENT_TYPES.restoreFailed, { name: 'r1', namespace: 'prod' }));
  t.true(refused >= 500, `a webhook failure must fail the delivery, got ${refused}`);
  t.is(hook.posts.length, 2);
  t.regex(hook.posts[1] ?? '', /Restore failed.*kubectl describe -n prod restore r1/s);
});

test('the example Triggers filter on failure types Cairn emits and go to the notifier', async (t) => {
  const docs = loadAllYaml(await readFile(join(EXAMPLE, 'triggers.yaml'), 'utf8')) as {
    kind: string;
    spec: { filter: { attributes: { type: string } }; subscriber: { ref: { name: string } } };
  }[];
  const emitted = new Set<string>(Object.values(CAIRN_EVENT_TYPES));
  t.true(docs.length >= 2);
  for (const d of docs) {
    t.is(d.kind, 'Trigger');
    t.true(
      emitted.has(d.spec.filter.attributes.type),
      `${d.spec.filter.attributes.type} is a Cairn event type`,
    );
    t.regex(d.spec.filter.attributes.type, /failed$/);
    t.is(d.spec.subscriber.ref.name, 'chat-notifier');
  }
});
