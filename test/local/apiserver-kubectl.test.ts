/**
 * The real kubectl against the emulator: what a person does with Cairn's resources must work as
 * on a cluster. Each test uses its own namespace; the CRDs are applied once.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { type Emulator, eventually, fixtures, kubectlPath, startEmulator } from './apiserver-helpers.ts';

let emu: Emulator;

test.before(async () => {
  kubectlPath();
  emu = await startEmulator();
  const r = await emu.kubectl(['apply', '-f', join(fixtures, 'crds')]);
  if (r.code !== 0) throw new Error(`applying the fixture CRDs failed: ${r.stderr}`);
  const cairn = await emu.kubectl(['apply', '-f', 'crds/']);
  if (cairn.code !== 0) throw new Error(`applying crds/ failed: ${cairn.stderr}`);
});
test.after.always(async () => {
  await emu?.close();
});

async function ns(name: string): Promise<string> {
  const r = await emu.kubectl(['create', 'namespace', name]);
  if (r.code !== 0) throw new Error(r.stderr);
  return name;
}

async function applyInstances(namespace: string) {
  return emu.kubectl(['apply', '-n', namespace, '-f', join(fixtures, 'instances')]);
}

const schedule = (name: string, extra = '') => `apiVersion: fixtures.cairn.dev/v1alpha1
kind: BackupSchedule
metadata:
  name: ${name}
spec:
  databaseType: postgres
  schedule: "0 1 * * *"
  database: {host: pg}
  storageDestination: {type: s3, bucket: b}
${extra}`;

test('apply creates the CRDs, which then show as established and in api-resources', async (t) => {
  const crds = await emu.kubectl(['get', 'crd']);
  t.is(crds.code, 0, crds.stderr);
  t.regex(crds.stdout, /^NAME\s+CREATED AT/m);
  t.regex(crds.stdout, /backupschedules\.fixtures\.cairn\.dev/);
  const wait = await emu.kubectl([
    'wait',
    '--for=condition=Established',
    'crd/backupschedules.fixtures.cairn.dev',
    '--timeout=5s',
  ]);
  t.is(wait.code, 0, wait.stderr);
  const res = await emu.kubectl(['api-resources', '--api-group=fixtures.cairn.dev']);
  t.regex(res.stdout, /backupschedules\s+bsch\s+fixtures\.cairn\.dev\/v1alpha1\s+true\s+BackupSchedule/);
});

test('apply of instances, re-apply reports configured/unchanged, and get shows printer columns with defaults', async (t) => {
  const n = await ns('apply');
  const first = await applyInstances(n);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /backupschedule.fixtures.cairn.dev\/nightly created/);
  const again = await applyInstances(n);
  t.regex(again.stdout, /nightly unchanged/);
  const get = await emu.kubectl(['get', 'bsch', '-n', n]);
  t.is(get.code, 0, get.stderr);
  const lines = get.stdout.trim().split('\n');
  t.regex(lines[0]!, /^NAME\s+SCHEDULE\s+SUSPEND\s+LAST\s+READY\s+AGE$/);
  t.regex(get.stdout, /hourly\s+0 \* \* \* \*\s+true/);
  t.regex(get.stdout, /nightly\s+0 1 \* \* \*\s+false/);
  const wide = await emu.kubectl(['get', 'bsch', '-n', n, '-o', 'wide']);
  t.regex(wide.stdout, /POLICY/);
  t.regex(wide.stdout, /nightly.*Forbid/);
  const yaml = await emu.kubectl([
    'get',
    'bsch',
    'nightly',
    '-n',
    n,
    '-o',
    'jsonpath={.spec.timeZone} {.spec.database.port} {.metadata.generation}',
  ]);
  t.is(yaml.stdout, 'UTC 5432 1');
});

test('get -w sees a change made while it watches', async (t) => {
  const n = await ns('watching');
  await emu.kubectl(['apply', '-n', n, '-f', '-'], schedule('watched'));
  const child = spawn(kubectlPath(), [
    '--kubeconfig',
    emu.kubeconfig,
    '--cache-dir',
    join(emu.dir, 'cache'),
    'get',
    'bsch',
    '-n',
    n,
    '-w',
  ]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  try {
    await eventually(() => out.includes('watched'));
    const p = await emu.kubectl([
      'patch',
      'bsch',
      'watched',
      '-n',
      n,
      '--type',
      'merge',
      '-p',
      '{"spec":{"schedule":"7 7 * * *"}}',
    ]);
    t.is(p.code, 0, p.stderr);
    await eventually(() => out.includes('7 7 * * *'));
    t.regex(out, /^NAME\s+SCHEDULE/m);
    t.is(out.match(/^NAME/gm)?.length, 1, 'the header is printed once');
  } finally {
    child.kill();
  }
});

test('describe shows the object and the Events about it', async (t) => {
  const n = await ns('describing');
  await emu.kubectl(['apply', '-n', n, '-f', '-'], schedule('described'));
  const uid = (await emu.kubectl(['get', 'bsch', 'described', '-n', n, '-o', 'jsonpath={.metadata.uid}']))
    .stdout;
  const ev = await emu.kubectl(
    ['create', '-f', '-'],
    `apiVersion: v1
kind: Event
metadata: {name: described.1, namespace: ${n}}
involvedObject: {apiVersion: fixtures.cairn.dev/v1alpha1, kind: BackupSchedule, name: described, namespace: ${n}, uid: ${uid}}
reason: BackupScheduled
message: next backup at 01:00
type: Normal
source: {component: schedule-evaluator}
count: 1
firstTimestamp: "2025-01-01T00:00:00Z"
lastTimestamp: "2025-01-01T00:00:00Z"
`,
  );
  t.is(ev.code, 0, ev.stderr);
  const d = await emu.kubectl(['describe', 'bsch', 'described', '-n', n]);
  t.is(d.code, 0, d.stderr);
  t.regex(d.stdout, /Database Type:\s+postgres/);
  t.regex(d.stdout, /Events:\s*\n\s+Type\s+Reason\s+Age\s+From\s+Message/);
  t.regex(d.stdout, /Normal\s+BackupScheduled\s+\S+\s+schedule-evaluator\s+next backup at 01:00/);
  const events = await emu.kubectl(['get', 'events', '-n', n]);
  t.regex(events.stdout, /BackupScheduled\s+backupschedule\/described/);
});

test('explain reads the CRD schema', async (t) => {
  const r = await emu.kubectl(['explain', 'backupschedules.spec.concurrencyPolicy']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /KIND:\s+BackupSchedule/);
  t.regex(r.stdout, /ENUM:\s+Forbid\s+Allow\s+Replace/);
  t.regex(r.stdout, /What to do when a run is still going/);
  const pod = await emu.kubectl(['explain', 'pod.spec.containers']);
  t.is(pod.code, 0, pod.stderr);
  t.regex(pod.stdout, /name\s+<string> -required-/);
});

test('label and annotate, then select by label', async (t) => {
  const n = await ns('labels');
  await applyInstances(n);
  t.is((await emu.kubectl(['label', 'bsch', 'nightly', '-n', n, 'tier=gold'])).code, 0);
  t.is((await emu.kubectl(['annotate', 'bsch', 'nightly', '-n', n, 'note=kept'])).code, 0);
  const sel = await emu.kubectl(['get', 'bsch', '-n', n, '-l', 'tier=gold', '-o', 'name']);
  t.is(sel.stdout.trim(), 'backupschedule.fixtures.cairn.dev/nightly');
  const notin = await emu.kubectl(['get', 'bsch', '-n', n, '-l', 'app notin (postgres)', '-o', 'name']);
  t.is(notin.stdout.trim(), 'backupschedule.fixtures.cairn.dev/hourly');
  const ann = await emu.kubectl([
    'get',
    'bsch',
    'nightly',
    '-n',
    n,
    '-o',
    'jsonpath={.metadata.annotations.note}',
  ]);
  t.is(ann.stdout, 'kept');
  const overwrite = await emu.kubectl(['label', 'bsch', 'nightly', '-n', n, 'tier=silver']);
  t.not(overwrite.code, 0, 'kubectl refuses to overwrite a label without --overwrite');
});

test('patch: merge, json and --subresource=status; status is ignored on the main resource', async (t) => {
  const n = await ns('patching');
  await emu.kubectl(['apply', '-n', n, '-f', '-'], schedule('p'));
  const merge = await emu.kubectl([
    'patch',
    'bsch',
    'p',
    '-n',
    n,
    '--type',
    'merge',
    '-p',
    '{"spec":{"suspend":true}}',
  ]);
  t.is(merge.code, 0, merge.stderr);
  const json = await emu.kubectl([
    'patch',
    'bsch',
    'p',
    '-n',
    n,
    '--type',
    'json',
    '-p',
    '[{"op":"replace","path":"/spec/schedule","value":"9 9 * * *"}]',
  ]);
  t.is(json.code, 0, json.stderr);
  const ignored = await emu.kubectl([
    'patch',
    'bsch',
    'p',
    '-n',
    n,
    '--type',
    'merge',
    '-p',
    '{"status":{"lastBackupStatus":"Ignored"}}',
  ]);
  t.is(ignored.code, 0, ignored.stderr);
  const status = await emu.kubectl([
    'patch',
    'bsch',
    'p',
    '-n',
    n,
    '--subresource=status',
    '--type',
    'merge',
    '-p',
    '{"status":{"lastBackupStatus":"Succeeded","conditions":[{"type":"Ready","status":"True"}]},"spec":{"suspend":false}}',
  ]);
  t.is(status.code, 0, status.stderr);
  const got = await emu.kubectl([
    'get',
    'bsch',
    'p',
    '-n',
    n,
    '-o',
    'jsonpath={.spec.suspend} {.spec.schedule} {.status.lastBackupStatus} {.metadata.generation}',
  ]);
  t.is(got.stdout, 'true 9 9 * * * Succeeded 3');
  const table = await emu.kubectl(['get', 'bsch', 'p', '-n', n, '--no-headers']);
  // LAST has no value: the server sends a null cell and kubectl prints nothing
  t.regex(table.stdout, /^p\s+9 9 \* \* \*\s+true\s+True\s+\d+s$/m);
  const strategic = await emu.kubectl([
    'patch',
    'bsch',
    'p',
    '-n',
    n,
    '--type',
    'strategic',
    '-p',
    '{"spec":{"suspend":false}}',
  ]);
  t.not(strategic.code, 0);
  t.regex(strategic.stderr, /UnsupportedMediaType|unknown format|415/i);
});

test('strategic merge patch on a built-in merges containers by name', async (t) => {
  const n = await ns('smp');
  const job = `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: busybox:1.36, env: [{name: X, value: "1"}]}
      - {name: b, image: busybox:1.36}
`;
  t.is((await emu.kubectl(['apply', '-n', n, '-f', '-'], job)).code, 0);
  const pod = `apiVersion: v1
kind: Pod
metadata: {name: p, labels: {app: one}}
spec:
  containers:
  - {name: a, image: busybox:1.36, env: [{name: X, value: "1"}]}
  - {name: b, image: busybox:1.36}
`;
  t.is((await emu.kubectl(['apply', '-n', n, '-f', '-'], pod)).code, 0);
  const p = await emu.kubectl([
    'patch',
    'pod',
    'p',
    '-n',
    n,
    '-p',
    '{"spec":{"containers":[{"name":"b","image":"busybox:1.37"}]}}',
  ]);
  t.is(p.code, 0, p.stderr);
  const got = await emu.kubectl([
    'get',
    'pod',
    'p',
    '-n',
    n,
    '-o',
    'jsonpath={.spec.containers[*].name} {.spec.containers[*].image} {.spec.containers[0].env[0].value}',
  ]);
  t.is(got.stdout, 'a b busybox:1.36 busybox:1.37 1');
  // client-side apply of a built-in sends a three-way strategic merge patch
  const relabel = await emu.kubectl(['apply', '-n', n, '-f', '-'], pod.replace('app: one', 'app: two'));
  t.is(relabel.code, 0, relabel.stderr);
  t.regex(relabel.stdout, /pod\/p configured/);
  const labels = await emu.kubectl(['get', 'pod', 'p', '-n', n, '-o', 'jsonpath={.metadata.labels.app}']);
  t.is(labels.stdout, 'two');
  const pods = await emu.kubectl(['get', 'pods', '-n', n]);
  t.regex(pods.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/);
  t.regex(pods.stdout, /p\s+0\/2\s+Pending\s+0/);
  const jobs = await emu.kubectl(['get', 'jobs', '-n', n]);
  t.regex(jobs.stdout, /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE/);
  t.regex(jobs.stdout, /j\s+Running\s+0\/1/);
});

test('delete cascades to owned objects (background and foreground)', async (t) => {
  const n = await ns('cascade');
  for (const owner of ['bg', 'fg']) {
    await emu.kubectl(['apply', '-n', n, '-f', '-'], schedule(owner));
    const uid = (await emu.kubectl(['get', 'bsch', owner, '-n', n, '-o', 'jsonpath={.metadata.uid}'])).stdout;
    const run = await emu.kubectl(
      ['create', '-n', n, '-f', '-'],
      `apiVersion: fixtures.cairn.dev/v1alpha1
kind: BackupRun
metadata:
  name: ${owner}-run
  ownerReferences: [{apiVersion: fixtures.cairn.dev/v1alpha1, kind: BackupSchedule, name: ${owner}, uid: ${uid}, controller: true, blockOwnerDeletion: true}]
spec: {scheduleRef: {name: ${owner}}}
`,
    );
    t.is(run.code, 0, run.stderr);
  }
  const bg = await emu.kubectl(['delete', 'bsch', 'bg', '-n', n]);
  t.is(bg.code, 0, bg.stderr);
  await eventually(
    async () =>
      (await emu.kubectl(['get', 'backupruns', '-n', n, '-o', 'name'])).stdout.includes('bg-run') === false,
  );
  const fg = await emu.kubectl(['delete', 'bsch', 'fg', '-n', n, '--cascade=foreground']);
  t.is(fg.code, 0, fg.stderr);
  const left = await emu.kubectl(['get', 'backupruns,bsch', '-n', n, '-o', 'name']);
  t.is(left.stdout.trim(), '', 'kubectl waited for the foreground deletion to finish');
});

test('a stale replace is refused with a conflict', async (t) => {
  const n = await ns('conflict');
  await emu.kubectl(['apply', '-n', n, '-f', '-'], schedule('c'));
  const stale = (await emu.kubectl(['get', 'bsch', 'c', '-n', n, '-o', 'yaml'])).stdout;
  await emu.kubectl(['patch', 'bsch', 'c', '-n', n, '--type', 'merge', '-p', '{"spec":{"suspend":true}}']);
  const r = await emu.kubectl(['replace', '-f', '-'], stale);
  t.not(r.code, 0);
  t.regex(r.stderr, /Conflict/);
  t.regex(
    r.stderr,
    /the object has been modified; please apply your changes to the latest version and try again/,
  );
});

test('an invalid resource is refused with the fields named', async (t) => {
  const n = await ns('invalid');
  const bad = `apiVersion: fixtures.cairn.dev/v1alpha1
kind: BackupSchedule
metadata: {name: bad}
spec:
  databaseType: postgres
  schedule: "0 1 * * *"
  concurrencyPolicy: Sometimes
  database: {host: pg}
  storageDestination: {type: s3}
`;
  const r = await emu.kubectl(['apply', '-n', n, '-f', '-'], bad);
  t.not(r.code, 0);
  t.regex(
    r.stderr,
    /spec\.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Forbid", "Allow", "Replace"/,
  );
  t.regex(r.stderr, /spec\.storageDestination\.bucket: Required value/);
  const cel = await emu.kubectl(
    ['apply', '-n', n, '-f', '-'],
    schedule('both', '  databaseSelector: {matchLabels: {app: pg}}\n'),
  );
  t.not(cel.code, 0);
  t.regex(
    cel.stderr,
    /spec: Invalid value: "object": exactly one of database or databaseSelector must be set/,
  );
  const unknown = await emu.kubectl(['apply', '-n', n, '-f', '-'], schedule('unknown', '  colour: blue\n'));
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /strict decoding error: unknown field "spec.colour"/);
});

// Registered once another part of the project has generated crds/ (nothing to apply before that).
if (existsSync('crds') && readdirSync('crds').some((f) => f.endsWith('.yaml'))) {
  test('the project CRDs in crds/ apply and are served', async (t) => {
    const r = await emu.kubectl(['apply', '-f', 'crds/']);
    t.is(r.code, 0, r.stderr);
    const res = await emu.kubectl(['api-resources', '--api-group=backup.cairn.dev', '-o', 'name']);
    t.is(res.code, 0, res.stderr);
    t.true(res.stdout.trim().split('\n').length >= 1, res.stdout);
    // The project's examples must be accepted by its CRDs (schemas and CEL rules) as on a cluster.
    if (existsSync('examples')) {
      const ex = await emu.kubectl(['apply', '-f', 'examples/']);
      t.is(ex.code, 0, ex.stderr);
    }
  });
}

test('kubectl create secret generic and configmap (protobuf bodies) work', async (t) => {
  const n = await ns('creating');
  const s = await emu.kubectl([
    'create',
    'secret',
    'generic',
    's3-credentials',
    '-n',
    n,
    '--from-literal=AWS_ACCESS_KEY_ID=abc',
  ]);
  t.is(s.code, 0, s.stderr);
  const got = await emu.kubectl([
    'get',
    'secret',
    's3-credentials',
    '-n',
    n,
    '-o',
    'jsonpath={.type} {.data.AWS_ACCESS_KEY_ID}',
  ]);
  t.is(got.stdout, `Opaque ${Buffer.from('abc').toString('base64')}`);
  const cm = await emu.kubectl(['create', 'configmap', 'settings', '-n', n, '--from-literal=a=b']);
  t.is(cm.code, 0, cm.stderr);
  const table = await emu.kubectl(['get', 'secrets,configmaps', '-n', n]);
  t.regex(table.stdout, /secret\/s3-credentials\s+Opaque\s+1/);
  t.regex(table.stdout, /configmap\/settings\s+1/);
});

test('kubectl get/describe backup NAME work: no CRD lists a category named like a resource', async (t) => {
  // kubectl expands categories before names, so a category `backup` turned `get backup NAME` into
  // "you must specify only one resource" (issue 14, item 8).
  const n = await ns('categories');
  const made = await emu.kubectl(
    ['apply', '-n', n, '-f', '-'],
    `apiVersion: backup.cairn.dev/v1alpha1
kind: Backup
metadata: {name: nightly-1}
spec:
  policyRef: {kind: BackupPolicy, name: nightly}
`,
  );
  t.is(made.code, 0, made.stderr);
  const get = await emu.kubectl(['get', '-n', n, 'backup', 'nightly-1', '-o', 'name']);
  t.is(get.code, 0, get.stderr);
  t.is(get.stdout.trim(), 'backup.backup.cairn.dev/nightly-1');
  const describe = await emu.kubectl(['describe', '-n', n, 'backup', 'nightly-1']);
  t.is(describe.code, 0, describe.stderr);
  t.regex(describe.stdout, /^Name:\s+nightly-1$/m);
  // The category `cairn` still lists every kind at once.
  const all = await emu.kubectl(['get', '-n', n, 'cairn', '-o', 'name']);
  t.is(all.code, 0, all.stderr);
  t.deepEqual(all.stdout.trim().split('\n'), ['backup.backup.cairn.dev/nightly-1']);
});
