/**
 * Google Cloud Storage. Uploads are resumable sessions sent in 8 MiB chunks (bounded memory,
 * each chunk retryable) and validated with CRC32C by the client against what the server stored.
 * A session whose body fails is never finalised, so no object appears.
 * Credentials: an explicit key file, GOOGLE_APPLICATION_CREDENTIALS, or the ambient identity
 * (Workload Identity). The SDK is imported lazily (see s3.ts).
 */

import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bucket } from '@google-cloud/storage';
import { messageOf, StorageError } from '../errors.ts';
import { ByteCounter } from './count.ts';
import { checkKey, mapLimit } from './keys.ts';
import type {
  ArtifactStore,
  DeleteResult,
  ObjectInfo,
  PutOptions,
  PutResult,
  StorageDestination,
  StoreCredentials,
} from './types.ts';

/** A multiple of 256 KiB, as the resumable protocol requires. */
export const GCS_CHUNK_SIZE = 8 * 1024 * 1024;
const DELETE_CONCURRENCY = 16;

export async function openGcsStore(
  dest: StorageDestination,
  creds: StoreCredentials = {},
): Promise<ArtifactStore> {
  if (!dest.bucket) throw new StorageError('storageDestination.bucket is required for type gcs');
  const bucketName = dest.bucket;
  const { Storage } = await import('@google-cloud/storage');
  const storage = new Storage({
    ...(dest.endpoint ? { apiEndpoint: dest.endpoint } : {}),
    ...(creds.gcsKeyFile ? { keyFilename: creds.gcsKeyFile } : {}),
    ...(creds.gcsProjectId ? { projectId: creds.gcsProjectId } : {}),
  });
  const bucket: Bucket = storage.bucket(bucketName);
  const fail = (what: string, key: string, e: unknown) =>
    new StorageError(`gcs ${what} gs://${bucketName}/${key}: ${messageOf(e)}`, e);

  const store: ArtifactStore = {
    type: 'gcs',
    location: (key) => `gs://${bucketName}/${key}`,

    async put(key: string, body: Readable, opts: PutOptions = {}): Promise<PutResult> {
      checkKey(key);
      const file = bucket.file(key);
      const counter = new ByteCounter(opts.onProgress);
      const writer = file.createWriteStream({
        resumable: true,
        chunkSize: GCS_CHUNK_SIZE,
        validation: 'crc32c',
        contentType: opts.contentType ?? 'application/octet-stream',
      });
      try {
        await pipeline(body, counter, writer);
      } catch (e) {
        throw fail('upload to', key, e);
      }
      const size = Number(file.metadata.size ?? counter.bytes);
      return {
        key,
        location: store.location(key),
        sizeBytes: size,
        parts: Math.max(1, Math.ceil(size / GCS_CHUNK_SIZE)),
      };
    },

    async get(key: string): Promise<Readable> {
      checkKey(key);
      // Existence first: createReadStream only fails once read, which would surface as a stream
      // error far from the cause.
      if (!(await store.head(key)))
        throw new StorageError(`gcs object gs://${bucketName}/${key} does not exist`);
      // No client-side CRC32C check on download: the agent verifies the manifest's sha256 over the
      // same bytes, and reports a mismatch as what it is (a corrupt artifact), not a transport error.
      return bucket.file(key).createReadStream({ validation: false });
    },

    async head(key: string): Promise<ObjectInfo | undefined> {
      checkKey(key);
      try {
        const [meta] = await bucket.file(key).getMetadata();
        return {
          key,
          sizeBytes: Number(meta.size ?? 0),
          ...(meta.updated ? { lastModified: new Date(meta.updated) } : {}),
        };
      } catch (e) {
        if (statusOf(e) === 404) return undefined;
        throw fail('metadata of', key, e);
      }
    },

    async list(prefix: string): Promise<ObjectInfo[]> {
      try {
        const [files] = await bucket.getFiles({ prefix, autoPaginate: true });
        return files
          .map((f) => ({
            key: f.name,
            sizeBytes: Number(f.metadata.size ?? 0),
            ...(f.metadata.updated ? { lastModified: new Date(f.metadata.updated) } : {}),
          }))
          .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      } catch (e) {
        throw fail('list of', `${prefix}*`, e);
      }
    },

    async deleteMany(keys: readonly string[]): Promise<DeleteResult> {
      // The client exposes no batch endpoint; concurrent single deletes are what gsutil -m does.
      const result: DeleteResult = { deleted: [], errors: [] };
      await mapLimit(keys.map(checkKey), DELETE_CONCURRENCY, async (key) => {
        try {
          await bucket.file(key).delete({ ignoreNotFound: true });
          result.deleted.push(key);
        } catch (e) {
          result.errors.push({ key, message: messageOf(e) });
        }
      });
      return result;
    },
  };
  return store;
}

function statusOf(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
