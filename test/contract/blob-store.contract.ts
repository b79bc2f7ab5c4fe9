import { createHash, randomBytes } from 'node:crypto';
import { BlobUnknownError, BlobUploadInvalidError, DigestInvalidError } from '../../lambda/core/errors';
import type { BlobStore } from '../../lambda/core/ports/blob-store';
import { strictTest, type Strictness } from '../support/endpoint-strictness';

const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface BlobStoreSubject {
  readonly store: BlobStore;
  /** Whether presigned URLs are real http(s) URLs this test can fetch (false for the memory double). */
  readonly fetchable: boolean;
}

/**
 * The behaviour every BlobStore must have; run against the memory double and S3 alike. `lacking`:
 * the refusals of S3 that the server behind the store does not make (see `endpointLacks`); the
 * tests of those are skipped with the reason.
 */
export function blobStoreContract(
  label: string,
  subject: () => BlobStoreSubject,
  lacking: ReadonlyMap<Strictness, string> = new Map(),
): void {
  describe(`BlobStore contract: ${label}`, () => {
    let store: BlobStore;
    beforeAll(() => {
      store = subject().store;
    });
    const key = (name: string) => `contract/${label}/${name}-${randomBytes(4).toString('hex')}`;

    test('put then get returns the same bytes', async () => {
      const k = key('plain');
      const body = randomBytes(1000);
      await store.put(k, body);
      expect(Buffer.from(await store.get(k))).toEqual(body);
    });

    test('get of a missing key is BlobUnknownError', async () => {
      await expect(store.get(key('missing'))).rejects.toBeInstanceOf(BlobUnknownError);
    });

    strictTest('putSha256', lacking)('put with a wrong sha256 is refused and stores nothing', async () => {
      const k = key('bad-checksum');
      await expect(store.put(k, Buffer.from('actual'), sha256(Buffer.from('claimed')))).rejects.toBeInstanceOf(
        DigestInvalidError,
      );
      await expect(store.get(k)).rejects.toBeInstanceOf(BlobUnknownError);
    });

    test('put with the right sha256 is kept', async () => {
      const k = key('good-checksum');
      const body = randomBytes(300);
      await store.put(k, body, sha256(body));
      expect(Buffer.from(await store.get(k))).toEqual(body);
    });

    describe('putStream: one request, checked against the sha256 before anything is kept', () => {
      /** `body` in pieces of 64 KiB, as a request body arrives; `fail` breaks it off after `failAfter` bytes. */
      async function* pieces(body: Uint8Array, fail?: Error, failAfter = body.length) {
        for (let offset = 0; offset < body.length; offset += 64 * 1024) {
          if (fail && offset >= failAfter) throw fail;
          yield body.subarray(offset, Math.min(offset + 64 * 1024, body.length));
        }
        if (fail) throw fail;
      }
      const body = randomBytes(6 * MiB + 123);

      test('keeps exactly the bytes that hash to the sha256', async () => {
        const k = key('stream');
        await store.putStream(k, pieces(body), body.length, sha256(body));
        const got = Buffer.from(await store.get(k));
        expect(got.length).toBe(body.length);
        expect(sha256(got)).toBe(sha256(body));
      });

      test('keeps an empty body', async () => {
        const k = key('stream-empty');
        await store.putStream(k, pieces(new Uint8Array(0)), 0, sha256(new Uint8Array(0)));
        expect((await store.get(k)).length).toBe(0);
      });

      strictTest('putSha256', lacking)('refuses bytes that do not hash to the sha256 and keeps nothing', async () => {
        const k = key('stream-bad');
        const claimed = sha256(Buffer.concat([body.subarray(0, 100), Buffer.from('other')]));
        await expect(store.putStream(k, pieces(body), body.length, claimed)).rejects.toBeInstanceOf(DigestInvalidError);
        await expect(store.get(k)).rejects.toBeInstanceOf(BlobUnknownError);
      });

      test('a body shorter or longer than its size keeps nothing', async () => {
        // As an upload whose body broke off: the digest is of the whole blob, so even a server that
        // kept what arrived of an aborted request (versitygw at times does) has nothing matching it.
        const short = key('stream-short');
        const whole = Buffer.concat([body, Buffer.from([0])]);
        await expect(store.putStream(short, pieces(body), whole.length, sha256(whole))).rejects.toBeInstanceOf(
          BlobUploadInvalidError,
        );
        await expect(store.get(short)).rejects.toBeInstanceOf(BlobUnknownError);
        const long = key('stream-long');
        const prefix = body.subarray(0, body.length - 1);
        await expect(store.putStream(long, pieces(body), prefix.length, sha256(prefix))).rejects.toBeInstanceOf(
          BlobUploadInvalidError,
        );
        await expect(store.get(long)).rejects.toBeInstanceOf(BlobUnknownError);
      });

      test("a body that breaks off keeps nothing, and the body's error is what is thrown", async () => {
        const k = key('stream-broken');
        const cut = new Error('the client went away');
        await expect(store.putStream(k, pieces(body, cut, 3 * MiB), body.length, sha256(body))).rejects.toBe(cut);
        await expect(store.get(k)).rejects.toBeInstanceOf(BlobUnknownError);
      });
    });

    test('delete removes objects and ignores missing ones', async () => {
      const a = key('del-a');
      const b = key('del-b');
      await store.put(a, Buffer.from('a'));
      await store.put(b, Buffer.from('b'));
      await store.delete([a, b, key('never')]);
      await expect(store.get(a)).rejects.toBeInstanceOf(BlobUnknownError);
      await expect(store.get(b)).rejects.toBeInstanceOf(BlobUnknownError);
    });

    test('multipart: bytes parts and a copied part assemble in order', async () => {
      const target = key('mp');
      const staged = key('mp-staged');
      const first = randomBytes(5 * MiB);
      const last = randomBytes(1234);
      await store.put(staged, last);
      const id = await store.createMultipart(target);
      const e1 = await store.uploadPart(target, id, 1, first);
      const e2 = await store.uploadPartCopy(target, id, 2, staged);
      await store.completeMultipart(target, id, [
        { partNumber: 1, etag: e1 },
        { partNumber: 2, etag: e2 },
      ]);
      const got = Buffer.from(await store.get(target));
      expect(got.length).toBe(first.length + last.length);
      expect(sha256(got)).toBe(sha256(Buffer.concat([first, last])));
    });

    test('multipart: a non-last part under 5 MiB makes completion fail', async () => {
      const target = key('mp-small');
      const id = await store.createMultipart(target);
      const e1 = await store.uploadPart(target, id, 1, randomBytes(1024));
      const e2 = await store.uploadPart(target, id, 2, randomBytes(1024));
      await expect(
        store.completeMultipart(target, id, [
          { partNumber: 1, etag: e1 },
          { partNumber: 2, etag: e2 },
        ]),
      ).rejects.toThrow();
      await store.abortMultipart(target, id);
      await expect(store.get(target)).rejects.toBeInstanceOf(BlobUnknownError);
    });

    test('multipart: a part overwritten after its ETag was recorded makes completion fail', async () => {
      const target = key('mp-race');
      const id = await store.createMultipart(target);
      const recorded = await store.uploadPart(target, id, 1, randomBytes(2048));
      await store.uploadPart(target, id, 1, randomBytes(2048));
      await expect(store.completeMultipart(target, id, [{ partNumber: 1, etag: recorded }])).rejects.toThrow();
      await store.abortMultipart(target, id);
    });

    test('abort of an unknown multipart upload is not an error', async () => {
      await expect(store.abortMultipart(key('none'), 'no-such-upload')).resolves.toBeUndefined();
    });

    test('presigned GET serves the bytes and honours Range', async () => {
      if (!subject().fetchable) {
        // The memory double has no HTTP server; its URLs are opaque tokens checked elsewhere.
        expect(await store.presignGet('x', 60)).toContain('x');
        return;
      }
      const k = key('presign');
      const body = randomBytes(100);
      await store.put(k, body);
      const url = await store.presignGet(k, 60);
      const full = await fetch(url);
      expect(full.status).toBe(200);
      expect(Buffer.from(await full.arrayBuffer())).toEqual(body);
      const ranged = await fetch(url, { headers: { Range: 'bytes=10-19' } });
      expect(ranged.status).toBe(206);
      expect(Buffer.from(await ranged.arrayBuffer())).toEqual(body.subarray(10, 20));
    });

    strictTest('presignedSignature', lacking)('presigned GET is bound to its signature', async () => {
      if (!subject().fetchable) return; // the memory double's URLs are checked where they are served
      const k = key('signed');
      await store.put(k, randomBytes(100));
      const url = await store.presignGet(k, 60);
      expect((await fetch(url)).status).toBe(200);
      const tampered = url.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000');
      expect(tampered).not.toBe(url);
      expect((await fetch(tampered)).status).toBe(403);
    });

    strictTest('presignedExpiry', lacking)('presigned GET stops working once expired', async () => {
      if (!subject().fetchable) {
        expect(await store.presignGet('y', 1)).toContain('expires=1');
        return;
      }
      const k = key('expiring');
      await store.put(k, Buffer.from('soon gone'));
      const url = await store.presignGet(k, 1);
      await new Promise((r) => setTimeout(r, 2100));
      expect((await fetch(url)).status).toBe(403);
    });
  });
}
