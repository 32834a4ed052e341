/**
 * A backup: source tool stdout → compression → [age encryption] → sha256 → storage, in one
 * stream.pipeline with backpressure and constant memory. The upload's end is gated on the tool's exit status, so a
 * dump that fails (or is killed) halfway aborts the upload: no object, no manifest. The manifest
 * is written only after the artifact is complete; if that write fails the artifact is deleted.
 */
import { Readable } from 'node:stream';
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
import { CAIRN_VERSION, MANIFEST_FORMAT_VERSION, MANIFEST_KIND, type Manifest } from './manifest.ts';
import { paceGc } from './memory.ts';
import { peakRssMiB, startProgress } from './progress.ts';
import { planDump } from './sources.ts';
import { CHUNK, Coalesce, Gate, HashTap } from './streams.ts';
import { describeCommand, startTool } from './tools.ts';

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
  // Before the dump starts: a missing key fails the backup, never writes it in the clear.
  // Loaded only to encrypt: an unencrypted backup's start-up does not pay for the age code.
  const age = opts.encryption === 'age' ? await import('./encryption.ts') : undefined;
  const encryption = age?.encryptionFromEnv(deps.env);
  const encryptor = age && encryption ? await age.createEncryptor(encryption.to) : undefined;
  const signKey = signingKey(deps.env);
  const start = clock.now();
  log.info('backup started', { key, source: opts.source.kind, command: describeCommand(plan.spec) });

  const tool = startTool(plan.spec, (m) => new SourceFailed(m));
  const raw = new ByteCounter(undefined, CHUNK);
  const compressor = createCompressor(opts.compression, opts.compressionLevel);
  const hash = new HashTap();
  const gate = new Gate(() => tool.done);
  // A tool that fails while its stdout is still open (a grandchild holding it) must not wait for EOF.
  tool.done.catch((e: unknown) => gate.destroy(e instanceof Error ? e : new Error(String(e))));
  tool.child.stdin.end();

  let stored = 0;
  const stopProgress = startProgress(log, opts.progressIntervalSeconds ?? 5, () => ({
    rawBytes: raw.bytes,
    storedBytes: stored,
  }));
  let put: Awaited<ReturnType<ArtifactStore['put']>>;
  const stopGc = paceGc();
  try {
    const uploading = store.put(key, gate, {
      contentType: 'application/octet-stream',
      onProgress: (n) => {
        stored = n;
      },
    });
    const streaming = encryptor
      ? pipeline(tool.child.stdout, raw, new Coalesce(), compressor, encryptor, hash, gate)
      : pipeline(tool.child.stdout, raw, new Coalesce(), compressor, hash, gate);
    const [result] = await Promise.all([uploading, streaming, tool.done]);
    put = result;
  } catch (e) {
    // The first failure is the cause: a dump that died makes the store abort its upload (a
    // StorageError caused by the SourceFailed), a store that failed makes the dump hit EPIPE.
    tool.kill();
    await tool.done.catch(() => {});
    throw rootFailure(e);
  } finally {
    stopProgress();
    stopGc();
  }
  const sha256 = hash.sha256 as string;
  const end = clock.now();
  const tolerated = await tool.done;
  const warnings =
    tolerated !== 0
      ? [`${plan.manifest.tool ?? 'the tool'} exited ${tolerated}: ${lastLine(tool.stderr())}`]
      : [];

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
      rawBytes: raw.bytes,
      sha256,
      compression: opts.compression,
      ...(opts.compression !== 'none'
        ? { compressionLevel: opts.compressionLevel ?? DEFAULT_LEVEL[opts.compression] }
        : {}),
      extension: `${extension}${compressionSuffix(opts.compression)}${encryption ? '.age' : ''}`,
      ...(encryption ? { encryption: encryption.manifest } : {}),
    },
    source: plan.manifest,
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
    rawBytes: raw.bytes,
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
    rawBytes: raw.bytes,
    sha256,
    compression: opts.compression,
    ...(encryption ? { encryption: 'age' as const } : {}),
    startTime: manifest.startTime,
    completionTime: manifest.completionTime,
    durationMs: manifest.durationMs,
  };
}

function lastLine(s: string): string {
  return s.trim().split('\n').slice(-1)[0] ?? '';
}
