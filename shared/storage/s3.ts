/**
 * S3 and S3-compatible stores (MinIO, Ceph, s3rver). Uploads stream through lib-storage's
 * multipart Upload in constant memory (queueSize × partSize buffered) and are aborted when the
 * body fails, so a failed backup leaves no object and no orphan parts.
 * The SDK is imported lazily: the retention-pruner is bundled and should not pay for it at start.
 */

import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { messageOf, StorageError } from '../errors.ts';
import { ByteCounter } from './count.ts';
import { checkKey, chunks } from './keys.ts';
import type {
  ArtifactStore,
  DeleteResult,
  ObjectInfo,
  PutOptions,
  PutResult,
  StorageDestination,
  StoreCredentials,
} from './types.ts';

/** 8 MiB parts × 3 in flight: ~24 MiB of buffers, up to ~80 GB per object (10,000 parts). */
export const S3_PART_SIZE = 8 * 1024 * 1024;
export const S3_QUEUE_SIZE = 3;
/** DeleteObjects takes at most 1000 keys a request. */
const DELETE_BATCH = 1000;

export async function openS3Store(
  dest: StorageDestination,
  creds: StoreCredentials = {},
): Promise<ArtifactStore> {
  if (!dest.bucket) throw new StorageError('storageDestination.bucket is required for type s3');
  const bucket = dest.bucket;
  const s3 = await import('@aws-sdk/client-s3');
  const checksums = dest.checksums ?? (dest.endpoint ? 'when-required' : 'when-supported');
  const mode = checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  const client: S3Client = new s3.S3Client({
    region: dest.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(dest.endpoint ? { endpoint: dest.endpoint } : {}),
    forcePathStyle: dest.forcePathStyle ?? false,
    ...(creds.s3 ? { credentials: creds.s3 } : {}),
    requestChecksumCalculation: mode,
    responseChecksumValidation: mode,
  });
  const fail = (what: string, key: string, e: unknown) =>
    new StorageError(`s3 ${what} s3://${bucket}/${key}: ${errorName(e)}${messageOf(e)}`, e);

  const store: ArtifactStore = {
    type: 's3',
    location: (key) => `s3://${bucket}/${key}`,

    async put(key: string, body: Readable, opts: PutOptions = {}): Promise<PutResult> {
      checkKey(key);
      const { Upload } = await import('@aws-sdk/lib-storage');
      const counter = new ByteCounter(opts.onProgress);
      const upload = new Upload({
        client,
        params: {
          Bucket: bucket,
          Key: key,
          Body: counter,
          ContentType: opts.contentType ?? 'application/octet-stream',
        },
        partSize: S3_PART_SIZE,
        queueSize: S3_QUEUE_SIZE,
        leavePartsOnError: false,
      });
      let parts = 0;
      upload.on('httpUploadProgress', (p) => {
        parts = Math.max(parts, p.part ?? 0);
      });
      // The body's own error must fail the upload (and so abort it); lib-storage reads `counter`.
      // Upload.abort() only races done() against a signal and returns before AbortMultipartUpload
      // is sent; failing its input instead lets lib-storage abort and settle done() afterwards.
      const feeding = pipeline(body, counter);
      const done = upload.done();
      try {
        await Promise.all([done, feeding]);
      } catch (e) {
        counter.destroy(e instanceof Error ? e : new Error(String(e)));
        await done.catch(() => {});
        throw fail('upload to', key, e);
      }
      return { key, location: store.location(key), sizeBytes: counter.bytes, parts: Math.max(parts, 1) };
    },

    async get(key: string): Promise<Readable> {
      checkKey(key);
      try {
        const out = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key }));
        // In Node the SDK's body is an http.IncomingMessage (a Readable).
        return out.Body as Readable;
      } catch (e) {
        throw fail('download of', key, e);
      }
    },

    async head(key: string): Promise<ObjectInfo | undefined> {
      checkKey(key);
      try {
        const out = await client.send(new s3.HeadObjectCommand({ Bucket: bucket, Key: key }));
        return {
          key,
          sizeBytes: out.ContentLength ?? 0,
          ...(out.LastModified ? { lastModified: out.LastModified } : {}),
        };
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw fail('head of', key, e);
      }
    },

    async list(prefix: string): Promise<ObjectInfo[]> {
      const out: ObjectInfo[] = [];
      let token: string | undefined;
      try {
        do {
          const page = await client.send(
            new s3.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
          );
          for (const o of page.Contents ?? []) {
            if (o.Key === undefined) continue;
            out.push({
              key: o.Key,
              sizeBytes: o.Size ?? 0,
              ...(o.LastModified ? { lastModified: o.LastModified } : {}),
            });
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (e) {
        throw fail('list of', `${prefix}*`, e);
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async deleteMany(keys: readonly string[]): Promise<DeleteResult> {
      const result: DeleteResult = { deleted: [], errors: [] };
      for (const batch of chunks(keys.map(checkKey), DELETE_BATCH)) {
        try {
          const out = await client.send(
            new s3.DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: false },
            }),
          );
          const failed = new Set<string>();
          for (const err of out.Errors ?? []) {
            if (err.Key === undefined) continue;
            failed.add(err.Key);
            result.errors.push({
              key: err.Key,
              message: `${err.Code ?? 'Error'}: ${err.Message ?? ''}`.trim(),
            });
          }
          // Quiet:false lists the deleted keys, but some S3-compatible stores omit them: trust the
          // absence of an error for a key we sent.
          for (const key of batch) if (!failed.has(key)) result.deleted.push(key);
        } catch (e) {
          for (const key of batch) result.errors.push({ key, message: `${errorName(e)}${messageOf(e)}` });
        }
      }
      return result;
    },
  };
  return store;
}

function errorName(e: unknown): string {
  return e instanceof Error && e.name !== 'Error' ? `${e.name}: ` : '';
}

function isNotFound(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || status === 404;
}
