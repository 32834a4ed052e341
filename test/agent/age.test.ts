/**
 * agent/age.ts writes the age payload (STREAM) by hand with Node's ChaCha20-Poly1305, so it is
 * checked against implementations no one here wrote: the `age` CLI (Debian's, the reference Go
 * implementation) in both directions for every chunk-boundary case, and the `age-encryption`
 * package's own whole-buffer decrypter and encrypter for passphrases (the CLI reads passphrases
 * only from a terminal). Altered, reordered, truncated and extended files, and wrong keys, fail.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Decrypter, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption';
import test from 'ava';
import { ageDecrypter, createAgeDecryptor, createAgeEncryptor } from '../../agent/age.ts';
import { checkKey, createDecryptor, decrypterFor } from '../../agent/encryption.ts';
import { AGENT_ENV } from '../../shared/agent-contract.ts';

const run = promisify(execFile);
/** Around every chunk boundary (64 KiB), and empty. */
const SIZES = [0, 1, 65535, 65536, 65537, 131072, 131073, 1_000_003];

let dir: string;
let identity: string;
let recipient: string;
let keyFile: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-age-'));
  const { stdout } = await run('age-keygen', []);
  identity = stdout.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1')) ?? '';
  recipient = /# public key: (age1[0-9a-z]+)/.exec(stdout)?.[1] ?? '';
  keyFile = path.join(dir, 'key.txt');
  await writeFile(keyFile, stdout);
});

/** Streams `data` through a transform in uneven pieces (a pipe's reads never line up with chunks). */
async function through(t: NodeJS.ReadWriteStream, data: Buffer): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0, step = 1; i < data.length; i += step, step = (step * 7 + 13) % 90001)
    pieces.push(data.subarray(i, i + step));
  const out: Buffer[] = [];
  const sink = new Writable({
    write(b: Buffer, _enc, cb) {
      out.push(b);
      cb();
    },
  });
  await pipeline(Readable.from(pieces), t, sink);
  return Buffer.concat(out);
}

const fail = (why: string) => new Error(`refused: ${why}`);

test('what the agent encrypts, the age CLI decrypts, at every chunk boundary', async (t) => {
  for (const size of SIZES) {
    const plain = randomBytes(size);
    const sealed = await through(await createAgeEncryptor({ recipient }), plain);
    const file = path.join(dir, `ours-${size}.age`);
    await writeFile(file, sealed);
    const { stdout } = await run('age', ['-d', '-i', keyFile, file], {
      encoding: 'buffer',
      maxBuffer: 1 << 24,
    });
    t.true(stdout.equals(plain), `size ${size}`);
  }
});

test('what the age CLI encrypts, the agent decrypts, at every chunk boundary', async (t) => {
  for (const size of SIZES) {
    const plain = randomBytes(size);
    const file = path.join(dir, `cli-${size}`);
    await writeFile(file, plain);
    await run('age', ['-r', recipient, '-o', `${file}.age`, file]);
    const back = await through(
      createAgeDecryptor(ageDecrypter({ identity }), fail),
      await readFile(`${file}.age`),
    );
    t.true(back.equals(plain), `size ${size}`);
  }
});

test("passphrases interoperate with the age-encryption package's own scrypt and cipher", async (t) => {
  const plain = randomBytes(200_000);
  const sealed = await through(
    await createAgeEncryptor({ passphrase: 'correct horse battery staple' }),
    plain,
  );
  const d = new Decrypter();
  d.addPassphrase('correct horse battery staple');
  t.true(Buffer.from(await d.decrypt(sealed)).equals(plain));

  const e = new Encrypter();
  e.setScryptWorkFactor(12);
  e.setPassphrase('tr0ub4dor');
  const theirs = Buffer.from(await e.encrypt(plain));
  t.true(
    (await through(createAgeDecryptor(ageDecrypter({ passphrase: 'tr0ub4dor' }), fail), theirs)).equals(
      plain,
    ),
  );
  await t.throwsAsync(through(createAgeDecryptor(ageDecrypter({ passphrase: 'tr0ub4dor!' }), fail), theirs), {
    message: /refused: no identity matched/,
  });
});

test.serial(
  'a restore opens a passphrase header once: the key check and the decryption share scrypt',
  async (t) => {
    const plain = randomBytes(200_000);
    const sealed = await through(await createAgeEncryptor({ passphrase: 'once upon a time' }), plain);
    const other = await through(await createAgeEncryptor({ passphrase: 'once upon a time' }), plain);
    // Serial: no other test's header is opened while the calls are counted.
    const opened: Buffer[] = [];
    const original = Decrypter.prototype.decryptHeader;
    Decrypter.prototype.decryptHeader = function (this: Decrypter, header: Uint8Array) {
      opened.push(Buffer.from(header));
      return original.call(this, header);
    };
    try {
      // What agent/restore.ts does: the key, its check on the spool's first 64 KiB, then the decryptor.
      const d = await decrypterFor(
        { format: 'age', passphrase: true },
        { [AGENT_ENV.agePassphrase]: 'once upon a time' },
      );
      await checkKey(d, sealed.subarray(0, 64 * 1024));
      t.true((await through(createDecryptor(d), sealed)).equals(plain));
      t.is(opened.length, 1, 'the header was opened (scrypt run) more than once');
      // Another file's header, and an altered one, are opened and verified in full.
      t.true((await through(createDecryptor(d), other)).equals(plain));
      t.is(opened.length, 2);
      const end = sealed.indexOf('\n', sealed.indexOf('\n--- ') + 1);
      const altered = Buffer.from(sealed);
      altered[end - 10] = altered[end - 10] === 0x41 ? 0x42 : 0x41; // a character inside the MAC
      await t.throwsAsync(checkKey(d, altered.subarray(0, 64 * 1024)), {
        message: /cannot be decrypted with the key given/,
      });
      await t.throwsAsync(through(createDecryptor(d), altered), {
        message: /cannot be decrypted with the key given/,
      });
      t.is(opened.length, 4);
    } finally {
      Decrypter.prototype.decryptHeader = original;
    }
  },
);

test('an altered, reordered, truncated or extended file, or another key, is refused', async (t) => {
  const plain = randomBytes(300_000);
  const sealed = await through(await createAgeEncryptor({ recipient }), plain);
  const open = (b: Buffer, id = identity) =>
    through(createAgeDecryptor(ageDecrypter({ identity: id }), fail), b);
  t.true((await open(sealed)).equals(plain));

  const flipped = Buffer.from(sealed);
  flipped[sealed.length - 100_000] = (flipped[sealed.length - 100_000] ?? 0) ^ 1;
  await t.throwsAsync(open(flipped), { message: /refused: chunk \d+ does not authenticate/ });

  const headerLength = sealed.indexOf('\n', sealed.indexOf('\n--- ') + 1) + 1 + 16;
  const chunk = 65536 + 16;
  const a = sealed.subarray(headerLength, headerLength + chunk);
  const b = sealed.subarray(headerLength + chunk, headerLength + 2 * chunk);
  const swapped = Buffer.concat([
    sealed.subarray(0, headerLength),
    b,
    a,
    sealed.subarray(headerLength + 2 * chunk),
  ]);
  await t.throwsAsync(open(swapped), { message: /refused: chunk 0 does not authenticate/ });

  // Cut right after a full chunk: the last chunk left is not flagged as last.
  await t.throwsAsync(open(sealed.subarray(0, headerLength + 2 * chunk)), { message: /refused/ });
  await t.throwsAsync(open(Buffer.concat([sealed, Buffer.alloc(16)])), { message: /refused/ });
  await t.throwsAsync(open(sealed.subarray(0, 30)), { message: /refused: it ends inside its age header/ });
  await t.throwsAsync(open(Buffer.from('not an age file at all, but long enough to tell')), {
    message: /refused: it is not an age file/,
  });
  const other = await generateIdentity();
  await t.throwsAsync(open(sealed, other), { message: /refused: no identity matched/ });
  t.not(await identityToRecipient(other), recipient);
});
