/**
 * A backup: source tool stdout → compression → [age encryption] → sha256 → storage, with
 * backpressure and constant memory. With the zstd tool (agent/zstd.ts) the dump tool writes into
 * zstd directly and Node handles only the compressed bytes; without it Node reads the dump and
 * compresses with zlib. The upload's end is gated on every tool's exit status, so a dump that
 * fails (or is killed) halfway aborts the upload: no object, no manifest. The manifest is written
 * only after the artifact is complete; if that write fails the artifact is deleted.
 */
import { type Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type AgentBackupOptions,
  type AgentSuccess,
  backupArtifactKeys,
  compressionSuffix,
  sourceExtension,
} from '../shared/agent-contract.ts';
import type { Clock } from '../shared/clock.ts';
import { messageOf, StorageError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { ByteCounter } from '../shared/storage/count.ts';
import type { ArtifactStore } from '../shared/storage/index.ts';
import { manifestText, sign, signingKey } from './authenticity.ts';
import { createCompressor, DEFAULT_LEVEL } from './compression.ts';
import { rootFailure, SourceFailed } from './errors.ts';
import {
  CAIRN_VERSION,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_KIND,
  type Manifest,
  type ManifestSource,
} from './manifest.ts';
import { paceGc } from './memory.ts';
import { peakRssMiB, startProgress } from './progress.ts';
import { planDump } from './sources.ts';
import { CHUNK, Coalesce, Gate, HashTap } from './streams.ts';
import { describeCommand, type RunningTool, startTool, stopJoined } from './tools.ts';
import { findZstd, parseZstdSummary, zstdCompress } from './zstd.ts';

export interface AgentDeps {
  store: ArtifactStore;
  log: Logger;
  clock: Clock;
  env: NodeJS.ProcessEnv;
}

export async function runBackup(opts: AgentBackupOptions, deps: AgentDeps): Promise<AgentSuccess> {
  const { store, log, clock } = deps;
  const plan = await planDump(opts.source, deps.env);
  const extension = sourceExtension(opts.source);
  const { key, manifestKey } = backupArtifactKeys(opts);
  const signKey = signingKey(deps.env);
  const level =
    opts.compression === 'none' ? undefined : (opts.compressionLevel ?? DEFAULT_LEVEL[opts.compression]);
  // Before the dump starts: its stdout must have its reader from the first byte on (Node drains
  // and drops an unread child stdout when the child exits: a quick dump would be lost), and a
  // missing key fails the backup before anything is written, never writes it in the clear.
  const [zstd, encryption] = await Promise.all([
    opts.compression === 'zstd' ? findZstd(deps.env) : undefined,
    sealing(opts, deps.env),
  ]);
  const start = clock.now();
  const encryptor = encryption?.encryptor;
  log.info('backup started', {
    key,
    source: opts.source.kind,
    command: describeCommand(plan.spec),
    compressor: zstd ? 'zstd' : opts.compression === 'none' ? 'none' : `zlib ${opts.compression}`,
  });

  const tool = startTool(plan.spec, (m) => new SourceFailed(m));
  tool.child.stdin?.end();
  // zstd reads the dump tool's stdout itself: the uncompressed bytes never pass through Node
  // (agent/zstd.ts). Without the tool, Node's zlib compresses what Node reads.
  const zstdTool =
    zstd && level !== undefined
      ? startTool({ ...zstdCompress(zstd, level, deps.env), stdin: tool.child.stdout }, (m) => new Error(m))
      : undefined;
  const raw = zstdTool ? undefined : new ByteCounter(undefined, CHUNK);
  // What zstd wrote, to check its summary against (zstdRawBytes); zlib's input is counted as raw.
  const compressed = new ByteCounter(undefined, CHUNK);
  const hash = new HashTap();
  // The upload ends only once every tool exited well: a dump that failed halfway is no artifact.
  const tools = [tool, ...(zstdTool ? [zstdTool] : [])];
  const allDone = Promise.all(tools.map((t) => t.done));
  allDone.catch(() => {});
  // zstd's summary is complete once it exited, and so is the count of what it wrote: a summary
  // the agent cannot read fails the upload too, rather than leave an artifact without a manifest.
  let rawBytes = 0;
  const gate = new Gate(async () => {
    await allDone;
    rawBytes = raw ? raw.bytes : zstdRawBytes(zstdTool as RunningTool, compressed.bytes);
  });
  // A tool that fails while its stdout is still open (a grandchild holding it) must not wait for EOF.
  for (const t of tools)
    t.done.catch((e: unknown) => gate.destroy(e instanceof Error ? e : new Error(String(e))));

  let stored = 0;
  const stopProgress = startProgress(log, opts.progressIntervalSeconds ?? 5, () => ({
    rawBytes: raw?.bytes,
    storedBytes: stored,
  }));
  let put: Awaited<ReturnType<ArtifactStore['put']>>;
  let source: ManifestSource;
  const stopGc = paceGc();
  try {
    const uploading = store.put(key, gate, {
      contentType: 'application/octet-stream',
      onProgress: (n) => {
        stored = n;
      },
    });
    const front: Duplex[] = zstdTool
      ? [compressed]
      : [raw as ByteCounter, new Coalesce(), createCompressor(opts.compression, level)];
    const body = zstdTool ? zstdTool.child.stdout : tool.child.stdout;
    const streaming = pipeline([body, ...front, ...(encryptor ? [encryptor] : []), hash, gate]);
    const [result] = await Promise.all([uploading, streaming, allDone]);
    put = result;
    source = await plan.manifest;
  } catch (e) {
    // The first failure is the cause: a dump that died makes the store abort its upload (a
    // StorageError caused by the SourceFailed), a store that failed makes the dump hit EPIPE.
    // Of the dump and zstd, the one that failed by itself first (the other then saw a broken
    // pipe or an early end); a store that failed first had them killed, so neither.
    const toolFailed = await stopJoined(tools);
    // A server that cannot be reached fails both; the version query says so more clearly.
    const unreachable = await plan.manifest.then(
      () => undefined,
      (x: unknown) => x,
    );
    throw rootFailure(unreachable ?? toolFailed ?? e);
  } finally {
    stopProgress();
    stopGc();
  }
  const sha256 = hash.sha256 as string;
  const end = clock.now();
  const tolerated = await tool.done;
  const warnings =
    tolerated !== 0 ? [`${source.tool ?? 'the tool'} exited ${tolerated}: ${lastLine(tool.stderr())}`] : [];

  const manifest: Manifest = {
    formatVersion: MANIFEST_FORMAT_VERSION,
    kind: MANIFEST_KIND,
    cairnVersion: CAIRN_VERSION,
    policy: opts.policy,
    ...(opts.backupName ? { backupName: opts.backupName } : {}),
    scheduledTime: new Date(opts.scheduledTime).toISOString(),
    artifact: {
      key,
      location: put.location,
      sizeBytes: put.sizeBytes,
      rawBytes,
      sha256,
      compression: opts.compression,
      ...(level !== undefined ? { compressionLevel: level } : {}),
      extension: `${extension}${compressionSuffix(opts.compression)}${encryption ? '.age' : ''}`,
      ...(encryption ? { encryption: encryption.manifest } : {}),
    },
    source,
    startTime: start.toISOString(),
    completionTime: end.toISOString(),
    durationMs: end.getTime() - start.getTime(),
    warnings,
  };
  if (put.sizeBytes !== hash.bytes) {
    await store.deleteMany([key]);
    throw new StorageError(`the store holds ${put.sizeBytes} bytes of ${key} but ${hash.bytes} were sent`);
  }
  try {
    const written = signKey ? sign(manifest, manifestKey, signKey) : manifest;
    await store.put(manifestKey, Readable.from([Buffer.from(manifestText(written))]), {
      contentType: 'application/json',
    });
  } catch (e) {
    // An artifact without its manifest looks complete to nobody, but would cost space forever.
    await store.deleteMany([key]).catch(() => {});
    throw e instanceof StorageError ? e : new StorageError(`writing the manifest failed: ${messageOf(e)}`, e);
  }
  for (const w of warnings) log.warn('backup warning', { warning: w });
  log.info('backup completed', {
    key,
    peakRssMiB: peakRssMiB(),
    location: put.location,
    rawBytes,
    sizeBytes: put.sizeBytes,
    parts: put.parts,
    sha256,
    durationMs: manifest.durationMs,
  });
  return {
    ok: true,
    command: 'backup',
    location: put.location,
    key,
    manifestKey,
    sizeBytes: put.sizeBytes,
    rawBytes,
    sha256,
    compression: opts.compression,
    ...(encryption ? { encryption: 'age' as const } : {}),
    startTime: manifest.startTime,
    completionTime: manifest.completionTime,
    durationMs: manifest.durationMs,
  };
}

/**
 * The age key and encryptor when the backup is encrypted. Loaded only then: an unencrypted
 * backup's start-up does not pay for the age code.
 */
async function sealing(opts: AgentBackupOptions, env: NodeJS.ProcessEnv) {
  if (opts.encryption !== 'age') return undefined;
  const age = await import('./encryption.ts');
  const { to, manifest } = age.encryptionFromEnv(env);
  return { manifest, encryptor: await age.createEncryptor(to) };
}

/**
 * The uncompressed size from zstd's summary, which must name the compressed size Node counted:
 * a summary that does not is a zstd the agent does not understand, and no figure is better than
 * a wrong one.
 */
function zstdRawBytes(zstd: RunningTool, compressedBytes: number): number {
  const summary = parseZstdSummary(zstd.stderr());
  if (!summary || summary.compressedBytes !== compressedBytes) {
    throw new Error(
      `zstd's summary does not give the sizes of this backup (${compressedBytes} bytes compressed): ${lastLine(zstd.stderr()) || 'no summary'}`,
    );
  }
  return summary.rawBytes;
}

function lastLine(s: string): string {
  return s.trim().split('\n').slice(-1)[0] ?? '';
}
