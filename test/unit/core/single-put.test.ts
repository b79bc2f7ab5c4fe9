import { createHash } from 'node:crypto';
import { memoryRegistry } from '../../support/memory-registry';

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function services() {
  const { store, metadata, services } = memoryRegistry();
  return { store, metadata, uploads: services.uploads };
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
