/**
 * A second, independent client: the official Kubernetes Python client (Debian's
 * python3-kubernetes, which `npm test` installs through scripts/ensure.mjs) drives the API
 * emulator through test/python/client_checks.py — CRUD, selectors and pagination, JSON, merge and
 * strategic patches, the status subresource, 409 on a stale resourceVersion, watches from a
 * resourceVersion with a timeout and bookmarks (and 410 when it is too old), deletion with each
 * propagation policy, server-side apply and managedFields. kubectl and @kubernetes/client-node
 * already run against the emulator; a client written by other people catches what all of this
 * project's own code agrees on (issue 18). Each check is one test here.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { type ApiServer, startApiServer } from '../../local/apiserver/index.ts';
import { apiFetch } from '../fixtures/api.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
/** Debian's interpreter: python3-kubernetes is installed for it, not for other Pythons on PATH. */
const PYTHON = '/usr/bin/python3';
const NS = 'python';

const CHECKS = [
  'crud',
  'list_selectors_pagination',
  'json_patch',
  'merge_patch',
  'status_subresource',
  'stale_resource_version',
  'watch_from_resource_version',
  'delete_propagation',
  'server_side_apply',
  'managed_fields_on_writes',
  'all_namespaces_and_dry_run',
  'events_and_times',
  'jobs',
  'namespace_lifecycle',
  'watch_selector_transitions',
  'watch_too_old',
];

interface Result {
  check: string;
  ok: boolean;
  detail: string;
}

let api: ApiServer | undefined;
let dir: string | undefined;
let results: Promise<Map<string, Result>>;

async function post(path: string, body: unknown): Promise<void> {
  const res = await apiFetch(api!, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
}

test.before(async () => {
  // Bookmarks often, and a short history, so the watch checks see both within seconds.
  api = await startApiServer({ bookmarkIntervalMs: 200, watchHistory: 40 });
  dir = mkdtempSync(join(tmpdir(), 'cairn-python-'));
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig, { namespace: NS });
  await post('/api/v1/namespaces', { metadata: { name: NS } });
  for (const f of readdirSync(join(root, 'crds')).filter((x) => x.endsWith('.yaml'))) {
    for (const d of parseAllDocuments(readFileSync(join(root, 'crds', f), 'utf8'))) {
      await post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', d.toJS());
    }
  }
  results = run(PYTHON, [join(root, 'test/python/client_checks.py'), kubeconfig, NS, ...CHECKS], {
    timeout: 110_000,
    maxBuffer: 10 * 1024 * 1024,
  }).then(({ stdout }) => {
    const out = new Map<string, Result>();
    for (const line of stdout.split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as Result;
      out.set(r.check, r);
    }
    return out;
  });
  // Surface a crash of the script in every test rather than as an unhandled rejection.
  results.catch(() => undefined);
});

test.after.always(async () => {
  await api?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the Python client is the one Debian ships (python3-kubernetes)', async (t) => {
  const { stdout } = await run(PYTHON, ['-c', 'import kubernetes; print(kubernetes.__file__)']);
  t.regex(stdout, /^\/usr\/lib\/python3\/dist-packages\/kubernetes\//);
});

for (const name of CHECKS) {
  test.serial(`Python client: ${name}`, async (t) => {
    const r = (await results).get(name);
    t.truthy(r, `the check ${name} did not report (the script stopped early?)`);
    t.true(r?.ok, r?.detail);
  });
}
