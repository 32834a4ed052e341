/**
 * Node's zlib: gzip, and zstd where the zstd tool is missing or too old (agent/zstd.ts is the
 * faster path). zlib runs on libuv's thread pool, beside the main thread and beside pg_dump. One
 * zstd worker: ZSTD_c_nbWorkers > 0 crashed the stream in Node 24.21 (ERR_STREAM_PUSH_AFTER_EOF).
 */
import type { Transform } from 'node:stream';
import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';
import type { Compression } from '../shared/agent-contract.ts';
import { CHUNK } from './streams.ts';

export const DEFAULT_LEVEL: Record<Exclude<Compression, 'none'>, number> = { zstd: 3, gzip: 6 };

export function createCompressor(kind: Compression, level?: number): Transform {
  switch (kind) {
    case 'zstd':
      return zlib.createZstdCompress({
        chunkSize: CHUNK,
        params: {
          [zlib.constants.ZSTD_c_compressionLevel]: level ?? DEFAULT_LEVEL.zstd,
          [zlib.constants.ZSTD_c_checksumFlag]: 1,
        },
      });
    case 'gzip':
      return zlib.createGzip({ level: level ?? DEFAULT_LEVEL.gzip, chunkSize: CHUNK });
    case 'none':
      return new PassThrough({ highWaterMark: CHUNK });
  }
}

export function createDecompressor(kind: Compression): Transform {
  switch (kind) {
    case 'zstd':
      return zlib.createZstdDecompress({ chunkSize: CHUNK });
    case 'gzip':
      return zlib.createGunzip({ chunkSize: CHUNK });
    case 'none':
      return new PassThrough({ highWaterMark: CHUNK });
  }
}
