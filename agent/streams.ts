/**
 * The stream pieces of the agent's pipelines. Each passes chunks through without copying and
 * keeps memory constant; backpressure flows through stream.pipeline.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback, Writable } from 'node:stream';

export const CHUNK = 1 << 20;
const SLICE = 64 * 1024;

/** sha256 and byte count of everything that passes. */
export class HashTap extends Transform {
  bytes = 0;
  readonly #hash: Hash = createHash('sha256');
  #digest: string | undefined;
  constructor() {
    super({ highWaterMark: CHUNK });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.#hash.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    this.#digest = this.#hash.digest('hex');
    cb();
  }
  /** The hex digest, once the stream has ended. */
  get sha256(): string | undefined {
    return this.#digest;
  }
}

/**
 * Gathers small chunks into blocks of at least `size` bytes (one copy); a chunk that is already
 * that big passes as it is. pg_dump writes its output 4 KiB at a time and a pipe read returns what
 * is there, so a fast reader sees ~50,000 chunks per 200 MB: each one a trip through every stream
 * after it and, worse, a zlib job handed to the thread pool and back (measured: the agent took
 * 2.8× pg_dump's own time, mostly in futex waits). Blocks of 256 KiB cost one trip each.
 */
export class Coalesce extends Transform {
  readonly #size: number;
  #parts: Buffer[] = [];
  #bytes = 0;
  constructor(size = 256 * 1024) {
    super({ highWaterMark: CHUNK });
    this.#size = size;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#bytes === 0 && chunk.length >= this.#size) {
      cb(null, chunk);
      return;
    }
    this.#parts.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= this.#size) this.#release();
    cb();
  }
  override _flush(cb: TransformCallback): void {
    if (this.#bytes > 0) this.#release();
    cb();
  }
  #release(): void {
    const block =
      this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts, this.#bytes);
    this.#parts = [];
    this.#bytes = 0;
    this.push(block);
  }
}

/**
 * Holds the stream's end until `check()` settles: the last bytes are released only when it
 * resolves. A backup gates the upload's end on the dump tool's exit status, so a dump that failed
 * after writing some output never becomes a complete object.
 */
export class Gate extends Transform {
  readonly #check: () => Promise<unknown>;
  constructor(check: () => Promise<unknown>) {
    super({ highWaterMark: CHUNK });
    this.#check = check;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    this.#check().then(
      () => cb(),
      (e: unknown) => cb(e instanceof Error ? e : new Error(String(e))),
    );
  }
}

/**
 * Keeps the last `keep` bytes back until the stream ends and `verify()` passes. A restore tool fed
 * through it cannot finish (and commit) before the artifact's checksum is known to be right: the
 * end of a pg_restore archive or of a psql script is exactly what it has not yet seen.
 * `verify` throws to refuse; the tail is then never released.
 */
export class HoldTail extends Transform {
  readonly #keep: number;
  readonly #verify: () => void;
  #held: Buffer[] = [];
  #heldBytes = 0;
  constructor(keep: number, verify: () => void) {
    super({ highWaterMark: CHUNK });
    this.#keep = keep;
    this.#verify = verify;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    // Release whole chunks from the front while what stays is still at least `keep` bytes.
    while (this.#held.length > 1 && this.#heldBytes - (this.#held[0]?.length ?? 0) >= this.#keep) {
      const first = this.#held.shift() as Buffer;
      this.#heldBytes -= first.length;
      this.#pushSliced(first);
    }
    cb();
  }
  /**
   * Passes data on in slices of at most 64 KiB (views, no copy). A decompressor expands each input
   * chunk completely before it looks at backpressure: 1 MiB of well-compressed dump can become
   * 150 MiB at once; 64 KiB bounds that to ~10 MiB.
   */
  #pushSliced(b: Buffer): void {
    for (let i = 0; i < b.length; i += SLICE) this.push(b.subarray(i, i + SLICE));
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.#verify();
    } catch (e) {
      this.#held = [];
      cb(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    for (const b of this.#held) this.#pushSliced(b);
    this.#held = [];
    cb();
  }
}

/**
 * The stdin of a restore tool as the end of a pipeline. On a pipeline error the tool is killed
 * with SIGKILL *before* its stdin closes: closing first would hand psql an EOF, and psql commits
 * a --single-transaction script at EOF. Killed mid-transaction, the server rolls back.
 *
 * A tool may also stop reading by itself (tar stops at its end-of-archive blocks, leaving the
 * record's zero padding unread). Writes then fail with EPIPE, or, once Node has destroyed the
 * child's stdin at its exit, never drain. Either way the tool's exit decides: after a clean exit
 * the rest of the input is read and dropped, so the pipeline still reaches its end and the
 * checksum is still checked (HoldTail); after a failed exit the pipeline fails, and the exit
 * status tells why. A write waiting on a broken stdin waits for the exit, never forever.
 */
export class ChildSink extends Writable {
  readonly #child: ChildProcess;
  readonly #onWritten: ((chunk: Buffer) => void) | undefined;
  #waiting: ((err?: Error | null) => void) | undefined;
  /** `onWritten` gets each chunk back once the tool's stdin took all of it (for buffer reuse). */
  constructor(child: ChildProcess, opts: { onWritten?: (chunk: Buffer) => void } = {}) {
    super({ highWaterMark: CHUNK });
    this.#child = child;
    this.#onWritten = opts.onWritten;
    // EPIPE and friends: what they mean is known only at the exit (see above).
    child.stdin?.on('error', () => {});
    child.stdin?.on('drain', () => this.#settle());
    child.once('exit', () => this.#settle());
  }
  #exited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null;
  }
  #afterExit(): Error | null {
    if (this.#child.exitCode === 0) return null;
    const how = this.#child.signalCode
      ? `was killed by ${this.#child.signalCode}`
      : `exited with code ${this.#child.exitCode}`;
    return new Error(`the restore tool ${how} before it read all of its input`);
  }
  #settle(): void {
    const cb = this.#waiting;
    if (!cb) return;
    this.#waiting = undefined;
    cb(this.#exited() ? this.#afterExit() : null);
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const stdin = this.#child.stdin;
    if (this.#exited()) cb(this.#afterExit());
    else if (!stdin || stdin.destroyed) this.#waiting = cb;
    else if (this.#write(stdin, chunk)) cb();
    else this.#waiting = cb;
  }
  #write(stdin: NodeJS.WritableStream, chunk: Buffer): boolean {
    const done = this.#onWritten;
    if (!done) return stdin.write(chunk);
    return stdin.write(chunk, (err) => {
      if (!err) done(chunk);
    });
  }
  override _final(cb: (err?: Error | null) => void): void {
    const stdin = this.#child.stdin;
    if (this.#exited()) cb();
    else if (!stdin || stdin.destroyed) this.#waiting = (err) => cb(err);
    else stdin.end(() => cb());
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (err && !this.#exited()) this.#child.kill('SIGKILL');
    this.#waiting = undefined;
    cb(err);
  }
}

/**
 * Passes a stream through unchanged unless it starts with `head`; then it fails with `refuse()`
 * before passing a byte on. Holds back at most `head.length` bytes, once, at the start.
 */
export class RefuseHead extends Transform {
  readonly #head: Buffer;
  readonly #refuse: () => Error;
  #start: Buffer | undefined = Buffer.alloc(0);
  constructor(head: Buffer, refuse: () => Error) {
    super({ highWaterMark: CHUNK });
    this.#head = head;
    this.#refuse = refuse;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#start === undefined) {
      cb(null, chunk);
      return;
    }
    const start = Buffer.concat([this.#start, chunk]);
    if (start.length < this.#head.length) {
      this.#start = start;
      cb();
      return;
    }
    this.#start = undefined;
    if (start.subarray(0, this.#head.length).equals(this.#head)) cb(this.#refuse());
    else cb(null, start);
  }
  override _flush(cb: TransformCallback): void {
    if (this.#start?.length) this.push(this.#start);
    cb();
  }
}

/** Swallows a stream (verification passes that only need the hash). */
export function sink(): Writable {
  return new Writable({
    highWaterMark: CHUNK,
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}
