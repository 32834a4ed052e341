/**
 * Whose word a restore takes for what the artifact is. The store's own manifest proves nothing:
 * whoever can write the bucket can rewrite artifact and manifest together. So a restore trusts,
 * in this order:
 *
 * 1. `--expect-sha256`, the digest the Backup object in the API recorded when the backup ran
 *    (restore-runner passes status.sha256). The manifest must name the same digest (else it is
 *    not this backup's manifest), and the bytes must hash to it before a tool sees any of them.
 * 2. A signature on the manifest: HMAC-SHA256 with CAIRN_SIGNING_KEY, a key from a Secret that
 *    the store never sees, over the manifest's key and its content (so a genuine manifest copied
 *    to another key — an older backup passed off as the newest — fails too). The manifest
 *    carries the artifact's sha256, so the artifact is authenticated through it. This is what a
 *    restore without a Backup object (the cluster is gone) relies on.
 * 3. Nothing, when the Restore says so (`--allow-unauthenticated`): the manifest's digest still
 *    catches corruption, not forgery.
 *
 * Anything else is refused before the target is touched. Node's crypto does the HMAC; the
 * comparison is constant-time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AGENT_ENV, type AgentRestoreOptions } from '../shared/agent-contract.ts';
import { InvalidSpec } from '../shared/errors.ts';
import { VerificationFailed } from './errors.ts';
import type { Manifest } from './manifest.ts';

const SIGNATURE_ALGORITHM = 'hmac-sha256';
const MIN_KEY_BYTES = 32;

export interface ManifestSignature {
  algorithm: typeof SIGNATURE_ALGORITHM;
  /** Hex HMAC-SHA256 over `cairn-manifest-v1\n<manifest key>\n<the manifest without signature, as written>`. */
  value: string;
}

/** How a restore came to trust the artifact: recorded in its log. */
export type Trust = 'api' | 'signature' | 'unauthenticated';

/** The signing key from the environment, or undefined; too short a key is a configuration error. */
export function signingKey(env: NodeJS.ProcessEnv): Buffer | undefined {
  const v = env[AGENT_ENV.signingKey];
  if (v === undefined || v === '') return undefined;
  const key = Buffer.from(v, 'utf8');
  if (key.length < MIN_KEY_BYTES) {
    throw new InvalidSpec(
      AGENT_ENV.signingKey,
      `the signing key has ${key.length} bytes; use at least ${MIN_KEY_BYTES} random ones (openssl rand -base64 32)`,
    );
  }
  return key;
}

/** The manifest's text exactly as written beside the artifact (two-space JSON and a newline). */
export function manifestText(m: Manifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

function mac(key: Buffer, manifestKey: string, unsigned: Omit<Manifest, 'signature'>): Buffer {
  return createHmac('sha256', key)
    .update(`cairn-manifest-v1\n${manifestKey}\n${JSON.stringify(unsigned, null, 2)}`)
    .digest();
}

/** The manifest with its signature added (the signature goes last, after every field it covers). */
export function sign(m: Manifest, manifestKey: string, key: Buffer): Manifest {
  const { signature: _old, ...unsigned } = m;
  return {
    ...unsigned,
    signature: { algorithm: SIGNATURE_ALGORITHM, value: mac(key, manifestKey, unsigned).toString('hex') },
  };
}

/**
 * Checks the signature of a parsed manifest. The MAC is recomputed over the parsed object
 * re-serialized the way the backup wrote it: what is checked is exactly what the restore uses.
 */
function verifySignature(m: Manifest, manifestKey: string, key: Buffer): void {
  const { signature, ...unsigned } = m;
  if (!signature) {
    throw new VerificationFailed(
      `manifest ${manifestKey} is not signed, and no sha256 from a Backup object vouches for it; nothing was restored (spec.allowUnauthenticated restores it anyway)`,
    );
  }
  const given = /^[0-9a-f]{64}$/.test(signature.value ?? '')
    ? Buffer.from(signature.value, 'hex')
    : undefined;
  if (
    signature.algorithm !== SIGNATURE_ALGORITHM ||
    !given ||
    !timingSafeEqual(given, mac(key, manifestKey, unsigned))
  ) {
    throw new VerificationFailed(
      `manifest ${manifestKey} has no valid signature for this signing key: it was rewritten, moved from another key, or signed with another key; nothing was restored`,
    );
  }
}

/**
 * Decides whether the restore may go on and with which digest; throws VerificationFailed when
 * nothing vouches for the artifact. Runs before anything is read from the artifact.
 */
export function authenticate(
  m: Manifest,
  opts: Pick<AgentRestoreOptions, 'manifestKey' | 'expectSha256' | 'allowUnauthenticated'>,
  env: NodeJS.ProcessEnv,
): Trust {
  const key = signingKey(env);
  // A signature present and a key at hand: it must hold, whatever else vouches.
  if (key && (m.signature || !opts.expectSha256)) verifySignature(m, opts.manifestKey, key);
  if (opts.expectSha256) {
    if (m.artifact.sha256 !== opts.expectSha256) {
      throw new VerificationFailed(
        `manifest ${opts.manifestKey} names sha256 ${m.artifact.sha256}, but the Backup recorded ${opts.expectSha256}: the store's manifest was rewritten or replaced; nothing was restored`,
      );
    }
    return 'api';
  }
  if (key) return 'signature';
  if (opts.allowUnauthenticated) return 'unauthenticated';
  throw new VerificationFailed(
    `nothing vouches for ${opts.manifestKey}: no sha256 from a Backup object and no signing key (${AGENT_ENV.signingKey}); a bucket writer could have written it. Nothing was restored; set spec.allowUnauthenticated (--allow-unauthenticated) to restore it anyway`,
  );
}
