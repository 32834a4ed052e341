/**
 * Issue 14, item 1 (DESIGN.md rule 8): an error about one object is recorded on that object and
 * never stops the handling of the others. Each of the five functions' ticks handles two objects,
 * served by faas-js-runtime over HTTP; its KubeClient reaches the API emulator through
 * fault-proxy.ts, which answers 500 to every request about the first object (faults at the wire,
 * not mocks). The second object must be handled as if nothing happened, the first gets a Warning
 * Event saying what failed, and the tick answers 5xx so the Broker delivers it again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { HTTP } from 'cloudevents';
import * as launcher from '../../functions/job-launcher/handle.ts';
import * as watcher from '../../functions/job-watcher/handle.ts';
import * as restorer from '../../functions/restore-runner/handle.ts';
import * as pruner from '../../functions/retention-pruner/handle.ts';
import * as evaluator from '../../functions/schedule-evaluator/handle.ts';
import { type ApiServer, startApiServer } from '../../local/apiserver/index.ts';
import { serveHandle } from '../../local/functions.ts';
import { freePort } from '../../local/ports.ts';
import { installCrds, REPO_ROOT } from '../../local/runtime.ts';
import { formatAgentResult } from '../../shared/agent-contract.ts';
import type { Backup, Restore } from '../../shared/api/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import { pingEvent } from '../../shared/events.ts';
import { makeHandle, type Planner } from '../../shared/function.ts';
import { KubeClient, type KubeObject } from '../../shared/kube.ts';
import { silentLogger } from '../../shared/log.ts';
import { backup, backupPolicy, databaseBackup } from '../builders.ts';
import { apiFetch, apiPutStatus } from '../fixtures/api.ts';
import { type ApiRequest, scriptedPlan, startFaultProxy } from './fault-proxy.ts';

interface World {
  clock: ManualClock;
  api: ApiServer;
  /** Straight to the emulator: the test's own setup and reads. */
  direct: KubeClient;
  /** Sends the tick to the function; the HTTP status of its answer. */
  tick(): Promise<number>;
  stop(): Promise<void>;
}

/** The function, served over HTTP, its client behind a proxy that fails every request `about` matches. */
async function start(name: string, plan: Planner, about: (req: ApiRequest) => boolean): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-isolation-'));
  const clock = new ManualClock('2030-01-01T00:00:30Z');
  const api = await startApiServer({ clock });
  const directConfig = join(dir, 'direct.kubeconfig');
  api.writeKubeconfig(directConfig);
  await installCrds(directConfig);
  const direct = await KubeClient.connect({ kubeconfig: directConfig, clock });
  // Events are how the failure is reported: they pass, whatever they are about.
  const proxy = await startFaultProxy({
    target: api,
    plan: scriptedPlan([
      { match: (r) => r.resource !== 'events' && about(r), fault: 'internal', times: 1e6 },
    ]),
  });
  const proxied = join(dir, 'proxied.kubeconfig');
  proxy.writeKubeconfig(proxied);
  const kube = await KubeClient.connect({ kubeconfig: proxied, clock, requestTimeoutMs: 10_000 });
  const handle = makeHandle(name, plan, { deps: { kube, clock, log: silentLogger } });
  const server: Server = await serveHandle(handle, {
    port: await freePort(),
    logLevel: 'fatal',
    config: join(REPO_ROOT, 'functions', name),
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    clock,
    api,
    direct,
    async tick() {
      const { headers, body } = HTTP.binary(
        pingEvent({ namespace: 'cairn-system', name: 'cairn-tick', data: { tick: 'cairn' } }),
      );
      const res = await fetch(url, {
        method: 'POST',
        headers: headers as Record<string, string>,
        body: body as string,
      });
      await res.text();
      return res.status;
    },
    async stop() {
      await proxy.close();
      await new Promise((r) => server.close(r));
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const named = (name: string) => (r: ApiRequest) => r.name === name;

async function create<T extends KubeObject>(w: World, kind: string, obj: T): Promise<T> {
  return (await w.direct.create<T>(kind, obj)).object;
}

function stripped<T extends KubeObject>(o: T): T {
  const { uid: _u, creationTimestamp: _c, generation: _g, ...metadata } = o.metadata;
  const { status: _s, ...rest } = o;
  return { ...rest, metadata } as T;
}

async function secrets(w: World): Promise<void> {
  for (const name of ['pg', 's3']) {
    await create(w, 'Secret', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: 'default' },
      stringData: { x: 'y' },
    });
  }
}

/** The Warning the function recorded on `name` about its failure. */
async function failureEvent(w: World, name: string): Promise<KubeObject | undefined> {
  const events = await w.direct.list<KubeObject>('Event', 'default');
  return events.find(
    (e) => e.involvedObject?.name === name && e.type === 'Warning' && e.reason === 'ReconciliationFailed',
  );
}

test('schedule-evaluator: a policy whose status cannot be written does not stop the next policy from being scheduled', async (t) => {
  const w = await start('schedule-evaluator', evaluator.plan, named('alpha'));
  t.teardown(() => w.stop());
  for (const name of ['alpha', 'beta'])
    await create(w, 'DatabaseBackup', stripped(databaseBackup(name, { schedule: '0 * * * *' })));
  w.clock.set('2030-01-01T01:00:10Z');
  t.true((await w.tick()) >= 500, 'the tick is answered with a status the Broker retries');
  t.truthy(await w.direct.get('Backup', 'default', 'beta-203001010100'), 'beta is scheduled');
  const beta = await w.direct.get<KubeObject>('DatabaseBackup', 'default', 'beta');
  t.is(beta?.status?.lastScheduleTime, '2030-01-01T01:00:00Z');
  t.regex(String((await failureEvent(w, 'alpha'))?.message), /schedule-evaluator: .*alpha/);
});

test('job-launcher: a Backup whose status cannot be written does not stop the next Backup from getting its Job', async (t) => {
  const w = await start('job-launcher', launcher.plan, named('pg-a'));
  t.teardown(() => w.stop());
  await secrets(w);
  await create(w, 'DatabaseBackup', stripped(databaseBackup('pg')));
  for (const name of ['pg-a', 'pg-b'])
    await create(w, 'Backup', stripped(backup(name, { kind: 'DatabaseBackup', name: 'pg' })));
  t.true((await w.tick()) >= 500, 'the tick is answered with a status the Broker retries');
  t.truthy(await w.direct.get('Job', 'default', 'pg-b'), 'pg-b has its Job');
  t.like((await w.direct.get<Backup>('Backup', 'default', 'pg-b'))?.status, {
    phase: 'Pending',
    jobName: 'pg-b',
  });
  t.truthy(await failureEvent(w, 'pg-a'));
});

test('job-watcher: a run whose Job cannot be read does not stop the next run from being finished', async (t) => {
  const w = await start('job-watcher', watcher.plan, named('pg-a'));
  t.teardown(() => w.stop());
  await create(w, 'DatabaseBackup', stripped(databaseBackup('pg')));
  for (const name of ['pg-a', 'pg-b']) {
    const b = await create(w, 'Backup', stripped(backup(name, { kind: 'DatabaseBackup', name: 'pg' })));
    await apiPutStatus(w.api, `/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/${name}`, b, {
      phase: 'Running',
      jobName: name,
    });
    const labels = { ...b.metadata.labels, 'job-name': name };
    const job = await create<KubeObject>(w, 'Job', {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace: 'default', labels },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'agent', image: 'a' }] } } },
    });
    const pod = (await (
      await apiFetch(w.api, `/api/v1/namespaces/default/pods`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `${name}-pod`, namespace: 'default', labels },
          spec: { containers: [{ name: 'agent', image: 'a' }] },
        }),
      })
    ).json()) as KubeObject;
    const message = formatAgentResult({
      ok: true,
      command: 'backup',
      location: `s3://bkt/${name}.dump.zst`,
      key: `${name}.dump.zst`,
      manifestKey: `${name}.manifest.json`,
      sizeBytes: 10,
      rawBytes: 40,
      sha256: 'c'.repeat(64),
      compression: 'zstd',
      startTime: '2030-01-01T00:00:31Z',
      completionTime: '2030-01-01T00:00:35Z',
      durationMs: 4000,
    });
    await apiPutStatus(w.api, `/api/v1/namespaces/default/pods/${name}-pod`, pod, {
      phase: 'Succeeded',
      containerStatuses: [
        { name: 'agent', state: { terminated: { exitCode: 0, reason: 'Completed', message } } },
      ],
    });
    await apiPutStatus(w.api, `/apis/batch/v1/namespaces/default/jobs/${name}`, job, {
      startTime: '2030-01-01T00:00:31Z',
      completionTime: '2030-01-01T00:00:36Z',
      succeeded: 1,
      conditions: [{ type: 'Complete', status: 'True' }],
    });
  }
  t.true((await w.tick()) >= 500, 'the tick is answered with a status the Broker retries');
  t.is((await w.direct.get<Backup>('Backup', 'default', 'pg-b'))?.status?.phase, 'Completed');
  t.is((await w.direct.get<Backup>('Backup', 'default', 'pg-a'))?.status?.phase, 'Running');
  t.truthy(await failureEvent(w, 'pg-a'));
});

test('restore-runner: a Restore whose status cannot be written does not stop the next Restore from getting its Job', async (t) => {
  const w = await start('restore-runner', restorer.plan, named('ra'));
  t.teardown(() => w.stop());
  for (const claim of ['backup-store', 'into-a', 'into-b']) {
    await create(w, 'PersistentVolumeClaim', {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claim, namespace: 'default' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
  }
  await create(w, 'BackupPolicy', stripped(backupPolicy('vols')));
  const b = await create(w, 'Backup', stripped(backup('vols-1', { kind: 'BackupPolicy', name: 'vols' })));
  await apiPutStatus(w.api, '/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/vols-1', b, {
    phase: 'Completed',
    key: 'vols/1.tar.zst',
    manifestKey: 'vols/1.manifest.json',
    sha256: 'c'.repeat(64),
    destination: { type: 'pvc', claimName: 'backup-store' },
  });
  for (const [name, claim] of [
    ['ra', 'into-a'],
    ['rb', 'into-b'],
  ] as const) {
    await create<Restore>(w, 'Restore', {
      apiVersion: 'backup.cairn.dev/v1alpha1',
      kind: 'Restore',
      metadata: { name, namespace: 'default' },
      spec: { backupRef: { name: 'vols-1' }, target: { pvc: { claimName: claim } } },
    });
  }
  t.true((await w.tick()) >= 500, 'the tick is answered with a status the Broker retries');
  t.truthy(await w.direct.get('Job', 'default', 'rb-restore'), 'rb has its Job');
  t.like((await w.direct.get<Restore>('Restore', 'default', 'rb'))?.status, { phase: 'Pending' });
  t.truthy(await failureEvent(w, 'ra'));
});

test('retention-pruner: a Backup that cannot be deleted does not stop the next policy from being pruned', async (t) => {
  const w = await start('retention-pruner', pruner.plan, named('alpha-1'));
  t.teardown(() => w.stop());
  for (const policy of ['alpha', 'beta']) {
    await create(w, 'BackupPolicy', stripped(backupPolicy(policy, { retentionCount: 1 })));
    for (const [i, time] of [
      [1, '2030-01-01T00:00:00Z'],
      [2, '2030-01-01T00:05:00Z'],
    ] as const) {
      const name = `${policy}-${i}`;
      const b = await create(
        w,
        'Backup',
        stripped(
          backup(name, { kind: 'BackupPolicy', name: policy }, undefined, {}, { scheduledTime: time }),
        ),
      );
      await apiPutStatus(w.api, `/apis/backup.cairn.dev/v1alpha1/namespaces/default/backups/${name}`, b, {
        phase: 'Completed',
        completionTime: time,
      });
    }
  }
  t.true((await w.tick()) >= 500, 'the tick is answered with a status the Broker retries');
  const beta1 = await w.direct.get<Backup>('Backup', 'default', 'beta-1');
  t.true(beta1 === undefined || beta1.metadata.deletionTimestamp !== undefined, 'beta-1 is expired');
  t.falsy((await w.direct.get<Backup>('Backup', 'default', 'alpha-1'))?.metadata.deletionTimestamp);
  t.truthy(await failureEvent(w, 'alpha'));
});
