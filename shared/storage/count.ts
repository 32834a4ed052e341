import { Transform } from 'node:stream';

/** A pass-through that counts bytes (and reports them) without copying. */
export class ByteCounter extends Transform {
  bytes = 0;
  readonly #onProgress: ((bytes: number) => void) | undefined;
  constructor(onProgress?: (bytes: number) => void, highWaterMark = 1 << 20) {
    super({ highWaterMark });
    this.#onProgress = onProgress;
  }
  override _transform(
    chunk: Buffer,
    _enc: BufferEncoding,
    cb: (err?: Error | null, data?: Buffer) => void,
  ): void {
    this.bytes += chunk.length;
    this.#onProgress?.(this.bytes);
    cb(null, chunk);
  }
}
