/**
 * Encryption at rest in the age format (age-encryption.org/v1), so a person can decrypt an
 * artifact with the standard `age` tool and no Cairn: `age -d -i key.txt x.dump.zst.age | zstd -d`.
 * The `age-encryption` package does the format (X25519 recipients or an scrypt passphrase, then
 * ChaCha20-Poly1305 in 64 KiB STREAM chunks) over web streams; WebStreamTransform makes it a
 * Node stream with backpressure, so memory stays constant: one 64 KiB chunk in flight.
 *
 * Keys come from the environment (Secrets): CAIRN_AGE_RECIPIENT to encrypt, CAIRN_AGE_IDENTITY to
 * decrypt, or CAIRN_AGE_PASSPHRASE for both. The manifest records the recipient (a public key)
 * or that a passphrase was used — never a key.
 */
import { Duplex } from 'node:stream';
import { Decrypter, Encrypter, identityToRecipient } from 'age-encryption';
import { AGENT_ENV } from '../shared/agent-contract.ts';
import { InvalidSpec } from '../shared/errors.ts';
import { VerificationFailed } from './errors.ts';

/** What the manifest says about an encrypted artifact. */
export interface ManifestEncryption {
  format: 'age';
  /** The X25519 recipient (`age1…`) it was encrypted to; absent for a passphrase. */
  recipient?: string;
  /** True when it was encrypted with a passphrase (scrypt). */
  passphrase?: boolean;
}

/**
 * A Node Duplex around a web-stream transformation `make(input) → output`: what is written goes
 * to `input`, what `output` yields is read. Each write resolves once the transformation took the
 * chunk (a TransformStream's writable holds one chunk), so backpressure flows through.
 * `make` may reject (a wrong key, a header that is not age's); the Duplex then fails with that.
 */
class WebStreamTransform extends Duplex {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #output: Promise<ReadableStreamDefaultReader<Uint8Array>>;
  readonly #wrapError: (e: unknown) => Error;
  #reading = false;

  constructor(
    make: (input: ReadableStream<Uint8Array>) => Promise<ReadableStream<Uint8Array>>,
    wrapError: (e: unknown) => Error,
  ) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.#wrapError = wrapError;
    const pass = new TransformStream<Uint8Array, Uint8Array>();
    this.#writer = pass.writable.getWriter();
    this.#output = make(pass.readable).then(
      (out) => out.getReader(),
      (e: unknown) => {
        const err = wrapError(e);
        this.destroy(err);
        throw err;
      },
    );
    this.#output.catch(() => {});
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#writer.write(chunk).then(
      () => cb(),
      (e: unknown) => cb(e instanceof Error ? e : new Error(String(e))),
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#writer.close().then(
      () => cb(),
      (e: unknown) => cb(e instanceof Error ? e : new Error(String(e))),
    );
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    void this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      const reader = await this.#output;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          this.push(null);
          return;
        }
        if (!this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength))) {
          this.#reading = false;
          return;
        }
      }
    } catch (e) {
      this.destroy(this.#wrapError(e));
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#writer.abort(err ?? undefined).catch(() => {});
    cb(err);
  }
}

/** The recipient or passphrase a backup encrypts to, from the environment; refuses when there is neither. */
export async function encryptionFromEnv(
  env: NodeJS.ProcessEnv,
): Promise<{ encrypter: Encrypter; manifest: ManifestEncryption }> {
  const recipient = env[AGENT_ENV.ageRecipient]?.trim();
  const passphrase = env[AGENT_ENV.agePassphrase];
  const encrypter = new Encrypter();
  if (recipient) {
    if (!/^age1[0-9a-z]+$/.test(recipient))
      throw new InvalidSpec(
        AGENT_ENV.ageRecipient,
        'is not an age recipient (age1…): the public key, not the identity',
      );
    encrypter.addRecipient(recipient);
    return { encrypter, manifest: { format: 'age', recipient } };
  }
  if (passphrase) {
    encrypter.setPassphrase(passphrase);
    return { encrypter, manifest: { format: 'age', passphrase: true } };
  }
  throw new InvalidSpec(
    '--encryption',
    `age encryption needs ${AGENT_ENV.ageRecipient} (a recipient, age1…) or ${AGENT_ENV.agePassphrase} from the policy's spec.encryption Secret`,
  );
}

/** A stream that encrypts what passes through it to the age format. */
export function createEncryptor(encrypter: Encrypter): Duplex {
  return new WebStreamTransform(
    (input) => encrypter.encrypt(input),
    (e) => (e instanceof Error ? e : new Error(String(e))),
  );
}

/** The Decrypter for an encrypted artifact, from the environment; refuses clearly when no key fits. */
export async function decrypterFor(m: ManifestEncryption, env: NodeJS.ProcessEnv): Promise<Decrypter> {
  const identity = env[AGENT_ENV.ageIdentity]?.trim();
  const passphrase = env[AGENT_ENV.agePassphrase];
  const d = new Decrypter();
  if (m.passphrase) {
    if (!passphrase)
      throw new InvalidSpec(
        AGENT_ENV.agePassphrase,
        "the backup is encrypted with a passphrase: give it (the policy's spec.encryption.passphraseSecretRef)",
      );
    d.addPassphrase(passphrase);
    return d;
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
  d.addIdentity(identity);
  return d;
}

/** A stream that decrypts an age file; fails (VerificationFailed) when the key does not open it or a chunk was altered. */
export function createDecryptor(d: Decrypter): Duplex {
  return new WebStreamTransform(
    (input) => d.decrypt(input),
    (e) =>
      new VerificationFailed(
        `the artifact cannot be decrypted with the key given (${e instanceof Error ? e.message : String(e)}); nothing was restored`,
      ),
  );
}
