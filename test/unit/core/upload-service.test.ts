import { createHash, randomBytes } from 'node:crypto';
import {
  BlobUploadInvalidError,
  BlobUploadUnknownError,
  DigestInvalidError,
  RangeInvalidError,
  UnsupportedError,
} from '../../../lambda/core/errors';
import type { ChunkedUploadSession } from '../../../lambda/core/ports/metadata';
import { memoryRegistry } from '../../support/memory-registry';

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const NAME = 'library/app';

describe('UploadService', () => {
  test('chunks of every size assemble to the exact blob, via staged chunks and multipart parts', async () => {
    const { services, store, metadata } = memoryRegistry({ minPartSize: 16 });
    const blob = randomBytes(200);
    const session = await services.uploads.start(NAME);
    const sizes = [1, 5, 9, 16, 30, 3, 40, 7, 60];
    let offset = 0;
    for (const size of sizes) {
      const chunk = blob.subarray(offset, offset + size);
      const next = await services.uploads.append(NAME, session.id, chunk, { start: offset, end: offset + size - 1 });
      offset += size;
      expect(next.size).toBe(offset);
    }
    const rest = blob.subarray(offset);
    const record = await services.uploads.complete(NAME, session.id, digestOf(blob), rest);
    expect(record.size).toBe(blob.length);
    expect(Buffer.from(await store.get(record.key))).toEqual(blob);
    expect(await metadata.getLink(NAME, digestOf(blob))).toEqual(record);
    // Nothing of the session is left: no staged objects, no open multipart upload, no session.
    expect([...store.objects.keys()].filter((k) => k.startsWith('uploads/'))).toEqual([]);
    expect(store.multiparts.size).toBe(0);
    expect(metadata.uploads.size).toBe(0);
  });

  test('a small chunked blob is stored at its digest key without multipart', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 1024 });
    const blob = Buffer.from('small blob in two chunks');
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, blob.subarray(0, 10));
    const record = await services.uploads.complete(NAME, s.id, digestOf(blob), blob.subarray(10));
    expect(record.key).toMatch(new RegExp(`^blobs/sha256/${digestOf(blob).slice(7)}/[0-9a-f]{8}$`));
    expect(store.multiparts.size).toBe(0);
  });

  test('an out-of-order chunk is refused with the current size and changes nothing', async () => {
    const { services } = memoryRegistry();
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, Buffer.from('0123456789'), { start: 0, end: 9 });
    const err = await services.uploads.append(NAME, s.id, Buffer.from('abc'), { start: 20, end: 22 }).catch((e) => e);
    expect(err).toBeInstanceOf(RangeInvalidError);
    expect((err as RangeInvalidError).currentSize).toBe(10);
    expect((await services.uploads.status(NAME, s.id)).size).toBe(10);
  });

  test('a Content-Range that disagrees with the body length is invalid', async () => {
    const { services } = memoryRegistry();
    const s = await services.uploads.start(NAME);
    await expect(services.uploads.append(NAME, s.id, Buffer.from('abc'), { start: 0, end: 9 })).rejects.toBeInstanceOf(
      BlobUploadInvalidError,
    );
  });

  test('a wrong digest is DIGEST_INVALID, and the session and every staged byte are gone', async () => {
    const { services, store, metadata } = memoryRegistry({ minPartSize: 16 });
    const blob = randomBytes(100);
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, blob.subarray(0, 40));
    await services.uploads.append(NAME, s.id, blob.subarray(40, 45));
    const claimed = digestOf(Buffer.from('something else'));
    await expect(services.uploads.complete(NAME, s.id, claimed, blob.subarray(45))).rejects.toBeInstanceOf(
      DigestInvalidError,
    );
    expect(store.objects.size).toBe(0);
    expect(store.multiparts.size).toBe(0);
    expect(await metadata.getLink(NAME, claimed)).toBeUndefined();
    expect(await metadata.getBlob(claimed)).toBeUndefined();
    await expect(services.uploads.status(NAME, s.id)).rejects.toBeInstanceOf(BlobUploadUnknownError);
  });

  test('a monolithic upload with a wrong digest stores nothing', async () => {
    const { services, store } = memoryRegistry();
    await expect(services.uploads.putWhole(NAME, digestOf(Buffer.from('x')), Buffer.from('y'))).rejects.toBeInstanceOf(
      DigestInvalidError,
    );
    expect(store.objects.size).toBe(0);
  });

  test('sha512 digests work for monolithic uploads, and for chunked ones by verified re-read up to a limit', async () => {
    const { services, store, metadata } = memoryRegistry({ minPartSize: 16 });
    const body = randomBytes(100);
    const sha512 = (b: Uint8Array) => `sha512:${createHash('sha512').update(b).digest('hex')}`;
    expect((await services.uploads.putWhole(NAME, sha512(body), body)).digest).toBe(sha512(body));
    const chunked = randomBytes(300);
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, chunked.subarray(0, 40));
    await services.uploads.append(NAME, s.id, chunked.subarray(40, 45));
    const record = await services.uploads.complete(NAME, s.id, sha512(chunked), chunked.subarray(45));
    expect(Buffer.from(await store.get(record.key))).toEqual(chunked);
    // A wrong sha512 leaves nothing: the read-back object is deleted.
    const wrong = await services.uploads.start(NAME);
    await services.uploads.append(NAME, wrong.id, chunked.subarray(0, 40));
    await expect(services.uploads.complete(NAME, wrong.id, sha512(body))).rejects.toBeInstanceOf(DigestInvalidError);
    expect(await metadata.getBlob(sha512(body).replace(/.$/, 'x'))).toBeUndefined();
    expect([...store.objects.keys()].filter((k) => k.includes(wrong.id))).toEqual([]);
    // Beyond the re-read limit (1024 bytes here) the client is told to push in one request.
    const big = await services.uploads.start(NAME);
    await services.uploads.append(NAME, big.id, randomBytes(1000));
    await expect(services.uploads.complete(NAME, big.id, sha512(body), randomBytes(100))).rejects.toThrow(
      /limited to 1024/,
    );
  });

  test('unsupported digest algorithms are refused as such', async () => {
    const { services } = memoryRegistry();
    await expect(services.uploads.putWhole(NAME, `md5:${'a'.repeat(32)}`, Buffer.from('x'))).rejects.toBeInstanceOf(
      UnsupportedError,
    );
  });

  test('the same content uploaded twice is stored once', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 16 });
    const blob = randomBytes(64);
    const upload = async (name: string) => {
      const s = await services.uploads.start(name);
      await services.uploads.append(name, s.id, blob.subarray(0, 32));
      return services.uploads.complete(name, s.id, digestOf(blob), blob.subarray(32));
    };
    const first = await upload('a/one');
    const second = await upload('b/two');
    expect(second.key).toBe(first.key);
    expect([...store.objects.keys()]).toEqual([first.key]);
  });

  test('sessions expire after their TTL without any sweeper', async () => {
    const { services, clock } = memoryRegistry();
    const s = await services.uploads.start(NAME);
    clock.advance(3599);
    await services.uploads.status(NAME, s.id);
    clock.advance(2);
    await expect(services.uploads.status(NAME, s.id)).rejects.toBeInstanceOf(BlobUploadUnknownError);
  });

  test('a session belongs to its repository, and malformed ids are unknown', async () => {
    const { services } = memoryRegistry();
    const s = await services.uploads.start(NAME);
    await expect(services.uploads.status('other/repo', s.id)).rejects.toBeInstanceOf(BlobUploadUnknownError);
    await expect(services.uploads.status(NAME, '../../etc')).rejects.toBeInstanceOf(BlobUploadUnknownError);
  });

  test('two racing chunks at the same offset: one wins, the loser gets 416 and leaves nothing behind', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 1024 });
    const s = await services.uploads.start(NAME);
    const results = await Promise.allSettled([
      services.uploads.append(NAME, s.id, Buffer.from('aaaa'), { start: 0, end: 3 }),
      services.uploads.append(NAME, s.id, Buffer.from('bbbb'), { start: 0, end: 3 }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(RangeInvalidError);
    const session = (await services.uploads.status(NAME, s.id)) as ChunkedUploadSession;
    expect(session.size).toBe(4);
    expect([...store.objects.keys()]).toEqual(session.tail.map((t) => t.key));
  });

  test('cancel frees staged bytes and multipart parts', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 16 });
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, randomBytes(20));
    await services.uploads.append(NAME, s.id, randomBytes(3));
    await services.uploads.cancel(NAME, s.id);
    expect(store.objects.size).toBe(0);
    expect(store.multiparts.size).toBe(0);
    await expect(services.uploads.status(NAME, s.id)).rejects.toBeInstanceOf(BlobUploadUnknownError);
  });
});
