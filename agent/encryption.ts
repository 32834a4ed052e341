/**
 * Encryption at rest in the age format (age-encryption.org/v1), so a person can decrypt an
 * artifact with the standard `age` tool and no Cairn: `age -d -i key.txt x.dump.zst.age | zstd -d`.
 * agent/age.ts does the format (the `age-encryption` package for the header, Node's OpenSSL for
 * the 64 KiB STREAM chunks), as Node streams with backpressure: memory stays constant.
 *
 * Keys come from the environment (Secrets): CAIRN_AGE_RECIPIENT to encrypt, CAIRN_AGE_IDENTITY to
 * decrypt, or CAIRN_AGE_PASSPHRASE for both. The manifest records the recipient (a public key)
 * or that a passphrase was used — never a key.
 */
import type { Transform } from 'node:stream';
import { type Decrypter, identityToRecipient } from 'age-encryption';
import { AGENT_ENV } from '../shared/agent-contract.ts';
import { InvalidSpec } from '../shared/errors.ts';
import { type AgeKey, ageDecrypter, checkAgeHeader, createAgeDecryptor, createAgeEncryptor } from './age.ts';
import { VerificationFailed } from './errors.ts';

/** What the manifest says about an encrypted artifact. */
export interface ManifestEncryption {
  format: 'age';
  /** The X25519 recipient (`age1…`) it was encrypted to; absent for a passphrase. */
  recipient?: string;
  /** True when it was encrypted with a passphrase (scrypt). */
  passphrase?: boolean;
}

/** The recipient or passphrase a backup encrypts to, from the environment; refuses when there is neither. */
export function encryptionFromEnv(env: NodeJS.ProcessEnv): { to: AgeKey; manifest: ManifestEncryption } {
  const recipient = env[AGENT_ENV.ageRecipient]?.trim();
  const passphrase = env[AGENT_ENV.agePassphrase];
  if (recipient) {
    if (!/^age1[0-9a-z]+$/.test(recipient))
      throw new InvalidSpec(
        AGENT_ENV.ageRecipient,
        'is not an age recipient (age1…): the public key, not the identity',
      );
    return { to: { recipient }, manifest: { format: 'age', recipient } };
  }
  if (passphrase) return { to: { passphrase }, manifest: { format: 'age', passphrase: true } };
  throw new InvalidSpec(
    '--encryption',
    `age encryption needs ${AGENT_ENV.ageRecipient} (a recipient, age1…) or ${AGENT_ENV.agePassphrase} from the policy's spec.encryption Secret`,
  );
}

/** A stream that encrypts what passes through it to the age format. */
export function createEncryptor(to: AgeKey): Promise<Transform> {
  return createAgeEncryptor(to);
}

/** The Decrypter for an encrypted artifact, from the environment; refuses clearly when no key fits. */
export async function decrypterFor(m: ManifestEncryption, env: NodeJS.ProcessEnv): Promise<Decrypter> {
  const identity = env[AGENT_ENV.ageIdentity]?.trim();
  const passphrase = env[AGENT_ENV.agePassphrase];
  if (m.passphrase) {
    if (!passphrase)
      throw new InvalidSpec(
        AGENT_ENV.agePassphrase,
        "the backup is encrypted with a passphrase: give it (the policy's spec.encryption.passphraseSecretRef)",
      );
    return ageDecrypter({ passphrase });
  }
  if (!identity)
    throw new InvalidSpec(
      AGENT_ENV.ageIdentity,
      `the backup is encrypted to ${m.recipient ?? 'an age recipient'}: give its identity (spec.encryption.identitySecretRef)`,
    );
  let mine: string;
  try {
    mine = await identityToRecipient(identity);
  } catch (e) {
    throw new InvalidSpec(AGENT_ENV.ageIdentity, `is not an age identity (AGE-SECRET-KEY-1…): ${String(e)}`);
  }
  if (m.recipient && mine !== m.recipient) {
    throw new VerificationFailed(
      `the backup is encrypted to ${m.recipient}, but the identity given is ${mine}'s: wrong key; nothing was restored`,
    );
  }
  return ageDecrypter({ identity });
}

const wrongKey = (why: string) =>
  new VerificationFailed(
    `the artifact cannot be decrypted with the key given (${why}); nothing was restored`,
  );

/** A stream that decrypts an age file; fails (VerificationFailed) when the key does not open it or a chunk was altered. */
export function createDecryptor(d: Decrypter): Transform {
  return createAgeDecryptor(d, wrongKey);
}

/** Opens an age file's header (its first bytes) with the key, before anything is restored. */
export function checkKey(d: Decrypter, head: Buffer): Promise<void> {
  return checkAgeHeader(d, head, wrongKey);
}
