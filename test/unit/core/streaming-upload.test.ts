import { createHash, randomBytes } from 'node:crypto';
import { BlobUploadInvalidError, DigestInvalidError } from '../../../lambda/core/errors';
import type { ChunkedUploadSession } from '../../../lambda/core/ports/metadata';
import { memoryRegistry } from '../../support/memory-registry';

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const NAME = 'stream/app';

async function* pieces(data: Uint8Array, sizes: number[], failAfter?: number): AsyncIterable<Uint8Array> {
  let offset = 0;
  let i = 0;
  while (offset < data.length) {
    if (failAfter !== undefined && offset >= failAfter) throw new Error('client went away');
    const size = sizes[i++ % sizes.length] as number;
    yield data.subarray(offset, offset + size);
    offset += size;
  }
}

describe('streamed uploads', () => {
  test('a stream of odd-sized pieces becomes parts of exactly partSize plus a staged remainder', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const blob = randomBytes(1000);
    const s = await services.uploads.start(NAME);
    const after = await services.uploads.append(NAME, s.id, pieces(blob.subarray(0, 990), [7, 1, 33, 64, 3]));
    expect(after.size).toBe(990);
    // The session sums its parts up; the blob store lists them.
    expect(after.multipart?.parts).toMatchObject({ count: 25, size: 990 });
    const parts = await store.listParts(after.multipart!.key, after.multipart!.id);
    expect(parts.map((p) => p.size)).toEqual([...Array(24).fill(40), 30]);
    expect(parts.map((p) => p.partNumber)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const record = await services.uploads.complete(NAME, s.id, digestOf(blob), blob.subarray(990));
    expect(Buffer.from(await store.get(record.key))).toEqual(blob);
  });

  test('earlier staged bytes join the first part cut from a later stream', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const blob = randomBytes(200);
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, blob.subarray(0, 10));
    await services.uploads.append(NAME, s.id, blob.subarray(10, 15));
    const after = await services.uploads.append(NAME, s.id, pieces(blob.subarray(15), [9]));
    expect((await store.listParts(after.multipart!.key, after.multipart!.id))[0]?.size).toBe(40);
    const record = await services.uploads.complete(NAME, s.id, digestOf(blob));
    expect(Buffer.from(await store.get(record.key))).toEqual(blob);
    expect([...store.objects.keys()].filter((k) => k.startsWith('uploads/'))).toEqual([]);
  });

  test('a stream that breaks off commits nothing: the session is as before and can be resumed', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const blob = randomBytes(300);
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, blob.subarray(0, 50));
    await expect(services.uploads.append(NAME, s.id, pieces(blob.subarray(50), [13], 120))).rejects.toThrow(
      'client went away',
    );
    const session = await services.uploads.status(NAME, s.id);
    expect(session.size).toBe(50);
    await services.uploads.append(NAME, s.id, pieces(blob.subarray(50), [13]), { start: 50, end: 299 });
    const record = await services.uploads.complete(NAME, s.id, digestOf(blob));
    expect(Buffer.from(await store.get(record.key))).toEqual(blob);
  });

  test('a first body that breaks off aborts the multipart upload it started and its staged bytes', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const s = await services.uploads.start(NAME);
    await expect(services.uploads.append(NAME, s.id, pieces(randomBytes(300), [13], 120))).rejects.toThrow();
    expect(store.multiparts.size).toBe(0);
    expect(store.objects.size).toBe(0);
  });

  test('a Content-Range that disagrees with the streamed length commits nothing', async () => {
    const { services } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const s = await services.uploads.start(NAME);
    await expect(
      services.uploads.append(NAME, s.id, pieces(randomBytes(100), [30]), { start: 0, end: 49 }),
    ).rejects.toBeInstanceOf(BlobUploadInvalidError);
    expect((await services.uploads.status(NAME, s.id)).size).toBe(0);
  });

  test('a whole streamed blob with its digest is hashed natively, in any supported algorithm', async () => {
    const { services, store, metadata } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const blob = randomBytes(250);
    for (const algorithm of ['sha256', 'sha512']) {
      const digest = `${algorithm}:${createHash(algorithm).update(blob).digest('hex')}`;
      const s = await services.uploads.start(NAME);
      const record = await services.uploads.putStreamed(NAME, s.id, digest, pieces(blob, [17]));
      expect(record.digest).toBe(digest);
      expect(Buffer.from(await store.get(record.key))).toEqual(blob);
      expect(await metadata.getLink(NAME, digest)).toEqual(record);
    }
    const small = randomBytes(10);
    const s = await services.uploads.start(NAME);
    const record = await services.uploads.putStreamed(NAME, s.id, digestOf(small), pieces(small, [3]));
    expect(record.key).toMatch(new RegExp(`^blobs/sha256/${digestOf(small).slice(7)}/[0-9a-f]{8}$`));
  });

  test('a whole streamed blob with the wrong digest leaves nothing behind', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const s = await services.uploads.start(NAME);
    await expect(
      services.uploads.putStreamed(NAME, s.id, digestOf(Buffer.from('other')), pieces(randomBytes(300), [29])),
    ).rejects.toBeInstanceOf(DigestInvalidError);
    expect(store.objects.size).toBe(0);
    expect(store.multiparts.size).toBe(0);
  });

  describe('a whole blob whose length the request declared (containerd, oras)', () => {
    test('is one object written straight under its digest: no multipart upload, nothing staged', async () => {
      const { services, store, metadata } = memoryRegistry({ minPartSize: 16, partSize: 40 });
      const blob = randomBytes(250);
      const s = await services.uploads.start(NAME);
      const written: string[] = [];
      const putStream = store.putStream.bind(store);
      store.putStream = (key, body, size, sha256) => {
        written.push(key);
        return putStream(key, body, size, sha256);
      };
      const record = await services.uploads.putStreamed(NAME, s.id, digestOf(blob), pieces(blob, [17]), blob.length);
      expect(record.key).toMatch(new RegExp(`^blobs/sha256/${digestOf(blob).slice(7)}/[0-9a-f]{8}$`));
      expect(written).toEqual([record.key]);
      expect([...store.objects.keys()]).toEqual([record.key]);
      expect(store.multiparts.size).toBe(0);
      expect(await metadata.getLink(NAME, digestOf(blob))).toEqual(record);
      await expect(services.uploads.status(NAME, s.id)).rejects.toThrow();
    });

    test('with another algorithm than sha256 (which S3 cannot check) goes in parts as before', async () => {
      const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 40 });
      const blob = randomBytes(250);
      const digest = `sha512:${createHash('sha512').update(blob).digest('hex')}`;
      const s = await services.uploads.start(NAME);
      const record = await services.uploads.putStreamed(NAME, s.id, digest, pieces(blob, [17]), blob.length);
      expect(record.key).toMatch(/^blobs\/assembled\//);
      expect(Buffer.from(await store.get(record.key))).toEqual(blob);
    });

    test('with the wrong digest is DIGEST_INVALID with the actual digest, and leaves nothing, session included', async () => {
      const { services, store, metadata } = memoryRegistry({ minPartSize: 16, partSize: 40 });
      const blob = randomBytes(300);
      const claimed = digestOf(Buffer.from('other'));
      const s = await services.uploads.start(NAME);
      const refused = services.uploads.putStreamed(NAME, s.id, claimed, pieces(blob, [29]), blob.length);
      await expect(refused).rejects.toBeInstanceOf(DigestInvalidError);
      await expect(refused).rejects.toMatchObject({ detail: { expected: claimed, actual: digestOf(blob) } });
      expect(store.objects.size).toBe(0);
      expect(await metadata.getBlob(claimed)).toBeUndefined();
      await expect(services.uploads.status(NAME, s.id)).rejects.toThrow();
    });

    test("behind a store that checked nothing, the registry's own hash refuses the bytes and removes them", async () => {
      const { services, store, metadata } = memoryRegistry({ minPartSize: 16, partSize: 40 });
      // A store that keeps whatever it is sent, whatever the checksum.
      store.putStream = async (key, body) => {
        const chunks: Uint8Array[] = [];
        for await (const chunk of body) chunks.push(chunk);
        await store.put(key, Buffer.concat(chunks));
      };
      const blob = randomBytes(300);
      const claimed = digestOf(Buffer.from('other'));
      const s = await services.uploads.start(NAME);
      await expect(
        services.uploads.putStreamed(NAME, s.id, claimed, pieces(blob, [29]), blob.length),
      ).rejects.toMatchObject({ code: 'DIGEST_INVALID', detail: { actual: digestOf(blob) } });
      expect(store.objects.size).toBe(0);
      expect(await metadata.getBlob(claimed)).toBeUndefined();
    });

    test('stored already (another repository) is checked and linked, not written again', async () => {
      const { services, store, metadata } = memoryRegistry({ minPartSize: 16, partSize: 40 });
      const blob = randomBytes(300);
      const first = await services.uploads.start(NAME);
      const record = await services.uploads.putStreamed(NAME, first.id, digestOf(blob), pieces(blob, [29]), 300);
      store.putStream = () => Promise.reject(new Error('no write expected'));
      const again = await services.uploads.start('other/app');
      expect(
        await services.uploads.putStreamed('other/app', again.id, digestOf(blob), pieces(blob, [31]), 300),
      ).toEqual(record);
      expect(await metadata.getLink('other/app', digestOf(blob))).toEqual(record);
      // Bytes that are not the blob's are refused all the same, and linked nowhere.
      const wrong = await services.uploads.start('third/app');
      await expect(
        services.uploads.putStreamed('third/app', wrong.id, digestOf(blob), pieces(randomBytes(300), [31]), 300),
      ).rejects.toBeInstanceOf(DigestInvalidError);
      expect(await metadata.getLink('third/app', digestOf(blob))).toBeUndefined();
    });

    test('a body shorter than declared stores nothing and keeps the session for another try', async () => {
      const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 40 });
      const blob = randomBytes(300);
      const s = await services.uploads.start(NAME);
      await expect(
        services.uploads.putStreamed(NAME, s.id, digestOf(blob), pieces(blob.subarray(0, 200), [29]), 300),
      ).rejects.toBeInstanceOf(BlobUploadInvalidError);
      expect(store.objects.size).toBe(0);
      const record = await services.uploads.putStreamed(NAME, s.id, digestOf(blob), pieces(blob, [29]), 300);
      expect(Buffer.from(await store.get(record.key))).toEqual(blob);
    });
  });

  test('two whole-blob PUTs racing on one session never leave a record pointing at the other bytes', async () => {
    const { services, store, metadata } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const s = await services.uploads.start(NAME);
    const a = randomBytes(200);
    const b = randomBytes(200);
    const results = await Promise.allSettled([
      services.uploads.putStreamed(NAME, s.id, digestOf(a), pieces(a, [11])),
      services.uploads.putStreamed(NAME, s.id, digestOf(b), pieces(b, [13])),
    ]);
    for (const [result, bytes] of [
      [results[0], a],
      [results[1], b],
    ] as const) {
      if (result?.status !== 'fulfilled') continue;
      const record = await metadata.getBlob(digestOf(bytes));
      expect(Buffer.from(await store.get(record!.key))).toEqual(bytes);
    }
  });

  test('a streamed first body is hashed natively; an empty finishing PUT uses that digest', async () => {
    const { services, store, metadata } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const blob = randomBytes(300);
    const s = await services.uploads.start(NAME);
    const after = await services.uploads.append(NAME, s.id, pieces(blob, [23]));
    expect(after.nativeDigest).toBe(digestOf(blob));
    expect(after.hashState.length).toBe(0);
    const stored = (await metadata.get(s.id)) as ChunkedUploadSession | undefined;
    expect(stored?.nativeDigest).toBe(digestOf(blob));
    const record = await services.uploads.complete(NAME, s.id, digestOf(blob));
    expect(Buffer.from(await store.get(record.key))).toEqual(blob);
    await expect(
      (async () => {
        const t = await services.uploads.start(NAME);
        await services.uploads.append(NAME, t.id, pieces(blob, [23]));
        return services.uploads.complete(NAME, t.id, digestOf(randomBytes(4)));
      })(),
    ).rejects.toBeInstanceOf(DigestInvalidError);
  });

  test.each([
    ['with parts', 300],
    ['staged only', 10],
  ])('more bytes after a streamed first body rebuild the resumable state (%s)', async (_label, first) => {
    const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const blob = randomBytes(first + 120);
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, pieces(blob.subarray(0, first), [7]));
    const more = await services.uploads.append(NAME, s.id, pieces(blob.subarray(first, first + 100), [9]), {
      start: first,
      end: first + 99,
    });
    expect(more.nativeDigest).toBeUndefined();
    expect(more.hashState.length).toBeGreaterThan(0);
    const record = await services.uploads.complete(NAME, s.id, digestOf(blob), blob.subarray(first + 100));
    expect(Buffer.from(await store.get(record.key))).toEqual(blob);
    expect([...store.objects.keys()]).toEqual([record.key]);
    expect(store.multiparts.size).toBe(0);
  });

  test('a finishing PUT with a last chunk after a streamed body also rebuilds the state', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const blob = randomBytes(210);
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, pieces(blob.subarray(0, 200), [31]));
    const record = await services.uploads.complete(NAME, s.id, digestOf(blob), blob.subarray(200));
    expect(Buffer.from(await store.get(record.key))).toEqual(blob);
  });

  test('continuing after a streamed body larger than the read-back limit is refused clearly', async () => {
    const { services } = memoryRegistry({ minPartSize: 16, partSize: 40 });
    const s = await services.uploads.start(NAME);
    await services.uploads.append(NAME, s.id, pieces(randomBytes(2000), [100]));
    await expect(services.uploads.append(NAME, s.id, randomBytes(10))).rejects.toThrow(/finish it with PUT/);
  });
});
