/**
 * The manifest written beside each artifact: what it is, how big before and after compression,
 * its sha256, whether and to whom it is encrypted, and which tool and server made it; signed when
 * the policy has a signing key. The store is no authority: a restore checks the manifest against
 * the Backup's sha256 or its signature (agent/authenticity.ts). The retention pruner and humans
 * can read it without the cluster.
 */

import pkg from '../package.json' with { type: 'json' };
import type { Compression, SourceKind } from '../shared/agent-contract.ts';
import { COMPRESSIONS } from '../shared/agent-contract.ts';
import type { ManifestSignature } from './authenticity.ts';
import type { ManifestEncryption } from './encryption.ts';
import { VerificationFailed } from './errors.ts';

export const MANIFEST_FORMAT_VERSION = 1;
export const MANIFEST_KIND = 'cairn.dev/backup-manifest';
export const CAIRN_VERSION: string = pkg.version;

export interface ManifestSource {
  kind: SourceKind;
  /** postgres: `custom` (pg_restore) or `plain` (psql). */
  format?: 'custom' | 'plain';
  database?: string;
  allDatabases?: boolean;
  schemas?: string[];
  /** tar: the folders archived; `contents` = one folder stored as `./…`, `named` = each under its base name. */
  paths?: string[];
  layout?: 'contents' | 'named';
  /** custom: the program that produced the artifact (not its arguments, which may be sensitive). */
  program?: string;
  tool?: string;
  toolVersion?: string;
  serverVersion?: string;
  host?: string;
}

export interface Manifest {
  formatVersion: number;
  kind: typeof MANIFEST_KIND;
  cairnVersion: string;
  policy: string;
  backupName?: string;
  scheduledTime: string;
  artifact: {
    key: string;
    location: string;
    sizeBytes: number;
    rawBytes: number;
    sha256: string;
    compression: Compression;
    compressionLevel?: number;
    extension: string;
    /** Set when the stored bytes are age-encrypted (after compression): to whom, never the key. */
    encryption?: ManifestEncryption;
  };
  source: ManifestSource;
  startTime: string;
  completionTime: string;
  durationMs: number;
  warnings: string[];
  /** HMAC-SHA256 of everything above and the manifest's key, with the policy's signing key. */
  signature?: ManifestSignature;
}

export function parseManifest(text: string, key: string): Manifest {
  const bad = (why: string) => new VerificationFailed(`manifest ${key} is not a Cairn manifest: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const m = v as Partial<Manifest> | null;
  if (!m || m.kind !== MANIFEST_KIND) throw bad(`kind is not ${MANIFEST_KIND}`);
  if (m.formatVersion !== MANIFEST_FORMAT_VERSION) {
    throw bad(
      `format version ${String(m.formatVersion)}; this agent (Cairn ${CAIRN_VERSION}) reads ${MANIFEST_FORMAT_VERSION}`,
    );
  }
  const a = m.artifact;
  if (
    !a ||
    typeof a.key !== 'string' ||
    !Number.isSafeInteger(a.sizeBytes) ||
    !/^[0-9a-f]{64}$/.test(a.sha256 ?? '')
  ) {
    throw bad('artifact key, size or sha256 missing');
  }
  if (!COMPRESSIONS.includes(a.compression)) throw bad(`unknown compression ${String(a.compression)}`);
  const enc = a.encryption as Partial<ManifestEncryption> | undefined;
  if (
    enc !== undefined &&
    (enc?.format !== 'age' || (enc.recipient === undefined && enc.passphrase !== true))
  )
    throw bad('artifact.encryption is not age with a recipient or a passphrase');
  if (!m.source || typeof m.source.kind !== 'string') throw bad('source kind missing');
  return m as Manifest;
}
