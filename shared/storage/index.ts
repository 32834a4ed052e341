/**
 * Storage adapters: one `ArtifactStore` interface over S3, GCS and a PVC folder.
 * `openStore` picks one from a plain destination description; each adapter loads its SDK lazily,
 * so importing this module costs nothing until a store is opened.
 */
import { InvalidSpec } from '../errors.ts';
import { openGcsStore } from './gcs.ts';
import { openPvcStore } from './pvc.ts';
import { openS3Store } from './s3.ts';
import type { ArtifactStore, StorageDestination, StoreCredentials } from './types.ts';

export { GCS_CHUNK_SIZE } from './gcs.ts';
export { checkKey } from './keys.ts';
export { S3_PART_SIZE, S3_QUEUE_SIZE } from './s3.ts';
export type {
  ArtifactStore,
  DeleteResult,
  DestinationType,
  ObjectInfo,
  PutOptions,
  PutResult,
  StorageDestination,
  StoreCredentials,
} from './types.ts';

export async function openStore(
  dest: StorageDestination,
  creds: StoreCredentials = {},
): Promise<ArtifactStore> {
  switch (dest.type) {
    case 's3':
      return openS3Store(dest, creds);
    case 'gcs':
      return openGcsStore(dest, creds);
    case 'pvc':
      return openPvcStore(dest);
    default:
      throw new InvalidSpec(
        'storageDestination.type',
        `must be s3, gcs or pvc, got ${JSON.stringify(dest.type)}`,
      );
  }
}
