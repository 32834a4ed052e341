/** Helpers for end-to-end suites on the local runtime. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalRuntime, type LocalRuntimeOptions, startLocalRuntime } from '../../local/runtime.ts';
import type { Backup, DatabaseBackup, Restore } from '../../shared/api/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import type { KubeClient, KubeObject } from '../../shared/kube.ts';
import { createLogger } from '../../shared/log.ts';
import type { PostgresServer } from '../fixtures/postgres.ts';
import type { S3Server } from '../fixtures/s3.ts';

/** Polls `probe` until it returns a value (not undefined/false); fails with `what` on timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface E2E {
  runtime: LocalRuntime;
  clock: ManualClock;
  stateDir: string;
  /** Moves the clock a minute on, ticks, and waits for the Backup of that minute to finish. */
  nextRun(policy: string, namespace?: string): Promise<Backup>;
  stop(): Promise<void>;
}

/** Minute stamp of the instant, as Backup names carry it. */
const stamp = (d: Date) => d.toISOString().slice(0, 16).replace(/[-T:]/g, '');

export async function startE2E(
  start = '2030-01-01T00:00:30Z',
  extra: Pick<LocalRuntimeOptions, 'jobHostEnv'> = {},
): Promise<E2E> {
  const stateDir = await mkdtemp(join(tmpdir(), 'cairn-e2e-'));
  const clock = new ManualClock(start);
  const lines: string[] = [];
  const runtime = await startLocalRuntime({
    stateDir,
    clock,
    ping: { mode: 'manual' },
    retry: { retry: 3, backoffDelayMs: 50 },
    jobBackoffMs: 200,
    ...extra,
    log: createLogger({}, { level: 'info', write: (l) => lines.push(l) }),
  });
  return {
    runtime,
    clock,
    stateDir,
    async nextRun(policy, namespace = 'default') {
      clock.advance(60_000);
      const minute = new Date(Math.floor(clock.now().getTime() / 60_000) * 60_000);
      await runtime.tick();
      const name = `${policy}-${stamp(minute)}`;
      return waitFor(`Backup ${name} to finish`, async () => {
        const b = await runtime.kube.get<Backup>('Backup', namespace, name);
        return b?.status?.phase === 'Completed' || b?.status?.phase === 'Failed' ? b : undefined;
      });
    },
    async stop() {
      await runtime.close();
      if (process.env.CAIRN_KEEP_E2E) {
        process.stderr.write(`kept ${stateDir}\n${lines.slice(-50).join('\n')}\n`);
      } else await rm(stateDir, { recursive: true, force: true });
    },
  };
}

export function names(list: KubeObject[]): string[] {
  return list.map((o) => o.metadata.name).sort();
}

/**
 * The Secrets the end-to-end policies reference, in `default`: `pg` (key `password`) and `s3`
 * (the s3rver keys as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
 */
export async function createCredentials(kube: KubeClient, password: string, s3: S3Server): Promise<void> {
  const secret = (name: string, stringData: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'default' },
    stringData,
  });
  await kube.create('Secret', secret('pg', { password }));
  await kube.create(
    'Secret',
    secret('s3', { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }),
  );
}

/** A DatabaseBackup in `default` of the fixture's database `app` into an s3rver bucket. */
export function postgresToS3(
  name: string,
  opts: { pg: PostgresServer; s3: S3Server; bucket: string; schedule: string; path?: string },
  extra: Partial<DatabaseBackup['spec']> = {},
): DatabaseBackup {
  return {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'DatabaseBackup',
    metadata: { name, namespace: 'default' },
    spec: {
      databaseType: 'postgres',
      schedule: opts.schedule,
      database: {
        host: '127.0.0.1',
        port: opts.pg.port,
        name: 'app',
        user: opts.pg.user,
        passwordSecretRef: { name: 'pg', key: 'password' },
      },
      storageDestination: {
        type: 's3',
        bucket: opts.bucket,
        ...(opts.path ? { path: opts.path } : {}),
        endpoint: opts.s3.endpoint,
        secretName: 's3',
      },
      ...extra,
    },
  };
}

/**
 * Restores Backup `backup` into the fixture's database `database` (created first) through a
 * Restore named `name` in `default`, and waits for it to finish, Completed or Failed.
 */
export async function restorePostgres(
  kube: KubeClient,
  pg: PostgresServer,
  opts: { name: string; backup: string; database: string },
): Promise<Restore> {
  await pg.createDatabase(opts.database);
  const restore: Restore = {
    apiVersion: 'backup.cairn.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name: opts.name, namespace: 'default' },
    spec: {
      backupRef: { name: opts.backup },
      target: {
        database: {
          host: '127.0.0.1',
          port: pg.port,
          name: opts.database,
          user: pg.user,
          passwordSecretRef: { name: 'pg', key: 'password' },
        },
      },
    },
  };
  await kube.create('Restore', restore);
  return waitFor(`Restore ${opts.name} to finish`, async () => {
    const r = await kube.get<Restore>('Restore', 'default', opts.name);
    return r?.status?.phase === 'Completed' || r?.status?.phase === 'Failed' ? r : undefined;
  });
}
