/**
 * The emulator's door (issue 15.1, 15.8), attacked: requests without the kubeconfig's token, bodies
 * kube-apiserver would not decode, a browser's cross-site request, DNS rebinding (a foreign Host),
 * malformed escapes and absurdly nested JSON. Each is answered as the real server answers it (or,
 * where a local server needs more than kube does, refused outright) and changes nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { MAX_BODY_DEPTH } from '../../local/apiserver/guard.ts';
import { startApiServer } from '../../local/apiserver/index.ts';
import { type ApiTarget, apiFetch, authorized, trustCa } from '../fixtures/api.ts';
import { fixtures, kubectlPath, startEmulator } from './apiserver-helpers.ts';

const run = promisify(execFile);
const CM = '/api/v1/namespaces/default/configmaps';
const configMap = (name: string, data: unknown = { k: 'v' }) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data });

/** The names of the ConfigMaps in default, read with the token. */
async function configMaps(api: ApiTarget): Promise<string[]> {
  const list = (await (await apiFetch(api, CM)).json()) as { items: { metadata: { name: string } }[] };
  return list.items.map((i) => i.metadata.name);
}

/** kube-apiserver's answer to an unauthenticated request (apierrors.NewUnauthorized("Unauthorized")). */
const UNAUTHORIZED = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'Unauthorized',
  reason: 'Unauthorized',
  code: 401,
};

/** A raw request with whatever Host header the caller sets (fetch will not forge Host). */
function raw(
  api: ApiTarget,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const u = new URL(api.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: opts.headers ?? {},
        // The CA is checked; the name is not, as a client fooled by DNS rebinding would not.
        ca: api.ca,
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

test('a request without the kubeconfig token is answered 401 as kube-apiserver answers it, whatever the path', async (t) => {
  const emu = await startEmulator();
  t.teardown(() => emu.close());
  trustCa(emu.server);
  const url = emu.server.url;
  for (const [what, headers] of [
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer cairn-local' }],
    ['an empty bearer token', { authorization: 'Bearer ' }],
    ['Basic credentials', { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }],
  ] as const) {
    for (const path of ['/version', '/healthz', '/api', '/api/v1/namespaces/default/secrets', CM]) {
      const res = await fetch(url + path, { headers });
      t.is(res.status, 401, `${what}: GET ${path}`);
      t.is(res.headers.get('content-type'), 'application/json', `${what}: GET ${path}`);
      t.deepEqual(await res.json(), UNAUTHORIZED, `${what}: GET ${path}`);
    }
    const created = await fetch(url + CM, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: configMap('sneaky'),
    });
    t.is(created.status, 401, `${what}: POST`);
  }
  // The token's scheme is case-insensitive, as in kube's bearer-token authenticator.
  const ok = await fetch(`${url}/version`, { headers: { authorization: `bearer ${emu.server.token}` } });
  t.is(ok.status, 200);
  t.deepEqual(await configMaps(emu.server), [], 'nothing was created');
});

test('kubectl without the token gets the answer a real cluster gives it', async (t) => {
  const emu = await startEmulator();
  t.teardown(() => emu.close());
  // kubectl words a 401 Status this way (the part in brackets depends on whether discovery or
  // the request itself met it), for a real cluster as for this one.
  for (const args of [
    ['get', 'configmaps'],
    ['get', 'ns'],
  ]) {
    const r = await emu.kubectl(['--token', 'not-the-token', ...args]);
    t.is(r.code, 1);
    t.regex(
      r.stderr.trim().split('\n').at(-1) ?? '',
      /^error: You must be logged in to the server \((Unauthorized|the server has asked for the client to provide credentials)\)$/,
    );
  }
  const ok = await emu.kubectl(['get', 'configmaps', '-o', 'name']);
  t.is(ok.code, 0, ok.stderr);
});

test('a body in a media type kube-apiserver does not decode is a 415 that lists what it does, and creates nothing', async (t) => {
  const emu = await startEmulator();
  t.teardown(() => emu.close());
  const post = (path: string, contentType: string, body: string) =>
    apiFetch(emu.server, path, { method: 'POST', headers: { 'content-type': contentType }, body });
  for (const ct of [
    'text/plain',
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'text/yaml',
  ]) {
    const res = await post(CM, ct, configMap('plain'));
    t.is(res.status, 415, ct);
    t.like(await res.json(), {
      kind: 'Status',
      status: 'Failure',
      reason: 'UnsupportedMediaType',
      code: 415,
      message:
        'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf',
    });
  }
  // Custom resources have no protobuf.
  t.is(
    (await emu.kubectl(['apply', '-f', join(fixtures, 'crds', 'backupruns.yaml')])).code,
    0,
    'CRD installed',
  );
  const crPath = '/apis/fixtures.cairn.dev/v1alpha1/namespaces/default/backupruns';
  const cr = JSON.stringify({
    apiVersion: 'fixtures.cairn.dev/v1alpha1',
    kind: 'BackupRun',
    metadata: { name: 'r' },
  });
  const refused = await post(crPath, 'text/plain', cr);
  t.is(refused.status, 415);
  t.like(await refused.json(), {
    message:
      'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml',
  });
  // A PUT is held to the same rule; a DELETE's options too, when it has a body.
  const put = await apiFetch(emu.server, `${CM}/plain`, {
    method: 'PUT',
    headers: { 'content-type': 'text/plain' },
    body: configMap('plain'),
  });
  t.is(put.status, 415);
  const del = await apiFetch(emu.server, `${CM}/plain`, {
    method: 'DELETE',
    headers: { 'content-type': 'text/plain' },
    body: '{"propagationPolicy":"Background"}',
  });
  t.is(del.status, 415);
  t.deepEqual(await configMaps(emu.server), [], 'nothing was created');
  // What kube takes, the emulator takes: parameters, YAML, and no Content-Type at all (JSON).
  t.is((await post(CM, 'application/json; charset=utf-8', configMap('a'))).status, 201);
  t.is((await post(CM, 'application/yaml', 'metadata: {name: b}\ndata: {k: v}\n')).status, 201);
  t.is((await apiFetch(emu.server, CM, { method: 'POST', body: new Blob([configMap('c')]) })).status, 201);
  t.is((await post(crPath, 'application/json', cr)).status, 201);
});

test("a web page's cross-site request (text/plain, no credentials) reaches nothing", async (t) => {
  const emu = await startEmulator();
  t.teardown(() => emu.close());
  // What a browser sends for fetch(…, {method: 'POST', mode: 'no-cors', body}) from another site.
  const res = await raw(emu.server, {
    method: 'POST',
    path: CM,
    headers: {
      host: new URL(emu.server.url).host,
      origin: 'https://evil.example',
      'content-type': 'text/plain;charset=UTF-8',
    },
    body: configMap('from-a-web-page'),
  });
  t.is(res.status, 401);
  t.is(res.headers['access-control-allow-origin'], undefined, 'no CORS grant');
  t.deepEqual(await configMaps(emu.server), []);
});

test('a request addressed to a name other than loopback is refused even with the token (DNS rebinding)', async (t) => {
  const emu = await startEmulator();
  t.teardown(() => emu.close());
  const port = new URL(emu.server.url).port;
  const auth = authorized(emu.server);
  for (const host of [
    `evil.example:${port}`,
    `10.0.0.1:${port}`,
    'localhost.evil.example',
    `0.0.0.0:${port}`,
  ]) {
    const res = await raw(emu.server, {
      method: 'POST',
      path: CM,
      headers: { ...auth, host, 'content-type': 'application/json' },
      body: configMap('rebound'),
    });
    t.is(res.status, 400, `Host ${host}`);
    t.like(JSON.parse(res.body), { kind: 'Status', reason: 'BadRequest', code: 400 }, `Host ${host}`);
  }
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `127.1.2.3:${port}`, `[::1]:${port}`]) {
    const res = await raw(emu.server, { path: '/version', headers: { ...auth, host } });
    t.is(res.status, 200, `Host ${host}`);
  }
  t.deepEqual(await configMaps(emu.server), []);
});

test('the emulator will not listen beyond loopback', async (t) => {
  await t.throwsAsync(startApiServer({ host: '0.0.0.0' }), { message: /loopback only/ });
  const v6 = await startApiServer({ host: '::1' });
  t.regex(v6.url, /^https:\/\/\[::1\]:\d+$/);
  await v6.close();
});

test("a malformed % escape in the path is Go's plain 400, not a 500", async (t) => {
  const emu = await startEmulator();
  t.teardown(() => emu.close());
  for (const path of [
    '/api/v1/namespaces/%zz/configmaps',
    '/api/v1/namespaces/default/configmaps/a%',
    '/%',
  ]) {
    const res = await raw(emu.server, {
      path,
      headers: authorized(emu.server, { host: new URL(emu.server.url).host }),
    });
    t.is(res.status, 400, path);
    t.is(res.body, '400 Bad Request', path);
    t.is(res.headers['content-type'], 'text/plain; charset=utf-8', path);
  }
  // A well-formed escape still works.
  t.is((await apiFetch(emu.server, '/api/v1/namespaces/%64efault/configmaps')).status, 200);
});

test('JSON nested 1,600 deep (or beyond kube-apiserver’s own 10,000) is a 400 that says why, not a 500', async (t) => {
  const emu = await startEmulator();
  t.teardown(() => emu.close());
  const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  for (const depth of [1600, 10_001, 100_000]) {
    const res = await apiFetch(emu.server, CM, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"metadata":{"name":"deep"},"data":${nested(depth)}}`,
    });
    t.is(res.status, 400, `${depth} deep`);
    const status = (await res.json()) as { reason: string; message: string };
    t.is(status.reason, 'BadRequest');
    t.regex(status.message, /exceeded max depth/, `${depth} deep`);
  }
  // The same through YAML, and a JSON patch's value.
  const yamlRes = await apiFetch(emu.server, CM, {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: `metadata: {name: deep}\ndata: ${nested(1600)}\n`,
  });
  t.is(yamlRes.status, 400);
  const shallow = await apiFetch(emu.server, CM, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: configMap('shallow'),
  });
  t.is(shallow.status, 201);
  const patch = await apiFetch(emu.server, `${CM}/shallow`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/merge-patch+json' },
    body: `{"data":${nested(1600)}}`,
  });
  t.is(patch.status, 400);
  // Right at the limit the depth is no objection.
  const atLimit = await apiFetch(emu.server, CM, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"metadata":{"name":"limit"},"data":{"k":"v"},"x":${nested(MAX_BODY_DEPTH - 1)}}`,
  });
  t.is(atLimit.status, 201, await atLimit.text());
  t.deepEqual(await configMaps(emu.server), ['limit', 'shallow']);
});

test('the token lives in the state folder, private, and a kubeconfig written before a restart still works', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-token-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'apiserver');
  const kubeconfig = join(dir, 'kubeconfig');
  const first = await startApiServer({ stateDir });
  first.writeKubeconfig(kubeconfig);
  const token = first.token;
  await first.close();
  t.is(statSync(join(stateDir, 'token')).mode & 0o777, 0o600);
  t.is(statSync(join(stateDir, 'tls', 'server.key')).mode & 0o777, 0o600);
  t.is(statSync(join(stateDir, 'tls')).mode & 0o777, 0o700);
  t.is(statSync(kubeconfig).mode & 0o777, 0o600);
  const second = await startApiServer({ stateDir });
  t.teardown(() => second.close());
  t.is(second.token, token, 'same token after a restart');
  t.is(second.ca, first.ca, 'same CA after a restart');
  // The old kubeconfig names the old port: point kubectl at the new one, with the old file's
  // token and CA (the serving certificate is kept too, so it still verifies).
  const r = await run(kubectlPath(), [
    '--kubeconfig',
    kubeconfig,
    '--server',
    second.url,
    'get',
    'ns',
    '-o',
    'name',
  ]);
  t.regex(r.stdout, /namespace\/default/);
  // Each server without a state folder has a token of its own.
  const a = await startApiServer();
  const b = await startApiServer();
  t.not(a.token, b.token);
  t.true(a.token.length >= 40);
  await a.close();
  await b.close();
});
