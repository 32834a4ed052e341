/**
 * The storage contract shared by the backup agent (writes and reads artifacts) and the
 * retention-pruner function (lists and deletes them). Keys are full object keys
 * (`<path>/<policy>/<stamp>.<ext>`); a store only knows its bucket or root folder.
 */
import type { Readable } from 'node:stream';

export type DestinationType = 's3' | 'gcs' | 'pvc';

/**
 * Where artifacts live, as a DatabaseBackup/BackupPolicy `storageDestination` describes it once the
 * job-launcher has resolved Secrets and volume mounts. `path` is the key prefix the agent builds
 * keys under; the stores themselves ignore it.
 */
export interface StorageDestination {
  type: DestinationType;
  /** S3 or GCS bucket. */
  bucket?: string;
  /** Key prefix (seed 000's `path`, e.g. `postgres/daily`). */
  path?: string;
  /** S3-compatible endpoint (MinIO, Ceph, s3rver) or a GCS API base URL (fakes, private endpoints). */
  endpoint?: string;
  region?: string;
  /** Path-style S3 addressing; S3-compatible stores usually need it. */
  forcePathStyle?: boolean;
  /**
   * S3 request/response checksums: `when-required` (what MinIO-era and fake servers handle) or
   * `when-supported` (the AWS SDK default). Defaults to `when-required` when `endpoint` is set.
   */
  checksums?: 'when-required' | 'when-supported';
  /** Local folder of a mounted PVC, for type `pvc`. */
  root?: string;
}

/** Explicit credentials; without them the SDKs read their usual environment and ambient identity. */
export interface StoreCredentials {
  s3?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Path to a GCS service-account key file (else GOOGLE_APPLICATION_CREDENTIALS or Workload Identity). */
  gcsKeyFile?: string;
  gcsProjectId?: string;
}

export interface PutOptions {
  contentType?: string;
  /** Called with the number of bytes the store has taken so far. */
  onProgress?: (bytes: number) => void;
}

export interface PutResult {
  key: string;
  /** `s3://bucket/key`, `gs://bucket/key` or `file:///root/key`. */
  location: string;
  sizeBytes: number;
  /** How many requests carried the data (S3 parts, GCS chunks, 1 for a file). */
  parts: number;
}

export interface ObjectInfo {
  key: string;
  sizeBytes: number;
  lastModified?: Date;
}

export interface DeleteResult {
  /** Keys that are gone afterwards (including keys that did not exist). */
  deleted: string[];
  errors: { key: string; message: string }[];
}

export interface ArtifactStore {
  readonly type: DestinationType;
  location(key: string): string;
  /**
   * Streams `body` to `key`. The object appears only when the stream ended cleanly: if `body`
   * errors, the partial upload is aborted (S3 multipart abort, unfinished GCS session, temp file
   * removed) and the promise rejects with a StorageError carrying the cause.
   */
  put(key: string, body: Readable, opts?: PutOptions): Promise<PutResult>;
  /** The object's bytes; rejects with a StorageError when it does not exist. */
  get(key: string): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  deleteMany(keys: readonly string[]): Promise<DeleteResult>;
}
