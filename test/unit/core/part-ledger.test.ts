import { createHash, randomBytes } from 'node:crypto';
import { BlobUploadInvalidError } from '../../../lambda/core/errors';
import { committedParts, extendLedger, NO_PARTS } from '../../../lambda/core/part-ledger';
import type { ChunkedUploadSession } from '../../../lambda/core/ports/metadata';
import { memoryRegistry } from '../../support/memory-registry';

const part = (partNumber: number, etag = `"e${partNumber}"`, size = 10) => ({ partNumber, etag, size });
const parts = [part(1), part(2), part(3)];
const ledger = extendLedger(NO_PARTS, parts);

describe('part ledger', () => {
  test('sums parts up the same way whether recorded at once or request by request', () => {
    expect(ledger).toMatchObject({ count: 3, size: 30 });
    expect(ledger.chain).toMatch(/^[0-9a-f]{64}$/);
    expect(extendLedger(extendLedger(NO_PARTS, parts.slice(0, 1)), parts.slice(1))).toEqual(ledger);
    expect(() => extendLedger(ledger, [part(5)])).toThrow(/cannot follow part 3/);
  });

  test('the committed parts are the listed ones up to the ledger, in order; later ones are left out', () => {
    const listed = [part(3), part(1), part(4, '"loser"'), part(2)];
    expect(committedParts(ledger, listed)).toEqual(parts.map(({ partNumber, etag }) => ({ partNumber, etag })));
    // Quotes around ETags are not what tells parts apart.
    expect(committedParts(ledger, [part(1, 'e1'), part(2), part(3)])).toHaveLength(3);
  });

  test.each([
    ['a part overwritten (another ETag)', [part(1), part(2, '"other"'), part(3)], /overwritten/],
    ['a part of another size', [part(1), part(2, '"e2"', 11), part(3)], /overwritten/],
    ['a part missing in the middle', [part(1), part(3)], /part 2 .* gone/],
    ['the last part missing', [part(1), part(2)], /part 3 .* gone/],
  ])('%s is refused', (_label, listed, message) => {
    expect(() => committedParts(ledger, listed)).toThrow(BlobUploadInvalidError);
    expect(() => committedParts(ledger, listed)).toThrow(message);
  });
});

describe('finishing against the ledger', () => {
  test('a committed part that a losing request overwrote never becomes part of the blob', async () => {
    const { services, store, metadata } = memoryRegistry({ minPartSize: 16, partSize: 16 });
    const blob = randomBytes(40);
    const s = await services.uploads.start('library/app');
    const after = await services.uploads.append('library/app', s.id, blob.subarray(0, 32), { start: 0, end: 31 });
    const { key, id } = after.multipart!;
    // A request that read the same session and lost the race to commit still wrote its part 2.
    await store.uploadPart(key, id, 2, randomBytes(16));
    await expect(
      services.uploads.complete(
        'library/app',
        s.id,
        `sha256:${createHash('sha256').update(blob).digest('hex')}`,
        blob.subarray(32),
      ),
    ).rejects.toThrow(/overwritten/);
    expect(metadata.blobRecords.size).toBe(0);
    // The session is left as it was, so cancelling (or the sweeper) frees what it holds.
    expect(((await metadata.get(s.id)) as ChunkedUploadSession).multipart?.parts.count).toBe(2);
    await services.uploads.cancel('library/app', s.id);
    expect(store.multiparts.size).toBe(0);
    expect(store.objects.size).toBe(0);
  });

  test('parts a broken-off request wrote beyond the ledger are dropped at completion', async () => {
    const { services, store } = memoryRegistry({ minPartSize: 16, partSize: 16 });
    const blob = randomBytes(40);
    const s = await services.uploads.start('library/app');
    const after = await services.uploads.append('library/app', s.id, blob.subarray(0, 16), { start: 0, end: 15 });
    await store.uploadPart(after.multipart!.key, after.multipart!.id, 2, randomBytes(16));
    await store.uploadPart(after.multipart!.key, after.multipart!.id, 4, randomBytes(16));
    await services.uploads.append('library/app', s.id, blob.subarray(16, 32), { start: 16, end: 31 });
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const record = await services.uploads.complete('library/app', s.id, digest, blob.subarray(32));
    expect(Buffer.from(await store.get(record.key)).equals(blob)).toBe(true);
  });
});
