import { randomUUID } from 'node:crypto';
import { concatBytes, digestOf } from '../../bytes';
import { parseDigest } from '../../digest';
import { BlobUploadInvalidError, DigestInvalidError } from '../../errors';
import { keys } from '../../keys';
import { committedParts, extendLedger, NO_PARTS } from '../../part-ledger';
import type {
  BlobRecord,
  ChunkedMultipart,
  ChunkedUploadSession,
  NativelyHashedSession,
  RecordedPart,
  ResumablyHashedSession,
} from '../../ports/metadata';
import { ResumableSha256 } from '../../resumable-hash';
import { mismatch } from './hashing';
import type { SessionLifecycle } from './lifecycle';
import type { UploadContext } from './types';

/**
 * Turning a chunked session's stored bytes into one object: the blob, once verified, or the
 * resumable hash state a natively hashed session needs before it can take more bytes.
 */
export class ChunkedAssembly {
  constructor(
    private readonly ctx: UploadContext,
    private readonly lifecycle: SessionLifecycle,
  ) {}

  /**
   * Rebuilds the resumable hash state of a session whose first body was hashed natively, from the
   * bytes stored: the multipart upload is completed, read back and hashed, and becomes part 1 of a new
   * one (a server-side copy). Bounded like other read-backs; clients that continue after a streamed
   * body are rare (stock clients finish with an empty PUT).
   * @throws BlobUploadInvalidError when the bytes stored are too many to read back, or do not hash
   * to what was received (the session is destroyed then).
   */
  async resume(session: NativelyHashedSession): Promise<ResumablyHashedSession> {
    const { store, options } = this.ctx;
    const tailSize = session.tail.reduce((sum, t) => sum + t.size, 0);
    if (session.size - tailSize > options.maxRereadSize) {
      throw new BlobUploadInvalidError(
        `this upload cannot take more bytes after a streamed body over ${options.maxRereadSize} bytes; finish it with PUT ?digest= or start a new upload`,
      );
    }
    const hash = await ResumableSha256.create();
    let multipart: ChunkedMultipart | undefined;
    const old = session.multipart;
    if (old) {
      await store.completeMultipart(old.key, old.id, await this.committed(old));
      const bytes = await store.get(old.key);
      hash.update(bytes);
      const key = keys.assembled(session.id, randomUUID().slice(0, 8));
      const id = await store.createMultipart(key);
      const etag = await store.uploadPartCopy(key, id, 1, old.key);
      multipart = { id, key, parts: extendLedger(NO_PARTS, [{ partNumber: 1, etag, size: bytes.length }]) };
    }
    for (const t of session.tail) hash.update(await store.get(t.key));
    if (hash.digest() !== session.nativeDigest) {
      await this.lifecycle.destroy({ ...session, multipart });
      if (old) await store.delete([old.key]);
      throw new BlobUploadInvalidError(
        'stored bytes of this upload do not match what was received; start a new upload',
      );
    }
    const resumed: ResumablyHashedSession = {
      ...session,
      hashing: 'resumable',
      hashState: hash.save(),
      nativeDigest: undefined,
      multipart,
      version: session.version + 1,
    };
    await this.lifecycle.save(resumed, session.version);
    if (old) await store.delete([old.key]);
    return resumed;
  }

  /**
   * Finishes a chunked upload whose digest uses another algorithm than the sha256 hashed on the way
   * in: the bytes are assembled under the session's own key (no digest in it), read back and hashed,
   * and recorded only if they match. Bounded, because it re-reads what was already received.
   * @throws DigestInvalidError on a mismatch or beyond the read-back limit; nothing is kept then.
   */
  async completeByReread(session: ChunkedUploadSession, digest: string, last: Uint8Array): Promise<BlobRecord> {
    const { store, sessions, options } = this.ctx;
    const { algorithm } = parseDigest(digest);
    const size = session.size + last.length;
    if (size > options.maxRereadSize) {
      await this.lifecycle.destroy(session);
      throw new DigestInvalidError(
        `chunked ${algorithm} uploads are limited to ${options.maxRereadSize} bytes; push this blob in one request or with a sha256 digest`,
      );
    }
    const key = session.multipart?.key ?? keys.assembled(session.id, randomUUID().slice(0, 8));
    await this.assembleAt(session, key, last);
    const actual = digestOf(await store.get(key), algorithm);
    if (actual !== digest) {
      // Nothing is kept of a mismatch: the assembled object, the session, then its staged chunks.
      await store.delete([key]);
      await sessions.delete(session.id);
      await store.delete(session.tail.map((t) => t.key));
      throw mismatch(actual, digest);
    }
    return this.lifecycle.commit(session, digest, () => this.lifecycle.record(digest, size, key));
  }

  /**
   * Turns a verified session plus its last chunk into the blob's one stored object and records it.
   * `written` are the session's parts when the finishing request wrote all of them itself.
   */
  async assemble(
    session: ChunkedUploadSession,
    digest: string,
    last: Uint8Array,
    written?: readonly RecordedPart[],
  ): Promise<BlobRecord> {
    const key = session.multipart?.key ?? keys.blob(digest, randomUUID().slice(0, 8));
    await this.assembleAt(session, key, last, digest.startsWith('sha256:') ? digest : undefined, written);
    return this.lifecycle.record(digest, session.size + last.length, key);
  }

  /**
   * Writes the session's bytes plus `last` as one object at `key`: completing the multipart upload,
   * or in one PUT when the whole blob is smaller than a part. The last chunk goes straight into the
   * final part or object, never through staging. `sha256` lets S3 check a single PUT once more.
   * The committed parts are listed from the blob store and checked against the session's ledger,
   * unless `written` holds every one of them (the blob store still refuses a changed ETag).
   */
  private async assembleAt(
    session: ChunkedUploadSession,
    key: string,
    last: Uint8Array,
    sha256Digest?: string,
    written?: readonly RecordedPart[],
  ): Promise<void> {
    const { store } = this.ctx;
    const remainder = async () =>
      concatBytes([...(await Promise.all(session.tail.map((t) => store.get(t.key)))), last]);
    if (session.multipart) {
      const { id } = session.multipart;
      const parts =
        written?.length === session.multipart.parts.count
          ? written.map(({ partNumber, etag }) => ({ partNumber, etag }))
          : await this.committed(session.multipart);
      const partNumber = parts.length + 1;
      if (session.tail.length === 1 && last.length === 0) {
        const etag = await store.uploadPartCopy(key, id, partNumber, session.tail[0]!.key);
        parts.push({ partNumber, etag });
      } else if (session.tail.length > 0 || last.length > 0) {
        const etag = await store.uploadPart(key, id, partNumber, await remainder());
        parts.push({ partNumber, etag });
      }
      await store.completeMultipart(key, id, parts);
    } else {
      await store.put(key, await remainder(), sha256Digest?.slice(7));
    }
    // The staged chunks stay until the session is closed (lifecycle.commit): a finish that fails
    // after this point is retried from the same session, which still needs them.
  }

  /**
   * The parts committed to `multipart`, as the blob store lists them and checked against the
   * session's ledger: the part list lives in the store, not in the session's item.
   * @throws BlobUploadInvalidError when a committed part is gone or was overwritten.
   */
  private async committed(multipart: ChunkedMultipart) {
    return committedParts(multipart.parts, await this.ctx.store.listParts(multipart.key, multipart.id));
  }
}
