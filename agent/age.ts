/**
 * The age v1 format (https://age-encryption.org/v1) as Node streams, split where speed lives:
 *
 * - The header — recipient stanzas, the header MAC — comes from the `age-encryption` package
 *   (X25519 through WebCrypto). A Recipient that only records the file key sees it (the package
 *   hands every recipient the file key: its documented Recipient interface), and
 *   `Decrypter.decryptHeader` returns it for a header (its documented detached-header API).
 * - The payload is the STREAM construction written here with Node's OpenSSL ChaCha20-Poly1305: the
 *   package's JavaScript cipher ran at ~25–50 MB/s on the agent's main thread (bench/agent.ts:
 *   backup 1.4–1.5×, restore up to 1.6× the unencrypted time); OpenSSL runs at memory speed.
 *   STREAM: key = HKDF-SHA256(file key, salt = the 16-byte nonce after the header, "payload");
 *   64 KiB plaintext chunks, each sealed with nonce = 11-byte big-endian counter ‖ last-chunk flag,
 *   the final chunk flagged 1 and empty only when the whole plaintext is.
 * - Passphrases: the scrypt stanza (salt, log2 N = 18, r = 8, p = 1, label
 *   "age-encryption.org/v1/scrypt") with Node's scrypt, which runs on the thread pool; it needs
 *   256 MiB while it runs, as age's own does.
 *
 * No library does the payload as a Node stream at native speed, hence the hand-written part;
 * test/agent/age.test.ts checks it against the `age` CLI and the package's own decrypter.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scrypt as scryptCb } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { Decrypter, Encrypter, type Identity, type Recipient, Stanza } from 'age-encryption';

const scrypt = promisify(scryptCb) as (
  password: string,
  salt: Buffer,
  keylen: number,
  opts: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

const PLAIN_CHUNK = 64 * 1024;
const TAG = 16;
const SEALED_CHUNK = PLAIN_CHUNK + TAG;
const NONCE = 16;
const MAGIC = Buffer.from('age-encryption.org/v1\n');
const MAX_HEADER = 64 * 1024;
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
const SCRYPT_LOG_N = 18;
/** The most a file may ask scrypt for (age's own limit is 22). */
const MAX_SCRYPT_LOG_N = 20;

function payloadKey(fileKey: Uint8Array, nonce: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6); // the 11-byte counter's low 48 bits: 2^48 chunks of 64 KiB
  n[11] = last ? 1 : 0;
  return n;
}

function scryptKey(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return scrypt(passphrase, Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]), 32, {
    N,
    r: 8,
    p: 1,
    maxmem: 129 * N * 8 + (1 << 20),
  });
}

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

/** age's scrypt recipient (passphrase), with Node's scrypt. */
function scryptRecipient(passphrase: string): Recipient {
  return {
    async wrapFileKey(fileKey) {
      const salt = randomBytes(16);
      const key = await scryptKey(passphrase, salt, SCRYPT_LOG_N);
      const c = createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: TAG });
      const body = Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]);
      return [new Stanza(['scrypt', b64(salt), String(SCRYPT_LOG_N)], body)];
    },
  };
}

/** age's scrypt identity (passphrase), with Node's scrypt. */
function scryptIdentity(passphrase: string): Identity {
  return {
    async unwrapFileKey(stanzas) {
      const s = stanzas.find((x) => x.args[0] === 'scrypt');
      if (!s) return null;
      if (stanzas.length !== 1) throw new Error('scrypt recipient is not the only one in the header');
      const [, saltText = '', logText = ''] = s.args;
      const salt = Buffer.from(saltText, 'base64');
      if (s.args.length !== 3 || salt.length !== 16 || !/^[1-9][0-9]*$/.test(logText))
        throw new Error('invalid scrypt stanza');
      const logN = Number(logText);
      if (logN > MAX_SCRYPT_LOG_N) throw new Error(`scrypt work factor 2^${logN} is too large`);
      const key = await scryptKey(passphrase, salt, logN);
      const body = Buffer.from(s.body);
      if (body.length !== 32) throw new Error('invalid scrypt stanza');
      const d = createDecipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: TAG });
      d.setAuthTag(body.subarray(16));
      try {
        return Buffer.concat([d.update(body.subarray(0, 16)), d.final()]);
      } catch {
        return null; // another passphrase
      }
    },
  };
}

export type AgeKey = { recipient: string } | { passphrase: string };
type AgeSecret = { identity: string } | { passphrase: string };

/** The header and nonce of a new age file for `to`, and its payload key. */
async function newFile(to: AgeKey): Promise<{ head: Buffer; key: Buffer }> {
  let fileKey: Uint8Array | undefined;
  const e = new Encrypter();
  e.addRecipient('recipient' in to ? to.recipient : scryptRecipient(to.passphrase));
  // Sees the file key and adds no stanza: the header is the real recipient's alone.
  e.addRecipient({
    wrapFileKey(k) {
      fileKey = k;
      return [];
    },
  });
  // An empty file is header ‖ nonce ‖ the tag of the empty final chunk.
  const empty = Buffer.from(await e.encrypt(new Uint8Array(0)));
  if (!fileKey || empty.length < MAGIC.length + NONCE + TAG) throw new Error('age header not produced');
  const head = empty.subarray(0, empty.length - TAG);
  return { head, key: payloadKey(fileKey, head.subarray(head.length - NONCE)) };
}

/** Encrypts to the age format: header, nonce, then 64 KiB sealed chunks. */
class AgeEncrypt extends Transform {
  readonly #key: Buffer;
  #head: Buffer | undefined;
  readonly #plain = Buffer.alloc(PLAIN_CHUNK);
  #fill = 0;
  #counter = 0;
  constructor(head: Buffer, key: Buffer) {
    super({ highWaterMark: 1 << 20 });
    this.#head = head;
    this.#key = key;
  }
  #seal(plain: Buffer, last: boolean): void {
    const c = createCipheriv('chacha20-poly1305', this.#key, chunkNonce(this.#counter++, last), {
      authTagLength: TAG,
    });
    this.push(c.update(plain));
    c.final(); // a stream cipher: nothing left over
    this.push(c.getAuthTag());
  }
  #start(): void {
    if (this.#head) this.push(this.#head);
    this.#head = undefined;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#start();
    let off = 0;
    while (off < chunk.length) {
      // A full chunk is sealed as "not last" only once more data follows it.
      if (this.#fill === PLAIN_CHUNK) {
        this.#seal(this.#plain, false);
        this.#fill = 0;
      }
      const n = Math.min(PLAIN_CHUNK - this.#fill, chunk.length - off);
      chunk.copy(this.#plain, this.#fill, off, off + n);
      this.#fill += n;
      off += n;
    }
    cb();
  }
  override _flush(cb: TransformCallback): void {
    this.#start();
    this.#seal(this.#plain.subarray(0, this.#fill), true);
    cb();
  }
}

/** A stream that encrypts what passes to `to` in the age format. */
export async function createAgeEncryptor(to: AgeKey): Promise<Transform> {
  const { head, key } = await newFile(to);
  return new AgeEncrypt(head, key);
}

/** Where the header ends (after its `--- MAC` line), or -1 while it has not all arrived. */
function headerEnd(b: Buffer): number {
  const mac = b.indexOf('\n--- ');
  if (mac < 0) return -1;
  const eol = b.indexOf('\n', mac + 1);
  return eol < 0 ? -1 : eol + 1;
}

/**
 * Decrypts an age file. The header is opened with the identity or passphrase before anything
 * passes (`fail` shapes the error a wrong key gives); a chunk that was altered, reordered or cut
 * off fails its tag.
 */
class AgeDecrypt extends Transform {
  readonly #decrypter: Decrypter;
  readonly #fail: (why: string) => Error;
  #start: Buffer | undefined = Buffer.alloc(0);
  #key: Buffer | undefined;
  readonly #sealed = Buffer.alloc(SEALED_CHUNK);
  #fill = 0;
  #counter = 0;
  constructor(decrypter: Decrypter, fail: (why: string) => Error) {
    super({ highWaterMark: 1 << 20 });
    this.#decrypter = decrypter;
    this.#fail = fail;
  }
  #open(sealed: Buffer, last: boolean): void {
    const key = this.#key as Buffer;
    const d = createDecipheriv('chacha20-poly1305', key, chunkNonce(this.#counter++, last), {
      authTagLength: TAG,
    });
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    try {
      const plain = d.update(sealed.subarray(0, sealed.length - TAG));
      d.final(); // checks the tag: nothing of a chunk passes before it authenticated
      this.push(plain);
    } catch {
      throw this.#fail(`chunk ${this.#counter - 1} does not authenticate: altered, reordered or cut off`);
    }
  }
  #payload(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.#fill === SEALED_CHUNK) {
        this.#open(this.#sealed, false);
        this.#fill = 0;
      }
      const n = Math.min(SEALED_CHUNK - this.#fill, chunk.length - off);
      chunk.copy(this.#sealed, this.#fill, off, off + n);
      this.#fill += n;
      off += n;
    }
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#start === undefined) {
      this.#guard(() => this.#payload(chunk), cb);
      return;
    }
    const start = Buffer.concat([this.#start, chunk]);
    const n = Math.min(start.length, MAGIC.length);
    const end = headerEnd(start);
    if (!start.subarray(0, n).equals(MAGIC.subarray(0, n))) {
      cb(this.#fail('it is not an age file (age-encryption.org/v1)'));
    } else if (end < 0 || start.length < end + NONCE) {
      this.#start = start;
      cb(start.length > MAX_HEADER ? this.#fail('its age header is not complete') : null);
    } else {
      this.#start = undefined;
      this.#decrypter.decryptHeader(start.subarray(0, end)).then(
        (fileKey) => {
          this.#key = payloadKey(fileKey, start.subarray(end, end + NONCE));
          this.#guard(() => this.#payload(start.subarray(end + NONCE)), cb);
        },
        (e: unknown) => cb(this.#fail(e instanceof Error ? e.message : String(e))),
      );
    }
  }
  #guard(work: () => void, cb: TransformCallback): void {
    try {
      work();
      cb();
    } catch (e) {
      cb(e instanceof Error ? e : new Error(String(e)));
    }
  }
  override _flush(cb: TransformCallback): void {
    if (this.#start !== undefined) cb(this.#fail('it ends inside its age header'));
    // The final chunk holds at least its tag, and is empty only when it is the only one.
    else if (this.#fill < TAG || (this.#fill === TAG && this.#counter > 0))
      cb(this.#fail('it is cut off after a chunk boundary'));
    else this.#guard(() => this.#open(this.#sealed.subarray(0, this.#fill), true), cb);
  }
}

/**
 * A Decrypter that opens a header once: a restore checks the key on the spool's header before it
 * touches the target, then decrypts the same file, and a passphrase costs scrypt (256 MiB, about
 * a second) every time. Only a header byte for byte identical to one whose MAC verified gets the
 * file key back without the work; any other header is opened, and verified, in full. The payload
 * chunks are authenticated as always.
 */
class OnceDecrypter extends Decrypter {
  #opened: { header: Buffer; fileKey: Uint8Array } | undefined;
  override async decryptHeader(header: Uint8Array): Promise<Uint8Array> {
    const opened = this.#opened;
    if (opened?.header.equals(header)) return opened.fileKey;
    const fileKey = await super.decryptHeader(header);
    this.#opened = { header: Buffer.from(header), fileKey };
    return fileKey;
  }
}

/** The Decrypter for an identity or a passphrase; it opens a header it already opened only once. */
export function ageDecrypter(secret: AgeSecret): Decrypter {
  const d = new OnceDecrypter();
  if ('identity' in secret) d.addIdentity(secret.identity);
  else d.addIdentity(scryptIdentity(secret.passphrase));
  return d;
}

/** A stream that decrypts an age file; `fail(why)` makes the error for a wrong key or altered data. */
export function createAgeDecryptor(d: Decrypter, fail: (why: string) => Error): Transform {
  return new AgeDecrypt(d, fail);
}

/** Opens the header of an age file (its first bytes) with `d`; throws `fail(why)` when the key does not fit. */
export async function checkAgeHeader(
  d: Decrypter,
  head: Buffer,
  fail: (why: string) => Error,
): Promise<void> {
  const end = headerEnd(head);
  if (!head.subarray(0, MAGIC.length).equals(MAGIC) || end < 0) throw fail('it is not an age file');
  await d.decryptHeader(head.subarray(0, end)).catch((e: unknown) => {
    throw fail(e instanceof Error ? e.message : String(e));
  });
}
