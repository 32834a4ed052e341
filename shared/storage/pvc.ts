/**
 * A folder on a mounted PersistentVolumeClaim. An artifact is written to a hidden temp name in
 * its final folder, fsynced, then renamed into place (and the folder fsynced), so a reader never
 * sees a partial file under the final name and a crash leaves at most a `.partial` to ignore.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { messageOf, StorageError } from '../errors.ts';
import { ByteCounter } from './count.ts';
import { checkKey } from './keys.ts';
import type {
  ArtifactStore,
  DeleteResult,
  ObjectInfo,
  PutOptions,
  PutResult,
  StorageDestination,
} from './types.ts';

const PARTIAL = '.partial';
const READ_CHUNK = 1 << 20;

export function openPvcStore(dest: StorageDestination): ArtifactStore {
  if (!dest.root)
    throw new StorageError('storageDestination.root (the mounted claim folder) is required for type pvc');
  const root = path.resolve(dest.root);
  const fileOf = (key: string) => path.join(root, ...checkKey(key).split('/'));
  const fail = (what: string, key: string, e: unknown) =>
    new StorageError(`pvc ${what} ${path.join(root, key)}: ${messageOf(e)}`, e);

  const store: ArtifactStore = {
    type: 'pvc',
    location: (key) => `file://${fileOf(key)}`,

    async put(key: string, body: Readable, opts: PutOptions = {}): Promise<PutResult> {
      const final = fileOf(key);
      const dir = path.dirname(final);
      const temp = path.join(dir, `.${path.basename(final)}.${randomBytes(4).toString('hex')}${PARTIAL}`);
      const counter = new ByteCounter(opts.onProgress);
      try {
        await mkdir(dir, { recursive: true });
        await pipeline(
          body,
          counter,
          createWriteStream(temp, { flags: 'wx', mode: 0o640, highWaterMark: READ_CHUNK }),
        );
        await syncPath(temp, 'r+'); // fsync is per file, not per descriptor
        await rename(temp, final);
        await syncPath(dir, 'r');
      } catch (e) {
        await unlink(temp).catch(() => {});
        throw fail('write of', key, e);
      }
      return { key, location: store.location(key), sizeBytes: counter.bytes, parts: 1 };
    },

    async get(key: string): Promise<Readable> {
      const file = fileOf(key);
      try {
        await stat(file);
      } catch (e) {
        throw fail('read of', key, e);
      }
      return createReadStream(file, { highWaterMark: READ_CHUNK });
    },

    async head(key: string): Promise<ObjectInfo | undefined> {
      try {
        const st = await stat(fileOf(key));
        return st.isFile() ? { key, sizeBytes: st.size, lastModified: st.mtime } : undefined;
      } catch (e) {
        if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return undefined;
        throw fail('stat of', key, e);
      }
    },

    async list(prefix: string): Promise<ObjectInfo[]> {
      const out: ObjectInfo[] = [];
      // Walk only the folder the prefix lies in; `a/b/c` lists under `a/b` and filters on `c`.
      const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
      const walk = async (rel: string): Promise<void> => {
        let entries: import('node:fs').Dirent[];
        try {
          entries = await readdir(path.join(root, rel), { withFileTypes: true });
        } catch (e) {
          if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return;
          throw fail('list of', `${prefix}*`, e);
        }
        for (const ent of entries) {
          const key = rel ? `${rel}/${ent.name}` : ent.name;
          if (ent.isDirectory()) {
            if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(key);
          } else if (ent.isFile() && key.startsWith(prefix) && !ent.name.endsWith(PARTIAL)) {
            const st = await stat(path.join(root, key));
            out.push({ key, sizeBytes: st.size, lastModified: st.mtime });
          }
        }
      };
      await walk(base);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async deleteMany(keys: readonly string[]): Promise<DeleteResult> {
      const result: DeleteResult = { deleted: [], errors: [] };
      for (const key of keys) {
        try {
          const file = fileOf(key);
          await unlink(file).catch((e: unknown) => {
            if (!isErrno(e, 'ENOENT')) throw e;
          });
          await pruneEmptyDirs(root, path.dirname(file));
          result.deleted.push(key);
        } catch (e) {
          result.errors.push({ key, message: messageOf(e) });
        }
      }
      return result;
    },
  };
  return store;
}

/** Removes now-empty folders between `dir` and `root` (exclusive), as object stores have no folders. */
async function pruneEmptyDirs(root: string, dir: string): Promise<void> {
  let d = dir;
  while (d.startsWith(`${root}${path.sep}`)) {
    try {
      await rmdir(d);
    } catch {
      return; // not empty (or gone): stop climbing
    }
    d = path.dirname(d);
  }
}

async function syncPath(file: string, flags: 'r' | 'r+'): Promise<void> {
  const fh = await open(file, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === code;
}
