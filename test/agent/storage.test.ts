/**
 * The ArtifactStore adapters against s3rver, the GCS wire fake and a temp folder: the same
 * behaviour from all three, plus what each must guarantee on a failed upload.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { type ArtifactStore, openStore } from '../../shared/storage/index.ts';
import { type GcsFake, startGcsFake } from '../fixtures/gcs-fake.ts';
import { type S3Server, startS3 } from '../fixtures/s3.ts';

let s3: S3Server;
let gcs: GcsFake;
let pvcRoot: string;
const stores: Record<'s3' | 'gcs' | 'pvc', () => Promise<ArtifactStore>> = {
  s3: () => openStore({ type: 's3', bucket: 'b', endpoint: s3.endpoint, forcePathStyle: true }, { s3 }),
  gcs: () => openStore({ type: 'gcs', bucket: 'b', endpoint: gcs.endpoint }),
  pvc: () => openStore({ type: 'pvc', root: pvcRoot }),
};

test.before(async () => {
  [s3, gcs] = await Promise.all([startS3({ buckets: ['b'] }), startGcsFake({ buckets: ['b'] })]);
  pvcRoot = await mkdtemp(path.join(os.tmpdir(), 'cairn-store-'));
});
test.after.always(async () => {
  await Promise.all([s3?.stop(), gcs?.stop()]);
});

/** A body that yields some data and then fails, like a dump that dies. */
function failingBody(bytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) {
        this.destroy(new Error('source died'));
        return;
      }
      sent += 1 << 20;
      this.push(Buffer.alloc(1 << 20, 1));
    },
  });
}

for (const kind of ['s3', 'gcs', 'pvc'] as const) {
  test.serial(`${kind}: put, head, get, list and deleteMany behave the same`, async (t) => {
    const store = await stores[kind]();
    const data = Buffer.from('hello artifact\n'.repeat(1000));
    const put = await store.put('p/pol/20250327T010000Z.dump.zst', Readable.from([data]));
    t.like(put, { key: 'p/pol/20250327T010000Z.dump.zst', sizeBytes: data.length });
    t.regex(
      put.location,
      kind === 's3' ? /^s3:\/\/b\/p\// : kind === 'gcs' ? /^gs:\/\/b\/p\// : /^file:\/\/\//,
    );
    await store.put('p/pol/20250327T010000Z.manifest.json', Readable.from([Buffer.from('{}')]));
    await store.put('p/other/x', Readable.from([Buffer.from('x')]));
    t.is((await store.head('p/pol/20250327T010000Z.dump.zst'))?.sizeBytes, data.length);
    t.is(await store.head('p/pol/missing'), undefined);
    t.deepEqual(Buffer.concat(await (await store.get('p/pol/20250327T010000Z.dump.zst')).toArray()), data);
    await t.throwsAsync(() => store.get('p/pol/missing'), { name: 'StorageError' });
    t.deepEqual(
      (await store.list('p/pol/')).map((o) => o.key),
      ['p/pol/20250327T010000Z.dump.zst', 'p/pol/20250327T010000Z.manifest.json'],
    );
    const del = await store.deleteMany([
      'p/pol/20250327T010000Z.dump.zst',
      'p/pol/20250327T010000Z.manifest.json',
      'p/pol/never-existed',
    ]);
    t.deepEqual(del.errors, []);
    t.is(del.deleted.length, 3);
    t.deepEqual(
      (await store.list('p/')).map((o) => o.key),
      ['p/other/x'],
    );
    await t.throwsAsync(() => store.put('../escape', Readable.from([Buffer.from('x')])), {
      name: 'InvalidSpec',
    });
  });

  test.serial(`${kind}: a body that fails mid-upload leaves no object behind`, async (t) => {
    const store = await stores[kind]();
    const err = await t.throwsAsync(() => store.put('fail/obj', failingBody(20 << 20)), {
      name: 'StorageError',
    });
    t.regex(err?.message ?? '', /source died/);
    t.deepEqual(await store.list('fail/'), []);
    if (kind === 's3')
      t.true(
        s3.requests.some((r) => r.method === 'DELETE' && r.query.uploadId),
        'multipart aborted',
      );
    if (kind === 'gcs') t.is(gcs.objects('b').filter((n) => n.startsWith('fail/')).length, 0);
    if (kind === 'pvc') t.deepEqual(await readdir(path.join(pvcRoot, 'fail')).catch(() => []), []);
  });
}

test.serial('s3: deleteMany sends at most 1000 keys per DeleteObjects request', async (t) => {
  const store = await stores.s3();
  const keys = Array.from({ length: 1203 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
  const before = s3.requests.length;
  const res = await store.deleteMany(keys);
  t.is(res.deleted.length, 1203);
  t.deepEqual(res.errors, []);
  t.is(s3.requests.slice(before).filter((r) => r.method === 'POST' && 'delete' in r.query).length, 2);
});

test('openStore refuses an unknown type and a bucketless s3 destination', async (t) => {
  // @ts-expect-error: a type no destination has
  await t.throwsAsync(() => openStore({ type: 'ftp' }), { name: 'InvalidSpec' });
  await t.throwsAsync(() => openStore({ type: 's3' }), { name: 'StorageError' });
});
