import { randomUUID } from 'node:crypto';
import { BlobUploadInvalidError, DigestInvalidError } from '../../errors';
import { keys } from '../../keys';
import type { BlobRecord, ChunkedUploadSession } from '../../ports/metadata';
import { mismatch, nativeHasher } from './hashing';
import type { SessionLifecycle } from './lifecycle';
import type { UploadContext } from './types';

/**
 * A whole blob streamed in the one request that names its digest and declares its length, as
 * containerd, BuildKit, Docker ≥ 29, oras and regctl push layers: one write, straight to a key under
 * the digest, where the blob store keeps only bytes that hash to it (S3 checks
 * `x-amz-checksum-sha256` before it stores anything). The bytes are hashed here on the way as well,
 * and the blob is recorded only when both agree. No multipart upload, staging key or copy: a wrong
 * digest leaves nothing behind, under the digest or anywhere else.
 */
export class MonolithicUploads {
  constructor(
    private readonly ctx: UploadContext,
    private readonly lifecycle: SessionLifecycle,
  ) {}

  /**
   * Stores `body` (exactly `size` bytes) as the blob of the sha256 `digest` and closes `session`, a
   * fresh one, linking the blob into its repository. A blob stored already is only checked.
   * @throws DigestInvalidError when the bytes do not hash to `digest`; the session is gone then.
   * @throws BlobUploadInvalidError when the body is not `size` bytes; the session stays, holding nothing.
   */
  async put(
    session: ChunkedUploadSession,
    digest: string,
    body: AsyncIterable<Uint8Array>,
    size: number,
  ): Promise<BlobRecord> {
    const hash = nativeHasher('sha256');
    let received = 0;
    const hashed = (async function* () {
      for await (const chunk of body) {
        hash.update(chunk);
        received += chunk.length;
        yield chunk;
      }
    })();
    const stored = await this.ctx.blobs.getBlob(digest);
    if (stored) {
      // In another repository already: the bytes need checking, not writing again.
      for await (const chunk of hashed) void chunk;
      if (received !== size) {
        throw new BlobUploadInvalidError(`the body has ${received} bytes, not the ${size} its length said`);
      }
      await this.verify(session, digest, hash.digest());
      return this.lifecycle.commit(session, digest, async () => stored, stored);
    }
    const key = keys.blob(digest, randomUUID().slice(0, 8));
    try {
      await this.ctx.store.putStream(key, hashed, size, digest.slice('sha256:'.length));
    } catch (err) {
      if (!(err instanceof DigestInvalidError)) throw err;
      // The store refused the bytes, having read all of them: say what they hash to.
      await this.verify(session, digest, received === size ? hash.digest() : undefined);
      throw err;
    }
    try {
      await this.verify(session, digest, hash.digest());
    } catch (err) {
      // Only a store that checks no checksum gets here. Nothing refers to the object; uploads may not
      // delete under a digest, and garbage collection removes what nothing refers to if this cannot.
      await this.ctx.store.delete([key]).catch(() => undefined);
      throw err;
    }
    // Looked up above: a blob recorded meanwhile under the digest wins, and this object is left to
    // garbage collection.
    return this.lifecycle.commit(session, digest, () => this.lifecycle.record(digest, size, key), null);
  }

  /** Destroys the session and throws DigestInvalidError unless the bytes hashed to `digest`. */
  private async verify(session: ChunkedUploadSession, digest: string, actual: string | undefined): Promise<void> {
    if (actual === digest) return;
    await this.lifecycle.destroy(session);
    throw actual === undefined
      ? new DigestInvalidError(`uploaded content does not hash to ${digest}`, { expected: digest })
      : mismatch(actual, digest);
  }
}
