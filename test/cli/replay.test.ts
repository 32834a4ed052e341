/**
 * `cairn replay` as a subprocess against the local runtime: recorded ApiServerSource and
 * PingSource events, dry-run (prints the plan, the API server is unchanged) and real (the planned
 * Backup and status appear), and malformed events refused with the attribute named.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { readRecords } from '../../local/broker/records.ts';
import type { Backup, BackupPolicy } from '../../shared/api/index.ts';
import { backupPolicy } from '../builders.ts';
import { type E2E, names, startE2E, waitFor } from '../e2e/helpers.ts';
import { cairn } from './helpers.ts';

let e2e: E2E;
let common: string[];

test.before(async () => {
  e2e = await startE2E('2030-01-01T00:00:30Z');
  common = ['--kubeconfig', e2e.runtime.kubeconfig, '--state-dir', e2e.stateDir];
  // The claim the policy writes to: without it the policy is not scheduled (DestinationNotFound).
  await e2e.runtime.kube.create('PersistentVolumeClaim', {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'backup-store', namespace: 'default' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
  const { uid: _u, creationTimestamp: _c, generation: _g, ...metadata } = backupPolicy('web').metadata;
  await e2e.runtime.kube.create('BackupPolicy', { ...backupPolicy('web'), metadata });
  await waitFor(
    'the policy to be scheduled',
    async () =>
      (await e2e.runtime.kube.get<BackupPolicy>('BackupPolicy', 'default', 'web'))?.status
        ?.nextScheduledBackup,
  );
  await e2e.runtime.flushed();
  await e2e.runtime.tick(); // a PingSource event to record
});
test.after.always(async () => {
  await e2e?.stop();
});

async function recorded(type: string, subject?: RegExp): Promise<string> {
  return waitFor(`a recorded ${type}`, async () => {
    const recs = await readRecords(e2e.stateDir);
    const hit = recs.find(
      (r) =>
        r.record.event.type === type &&
        r.record.state === 'done' &&
        (!subject || subject.test(String(r.record.event.subject))),
    );
    return hit?.file;
  });
}

async function snapshot() {
  const kube = e2e.runtime.kube;
  const policy = await kube.get<BackupPolicy>('BackupPolicy', 'default', 'web');
  return {
    backups: names(await kube.list<Backup>('Backup', 'default')),
    policyVersion: policy?.metadata.resourceVersion,
    lastScheduleTime: policy?.status?.lastScheduleTime,
  };
}

test.serial(
  'a recorded ApiServerSource event: --dry-run prints the plan and changes nothing; a replay does it',
  async (t) => {
    const file = await recorded('dev.knative.apiserver.resource.add', /backuppolicies\/web$/);
    const before = await snapshot();
    t.deepEqual(before.backups, []);

    const dry = await cairn(['replay', file, '--dry-run', '--as-of', '2030-01-01T00:05:10Z', ...common]);
    t.is(dry.code, 0, dry.stderr);
    t.regex(dry.stdout, /schedule-evaluator would do \d+ actions:/);
    t.regex(dry.stdout, /create Backup default\/web-203001010005: /);
    t.regex(dry.stdout, /status BackupPolicy default\/web .*"lastScheduleTime":"2030-01-01T00:05:00Z"/);
    t.deepEqual(await snapshot(), before, 'a dry run wrote to the API server');

    const real = await cairn(['replay', file, '--as-of', '2030-01-01T00:05:10Z', '-o', 'json', ...common]);
    t.is(real.code, 0, real.stderr);
    const [result] = JSON.parse(real.stdout) as {
      event: { type: string };
      deliveries: {
        function: string;
        applied: boolean;
        plan: { type: string; kind?: string; object?: Backup }[];
      }[];
    }[];
    t.is(result?.event.type, 'dev.knative.apiserver.resource.add');
    t.deepEqual(
      result?.deliveries.map((d) => [d.function, d.applied]),
      [['schedule-evaluator', true]],
    );
    const creates = result?.deliveries[0]?.plan.filter((a) => a.type === 'create') ?? [];
    t.deepEqual(
      creates.map((a) => a.object?.metadata.name),
      ['web-203001010005'],
    );
    const after = await snapshot();
    t.deepEqual(after.backups, ['web-203001010005']);
    t.is(after.lastScheduleTime, '2030-01-01T00:05:00Z');
  },
);

test.serial(
  'a recorded PingSource event: --dry-run changes nothing; a replay creates the due run',
  async (t) => {
    const file = await recorded('dev.knative.sources.ping');
    const before = await snapshot();
    const dry = await cairn(['replay', file, '--dry-run', '--as-of', '2030-01-01T00:10:05Z', ...common]);
    t.is(dry.code, 0, dry.stderr);
    // Every function the tick's Triggers feed is planned, in-process.
    for (const fn of [
      'schedule-evaluator',
      'job-launcher',
      'job-watcher',
      'retention-pruner',
      'restore-runner',
    ])
      t.regex(dry.stdout, new RegExp(`^  ${fn}`, 'm'));
    t.regex(dry.stdout, /create Backup default\/web-203001010010/);
    t.deepEqual((await snapshot()).backups, before.backups);

    const real = await cairn([
      'replay',
      file,
      '--function',
      'schedule-evaluator',
      '--as-of',
      '2030-01-01T00:10:05Z',
      ...common,
    ]);
    t.is(real.code, 0, real.stderr);
    t.regex(real.stdout, /schedule-evaluator did \d+ actions:/);
    t.deepEqual((await snapshot()).backups, [...before.backups, 'web-203001010010'].sort());
  },
);

test('a malformed event is refused with the missing attribute named, exit code 1', async (t) => {
  const file = await recorded('dev.knative.sources.ping');
  const rec = (await readRecords(e2e.stateDir)).find((r) => r.file === file)?.record;
  const { source: _, ...noSource } = rec?.event ?? {};
  const bad = join(e2e.stateDir, 'no-source.json');
  await writeFile(bad, JSON.stringify(noSource));
  const r = await cairn(['replay', bad, '--dry-run', ...common]);
  t.is(r.code, 1);
  t.regex(r.stderr, /missing required attribute "source"/);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);

  const noName = JSON.stringify({
    specversion: '1.0',
    id: 'x1',
    source: 'https://10.96.0.1:443',
    type: 'dev.knative.apiserver.resource.update',
    kind: 'Backup',
    apiversion: 'backup.cairn.dev/v1alpha1',
    namespace: 'default',
    datacontenttype: 'application/json',
    data: { metadata: { name: 'b' } },
  });
  const s = await cairn(['replay', '-', '--dry-run', ...common], noName);
  t.is(s.code, 1);
  t.regex(s.stderr, /stdin: missing extension attribute "name"/);
});

test('usage errors exit 2 and say so', async (t) => {
  const r = await cairn(['replay']);
  t.is(r.code, 2);
  t.regex(r.stderr, /expected one <file\|dir\|->/);
  const h = await cairn(['replay', '--help']);
  t.is(h.code, 0);
  t.regex(h.stdout, /Exit codes: 0 ok, 1 .*, 2 usage error/);
  const u = await cairn(['replay', 'x.json', '--as-of', 'yesterday']);
  t.is(u.code, 2);
  t.regex(u.stderr, /--as-of: expected an RFC 3339 time/);
});

test('cairn events lists, filters and shows the recorded events', async (t) => {
  await recorded('dev.knative.sources.ping');
  const all = await cairn(['events', '-o', 'json', ...common]);
  t.is(all.code, 0, all.stderr);
  const list = JSON.parse(all.stdout) as { id: string; type: string; subject?: string; file: string }[];
  t.true(list.some((e) => e.type === 'dev.knative.sources.ping'));
  const pings = await cairn(['events', '--type', 'dev.knative.sources.ping', '-o', 'json', ...common]);
  const only = JSON.parse(pings.stdout) as { type: string; deliveries: { subscriber: string }[] }[];
  t.true(only.length >= 1);
  t.true(only.every((e) => e.type === 'dev.knative.sources.ping'));
  t.true(only[0]?.deliveries.some((d) => d.subscriber === 'schedule-evaluator'));
  const web = await cairn([
    'events',
    '--subject',
    '*/backuppolicies/web',
    '--since',
    '2000-01-01T00:00:00Z',
    ...common,
  ]);
  t.is(web.code, 0, web.stderr);
  t.regex(web.stdout, /^RECEIVED\s+TYPE\s+SUBJECT\s+DELIVERIES\s+FILE$/m);
  t.regex(
    web.stdout,
    /dev\.knative\.apiserver\.resource\.add\s+default\/backuppolicies\/web\s+schedule-evaluator/,
  );
  t.notRegex(web.stdout, /sources\.ping/);
  const id = list.find((e) => e.type === 'dev.knative.sources.ping')?.id;
  if (id === undefined) return t.fail('no PingSource event in the list');
  const shown = await cairn(['events', 'show', String(id), '-o', 'json', ...common]);
  t.is(shown.code, 0, shown.stderr);
  t.is((JSON.parse(shown.stdout) as { event: { id: string } }).event.id, id);
  const none = await cairn(['events', '--until', '2000-01-01T00:00:00Z', '-o', 'json', ...common]);
  t.deepEqual(JSON.parse(none.stdout), []);
});
