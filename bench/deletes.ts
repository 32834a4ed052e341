/**
 * Retention deletes on S3: 5,000 expired Backups' objects removed the way the retention-pruner's
 * Job removes them, with the HTTP requests counted at the wire (s3rver's request log,
 * test/fixtures/s3.ts: every request the server answered), against one DeleteObject per object.
 *
 * Each Backup has two objects: its artifact and its manifest (`<stamp>.manifest.json`, which holds
 * the checksum); the pruner's Job gets both keys of every Backup (functions/retention-pruner/
 * decide.ts), so 5,000 artifacts are 10,000 keys. Cairn: the bundled agent run as its Job runs it,
 * `node agent/dist/main.js delete --key … ×10,000 --dest-type s3 …`, its argv built by
 * toAgentArgs as the pruner builds the Job's args; the store batches DeleteObjects at 1,000 keys a
 * request (S3's own limit), one batch at a time. Process start is included. Baseline: the same
 * 10,000 objects, one DeleteObject each, 16 in flight (what the GCS store does, which has no batch
 * delete in @google-cloud/storage), from an S3 client already connected in this process.
 * Target (issue 10): ≤ 5 requests for the 5,000 artifacts. The 7 newest Backups (what keepLast
 * keeps) stay in the same prefix, and both runs must leave exactly those. --quick: 300 artifacts
 * (s3rver's deletes are slow: it scans the folder per key); CAIRN_BENCH_DELETE_ARTIFACTS=n for others.
 *
 * GCS (shared/storage/gcs.ts) deletes one object per request, 16 in flight: @google-cloud/storage
 * has no batch call (the JSON API's /batch endpoint takes 100 calls per multipart request, but only
 * by hand), so there it is one request per key. PVC deletes are unlinks, no requests.
 */
import { performance } from 'node:perf_hooks';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { AGENT_BUNDLE, buildAgent } from '../agent/build.ts';
import { artifactKeys, toAgentArgs } from '../shared/agent-contract.ts';
import { mapLimit } from '../shared/storage/keys.ts';
import { run } from '../test/fixtures/run.ts';
import { type S3Server, startS3 } from '../test/fixtures/s3.ts';
import type { BenchResult } from './agent.ts';

const BUCKET = 'cairn-bench';
const TARGET_REQUESTS = 5;
const KEPT = 7;

/** Artifact and manifest keys of `n` hourly Backups of one policy, as the agent names them. */
function backupKeys(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const { key, manifestKey } = artifactKeys({
      path: 'postgres/hourly',
      policy: 'bench-db',
      scheduledTime: new Date(Date.UTC(2030, 0, 1) + i * 3600e3),
      extension: 'dump',
      compression: 'zstd',
    });
    return [key, manifestKey];
  }).flat();
}

async function fill(s3: S3Server, keys: string[]): Promise<void> {
  await mapLimit(keys, 32, (Key) =>
    s3.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key,
        Body: Key.endsWith('.json') ? '{"sha256":"0"}' : 'x',
      }),
    ),
  );
}

async function remaining(s3: S3Server): Promise<number> {
  const page = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return page.KeyCount ?? 0;
}

/** Requests the server answered since `from`, by method and sub-resource. */
function tally(s3: S3Server, from: number): { total: number; byKind: Record<string, number> } {
  const byKind: Record<string, number> = {};
  const rs = s3.requests.slice(from);
  for (const r of rs) {
    const kind = `${r.method}${'delete' in r.query ? ' ?delete' : ''} ${r.status}`;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return { total: rs.length, byKind };
}

export async function benchDeletes(opts: { quick: boolean }): Promise<BenchResult[]> {
  const ARTIFACTS = Number(process.env.CAIRN_BENCH_DELETE_ARTIFACTS ?? (opts.quick ? 300 : 5000));
  await buildAgent();
  const s3 = await startS3({ buckets: [BUCKET] });
  try {
    // The Backups retention keeps (keepLast 7) stay beside the expired ones, as in a real prune.
    const all = backupKeys(ARTIFACTS + KEPT);
    const keys = all.slice(0, 2 * ARTIFACTS);
    const kept = all.slice(2 * ARTIFACTS);

    await fill(s3, all);
    const args = toAgentArgs({
      command: 'delete',
      keys,
      destination: {
        type: 's3',
        bucket: BUCKET,
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
      },
    });
    const from = s3.requests.length;
    const t0 = performance.now();
    const res = await run(process.execPath, [AGENT_BUNDLE, ...args], {
      env: { ...process.env, ...s3.env, CAIRN_TERMINATION_LOG: '/dev/null' },
    });
    const cairnS = (performance.now() - t0) / 1000;
    const cairn = tally(s3, from);
    const out = JSON.parse(res.stdout.trim().split('\n').at(-1) ?? '{}') as { deleted?: number };
    if (out.deleted !== keys.length) throw new Error(`agent deleted ${out.deleted} of ${keys.length}`);
    if ((await remaining(s3)) !== kept.length) throw new Error('agent delete left the wrong objects');

    await fill(s3, keys);
    const from2 = s3.requests.length;
    const t1 = performance.now();
    await mapLimit(keys, 16, (Key) => s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key })));
    const baseS = (performance.now() - t1) / 1000;
    const base = tally(s3, from2);
    if ((await remaining(s3)) !== kept.length) throw new Error('single deletes left the wrong objects');

    const fmtKinds = (k: Record<string, number>) =>
      Object.entries(k)
        .map(([kind, n]) => `${n} ${kind}`)
        .join(', ');
    const r2 = (n: number) => Math.round(n * 100) / 100;
    // ≤ 5 per 5,000 artifacts, i.e. one request per 1,000 artifacts (at least one).
    const allowed = Math.max(1, (TARGET_REQUESTS * ARTIFACTS) / 5000);
    return [
      {
        name: `storage requests to delete ${ARTIFACTS} artifacts (S3)`,
        cairn: cairn.total,
        baseline: base.total,
        unit: 'req',
        ratio: cairn.total / base.total,
        target: allowed / base.total,
        note: `target ≤ ${allowed} request(s) absolute (≤ 5 per 5,000 artifacts): ${cairn.total} (${fmtKinds(cairn.byKind)}); each Backup is 2 objects, artifact + manifest (its checksum), so ${keys.length} keys at ≤ 1,000 per DeleteObjects; baseline: one DeleteObject per object (${fmtKinds(base.byKind)})`,
      },
      {
        name: `time to delete ${ARTIFACTS} artifacts (S3, s3rver)`,
        cairn: r2(cairnS),
        baseline: r2(baseS),
        unit: 's',
        ratio: r2(cairnS / baseS),
        target: Number.POSITIVE_INFINITY,
        note: "agent process start included, batches one at a time; baseline: one DeleteObject per object, 16 in flight, client already connected; s3rver scans the prefix's folder per deleted key, so both are mostly s3rver's own time",
      },
    ];
  } finally {
    await s3.stop();
  }
}
