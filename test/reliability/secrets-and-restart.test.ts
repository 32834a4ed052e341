/**
 * End to end on the local runtime with real PostgreSQL and s3rver (issue 9):
 * - the runtime is stopped and started again on the same state after three days of downtime: one
 *   catch-up run, not a flood, and a MissedSchedules warning;
 * - secrets stay secret: the database password and the S3 keys appear in no status, Event, log
 *   line, delivered CloudEvent, agent termination message or job log of the whole run.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startLocalRuntime } from '../../local/runtime.ts';
import type { Backup } from '../../shared/api/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { createLogger } from '../../shared/log.ts';
import { createCredentials, postgresToS3, waitFor } from '../e2e/helpers.ts';
import { startPostgres } from '../fixtures/postgres.ts';
import { startS3 } from '../fixtures/s3.ts';

const PASSWORD = 'pg-Secret-reliability-9c41';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

test('after three days down, one catch-up run; no secret appears in any status, Event, log, CloudEvent or termination message', async (t) => {
  const [pg, s3] = await Promise.all([startPostgres({ password: PASSWORD }), startS3({ buckets: ['rel'] })]);
  const stateDir = await mkdtemp(join(tmpdir(), 'cairn-rel-'));
  const clock = new ManualClock('2030-01-01T00:00:30Z');
  const lines: string[] = [];
  const start = () =>
    startLocalRuntime({
      stateDir,
      clock,
      ping: { mode: 'manual' },
      retry: { retry: 3, backoffDelayMs: 50 },
      jobBackoffMs: 200,
      log: createLogger({}, { level: 'debug', write: (l) => lines.push(l) }),
    });
  let runtime = await start();
  t.teardown(async () => {
    await runtime.close();
    await Promise.all([pg.stop(), s3.stop()]);
    await rm(stateDir, { recursive: true, force: true });
  });
  await pg.createDatabase('app');
  await pg.psql('CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);', 'app');
  const secrets = [PASSWORD, s3.secretAccessKey];
  const kube = () => runtime.kube;
  await createCredentials(kube(), PASSWORD, s3);
  const policy = postgresToS3('hourly', { pg, s3, bucket: 'rel', schedule: '0 * * * *', path: 'pg' });
  await kube().create('DatabaseBackup', policy);
  const finished = (name: string) =>
    waitFor(`Backup ${name} to finish`, async () => {
      const b = await kube().get<Backup>('Backup', 'default', name);
      return b?.status?.phase === 'Completed' || b?.status?.phase === 'Failed' ? b : undefined;
    });

  // The first hourly run.
  clock.set('2030-01-01T01:00:10Z');
  await runtime.tick();
  const first = await finished('hourly-203001010100');
  t.is(first.status?.phase, 'Completed', first.status?.message);

  // Down for three days; the same state, a clock three days on.
  await runtime.close();
  clock.set('2030-01-04T01:30:10Z');
  runtime = await start();
  await runtime.tick();
  await runtime.tick();
  const catchUp = await finished('hourly-203001040100');
  t.is(catchUp.status?.phase, 'Completed', catchUp.status?.message);
  const backups = await kube().list<Backup>('Backup', 'default');
  t.deepEqual(backups.map((b) => b.metadata.name).sort(), ['hourly-203001010100', 'hourly-203001040100']);
  const events = await kube().list<KubeObject>('Event', 'default');
  t.true(
    events.some((e) => e.reason === 'MissedSchedules' && /more than|7[0-9] earlier/.test(String(e.message))),
    'a MissedSchedules warning says runs were missed',
  );
  await runtime.flushed();

  // Everything the run produced, searched for the secrets.
  const objects = JSON.stringify(
    await Promise.all(
      ['DatabaseBackup', 'Backup', 'Job', 'Pod', 'Event'].map((k) => kube().list(k, 'default')),
    ),
  );
  const pods = await kube().list<KubeObject>('Pod', 'default');
  const terminations = pods.map((p) => JSON.stringify(p.status?.containerStatuses ?? []));
  t.true(
    terminations.some((m) => m.includes('"ok\\":true')),
    'the agent termination messages are part of what is searched',
  );
  // Stopped first: the Broker and the job runner write their files until then (a record is
  // written to a .tmp file and renamed), and a file read half-way would be no evidence.
  await runtime.close();
  const files = [
    ...(await filesUnder(join(stateDir, 'events'))),
    ...(await filesUnder(join(stateDir, 'logs'))),
  ];
  t.true(
    files.some((f) => f.includes(`${join(stateDir, 'events')}`)),
    'the Broker recorded the events it delivered',
  );
  const recorded = await Promise.all(files.map((f) => readFile(f, 'utf8')));
  t.true(lines.length > 0, 'the runtime logged');
  for (const s of secrets) {
    t.false(objects.includes(s), 'no status, Event, Job, Pod or termination message holds a secret');
    t.false(
      lines.some((l) => l.includes(s)),
      'no log line holds a secret',
    );
    for (const [i, text] of recorded.entries()) t.false(text.includes(s), `${files[i]} holds no secret`);
  }
});
