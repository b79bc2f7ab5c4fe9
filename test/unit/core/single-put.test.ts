import { createHash } from 'node:crypto';
import { MemoryBlobStore } from '../../../lambda/adapters/memory/memory-blob-store';
import { MemoryMetadata } from '../../../lambda/adapters/memory/memory-metadata';
import { UploadService } from '../../../lambda/core/services/upload-service';
import { DIRECT_UPLOAD_OPTIONS } from '../../../lambda/handlers/compose';
import { ManualClock } from '../../support/memory-registry';

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function services() {
  const store = new MemoryBlobStore(16);
  const metadata = new MemoryMetadata();
  const uploads = new UploadService(store, metadata, metadata, new ManualClock(), {
    minPartSize: 16,
    partSize: 32,
    concurrency: 2,
    maxParts: 10_000,
    sessionTtlSeconds: 3600,
    maxRereadSize: 1024,
    ...DIRECT_UPLOAD_OPTIONS,
  });
  return { store, metadata, uploads };
}

/** The key a presigned single-PUT URL of the memory store writes. */
const keyOf = (url: string) => new URL(url).host + new URL(url).pathname;

describe('direct upload of a whole blob through one checksummed URL', () => {
  test("the finish trusts the store's checksum of the object: nothing is read back", async () => {
    const { store, metadata, uploads } = services();
    const bytes = new TextEncoder().encode('one checked request');
    const digest = sha256(bytes);
    const session = await uploads.start('a/b');
    const target = await uploads.singlePut('a/b', session.id, bytes.length, digest);
    await store.put(keyOf(target.url), bytes, digest.slice(7));
    const read = jest.spyOn(store, 'read');
    const done = await uploads.finishDirect('a/b', session.id, digest);
    expect(done).toMatchObject({ done: true, record: { digest, size: bytes.length } });
    expect(read).not.toHaveBeenCalled();
    expect(await metadata.getBlob(digest)).toMatchObject({ key: keyOf(target.url) });
  });

  test('a store that kept no checksum of the object has it read back and hashed', async () => {
    const { store, uploads } = services();
    const bytes = new TextEncoder().encode('no checksum kept');
    const digest = sha256(bytes);
    const session = await uploads.start('a/b');
    const target = await uploads.singlePut('a/b', session.id, bytes.length, digest);
    await store.put(keyOf(target.url), bytes);
    const read = jest.spyOn(store, 'read');
    expect(await uploads.finishDirect('a/b', session.id, digest)).toMatchObject({ done: true });
    expect(read).toHaveBeenCalledTimes(1);

    // Other bytes without a checksum: the read-back finds them out, and nothing is kept.
    const other = await uploads.start('a/b');
    const otherTarget = await uploads.singlePut('a/b', other.id, bytes.length, sha256(new Uint8Array(bytes.length)));
    await store.put(keyOf(otherTarget.url), bytes);
    await expect(uploads.finishDirect('a/b', other.id, sha256(new Uint8Array(bytes.length)))).rejects.toMatchObject({
      code: 'DIGEST_INVALID',
    });
    expect(store.objects.has(keyOf(otherTarget.url))).toBe(false);
  });
});
