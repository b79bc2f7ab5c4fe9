import { randomUUID } from 'node:crypto';
import { parseDigest } from '../../digest';
import {
  BlobUnknownError,
  BlobUploadInvalidError,
  ConcurrentModificationError,
  DigestInvalidError,
  RangeInvalidError,
  SizeInvalidError,
} from '../../errors';
import { keys } from '../../keys';
import { MAX_STREAMED_PUT_SIZE, type PresignedPut } from '../../ports/blob-store';
import type {
  ChunkedUploadSession,
  DirectReceivingSession,
  DirectSendingSession,
  DirectUploadSession,
  DirectVerifiedSession,
  DirectVerifyingSession,
  StoredObject,
} from '../../ports/metadata';
import { ResumableSha256 } from '../../resumable-hash';
import { mismatch, nativeHasher, type DigestingHasher } from './hashing';
import { baseOf, type SessionLifecycle } from './lifecycle';
import { MAX_PART_URLS, type DirectFinish, type PartUrl, type UploadContext } from './types';

/**
 * Direct sessions, the push helper's protocol: the client writes its bytes straight to storage
 * through presigned part URLs, and the registry verifies them by reading them back before anything
 * refers to them, so a URL can do no more harm than spoil its own upload.
 */
export class DirectUploads {
  constructor(
    private readonly ctx: UploadContext,
    private readonly lifecycle: SessionLifecycle,
  ) {}

  /** Presigned URLs for parts `first` to `last`, turning a fresh session direct. */
  async partUrls(name: string, id: string, first: number, last: number): Promise<PartUrl[]> {
    const { maxParts, partUrlTtlSeconds } = this.ctx.options;
    if (!(Number.isInteger(first) && Number.isInteger(last) && first >= 1 && last >= first && last <= maxParts)) {
      throw new BlobUploadInvalidError(
        `part numbers run from 1 to ${maxParts}; ${first}-${last} is not a range of them`,
      );
    }
    if (last - first + 1 > MAX_PART_URLS) {
      throw new BlobUploadInvalidError(
        `at most ${MAX_PART_URLS} part URLs per request; ${first}-${last} asks for more`,
      );
    }
    const session = await this.openDirect(name, id);
    if (session.phase !== 'receiving') {
      throw new BlobUploadInvalidError('this upload is being finished: its parts can no longer change');
    }
    const { key, id: multipartId } = session.multipart;
    return Promise.all(
      Array.from({ length: last - first + 1 }, async (_, i) => ({
        partNumber: first + i,
        url: await this.ctx.store.presignUploadPart(key, multipartId, first + i, partUrlTtlSeconds),
      })),
    );
  }

  /**
   * One presigned URL for the whole blob, `size` bytes that hash to `digest`, which the blob store
   * checks before it keeps anything: the session turns direct, sending. Asking again for the same
   * blob gives a fresh URL for the same object (a retry after the first expired).
   */
  async singlePut(name: string, id: string, size: number, digest: string): Promise<PresignedPut> {
    const { algorithm, encoded: hex } = parseDigest(digest);
    if (algorithm !== 'sha256') {
      throw new DigestInvalidError(
        `a blob sent through one URL is checked as sha256; ${algorithm} is not supported here`,
      );
    }
    if (!(Number.isSafeInteger(size) && size >= 0 && size <= MAX_STREAMED_PUT_SIZE)) {
      throw new SizeInvalidError(
        `a blob sent through one URL has 0 to ${MAX_STREAMED_PUT_SIZE} bytes; send ${size} bytes in parts (?parts=)`,
      );
    }
    const session = await this.lifecycle.status(name, id);
    const expiresAt = this.lifecycle.expiry();
    let object: StoredObject;
    if (session.kind === 'direct') {
      if (session.phase !== 'sending' || session.digest !== digest || session.object.size !== size) {
        throw new BlobUploadInvalidError('this upload is already sending other bytes; start a new one');
      }
      object = session.object;
      await this.keepAlive(session, expiresAt);
    } else {
      assertFresh(session);
      object = { key: keys.assembled(session.id, randomUUID().slice(0, 8)), size };
      const next: DirectSendingSession = {
        ...baseOf(session),
        kind: 'direct',
        phase: 'sending',
        object,
        digest,
        size: 0,
        version: session.version + 1,
        expiresAt,
      };
      await this.ctx.sessions.update(next, session.version).catch((err: unknown) => {
        if (err instanceof ConcurrentModificationError) {
          throw new RangeInvalidError('another request changed this upload first', id, name, 0);
        }
        throw err;
      });
    }
    return this.ctx.store.presignPut(object.key, size, hex, this.ctx.options.partUrlTtlSeconds);
  }

  /** Extends a direct session's life; another request extending it at the same moment does as well. */
  private keepAlive<S extends DirectUploadSession>(session: S, expiresAt: number): Promise<S> {
    const next = { ...session, version: session.version + 1, expiresAt };
    return this.ctx.sessions.update(next, session.version).then(
      () => next,
      (err: unknown) => {
        if (err instanceof ConcurrentModificationError) return session;
        throw err;
      },
    );
  }

  /** The session in direct mode, turning a fresh one direct; extends its life either way. */
  private async openDirect(name: string, id: string): Promise<DirectUploadSession> {
    const session = await this.lifecycle.status(name, id);
    const expiresAt = this.lifecycle.expiry();
    if (session.kind === 'direct') return this.keepAlive(session, expiresAt);
    assertFresh(session);
    const key = keys.assembled(session.id, randomUUID().slice(0, 8));
    const multipart = { id: await this.ctx.store.createMultipart(key), key };
    const next: DirectReceivingSession = {
      ...baseOf(session),
      kind: 'direct',
      phase: 'receiving',
      multipart,
      size: 0,
      version: session.version + 1,
      expiresAt,
    };
    try {
      await this.ctx.sessions.update(next, session.version);
      return next;
    } catch (err) {
      await this.ctx.store.abortMultipart(key, multipart.id);
      if (!(err instanceof ConcurrentModificationError)) throw err;
      // A concurrent request turned it direct first: use that one.
      const current = await this.lifecycle.status(name, id);
      if (current.kind === 'direct') return current;
      throw new RangeInvalidError('another request changed this upload first', id, name, current.size);
    }
  }

  /** Completes the multipart upload, then reads the object back and hashes it, within the budget. */
  async finishDirect(name: string, id: string, digest: string): Promise<DirectFinish> {
    const started = this.ctx.clock.now();
    const { algorithm } = parseDigest(digest);
    const session = await this.lifecycle.status(name, id);
    if (session.kind !== 'direct') {
      throw new BlobUploadInvalidError('this upload is not a direct one: finish it with PUT ?digest=');
    }
    if (algorithm !== 'sha256') {
      await this.lifecycle.destroy(session);
      throw new DigestInvalidError(`direct uploads are verified as sha256; ${algorithm} is not supported here`);
    }
    if (session.phase === 'sending') return this.finishSent(session, digest);
    const assembled = session.phase === 'receiving' ? await this.assemble(session) : session;
    // A request that verified every byte but failed before recording the blob left its digest.
    if (assembled.phase === 'verified') return this.record(assembled, digest, assembled.digest);
    const { object } = assembled;
    const { milliseconds, bytes = Number.POSITIVE_INFINITY } = this.ctx.options.verifyBudget;
    // The first request hashes natively (several times faster) in the hope of finishing within its
    // budget; if it cannot, its work is dropped and later requests hash resumably from the start.
    const native = assembled.size === 0 && !assembled.resumableVerify && object.size <= bytes;
    const hash: DigestingHasher = native ? nativeHasher('sha256') : await ResumableSha256.create(assembled.hashState);
    let verified = assembled.size;
    if (verified < object.size) {
      for await (const chunk of this.ctx.store.read(object.key, verified)) {
        hash.update(chunk);
        verified += chunk.length;
        if (verified - assembled.size >= bytes || this.ctx.clock.now() - started >= milliseconds) break;
      }
    }
    if (verified < object.size) {
      const progress = native
        ? { resumableVerify: true }
        : { size: verified, hashState: hash.save(), resumableVerify: assembled.resumableVerify };
      const next: DirectVerifyingSession = {
        ...assembled,
        ...progress,
        version: assembled.version + 1,
        expiresAt: this.lifecycle.expiry(),
      };
      await this.lifecycle.save(next, assembled.version);
      return { done: false, session: next, verified: next.size, total: object.size };
    }
    if (verified !== object.size) {
      const actual = hash.digest();
      await this.lifecycle.destroy(assembled);
      throw mismatch(actual, digest);
    }
    return this.record(assembled, digest, hash.digest());
  }

  /**
   * Finishes a blob sent through one checksummed URL: the blob store checked its bytes against the
   * digest, so what it reports of the object decides. A store that keeps no checksum for it has the
   * object read back and hashed like an assembled one.
   */
  private async finishSent(session: DirectSendingSession, digest: string): Promise<DirectFinish> {
    if (digest !== session.digest) {
      await this.lifecycle.destroy(session);
      throw mismatch(session.digest, digest);
    }
    const { object } = session;
    const stored = await this.ctx.store.checksum(object.key);
    if (!stored) {
      throw new BlobUploadInvalidError(
        'the blob has not been written to its URL (POST ?put=) yet; write it, then finish',
      );
    }
    if (stored.size !== object.size || (stored.sha256 !== undefined && `sha256:${stored.sha256}` !== digest)) {
      await this.lifecycle.destroy(session);
      throw new DigestInvalidError(
        `the stored object has ${stored.size} bytes${stored.sha256 ? ` and digest sha256:${stored.sha256}` : ''}, ` +
          `not the ${object.size} bytes of ${digest} its URL was signed for`,
      );
    }
    if (stored.sha256 !== undefined) return this.record(session, digest, digest);
    await this.startVerifying(session, object);
    return this.finishDirect(session.name, session.id, digest);
  }

  /**
   * Makes the verified object the blob. Saving the session first claims it: a sweep or cancel that
   * read it earlier can no longer delete the object about to become the blob (they delete only an
   * unchanged session).
   * @throws DigestInvalidError when the bytes hashed to `actual`, not `digest`; the object goes then.
   */
  private async record(
    session: DirectSendingSession | DirectVerifyingSession | DirectVerifiedSession,
    digest: string,
    actual: string,
  ): Promise<DirectFinish> {
    if (actual !== digest) {
      await this.lifecycle.destroy(session);
      throw mismatch(actual, digest);
    }
    const { object } = session;
    const claimed: DirectVerifiedSession = {
      ...baseOf(session),
      kind: 'direct',
      phase: 'verified',
      object,
      size: object.size,
      digest: actual,
      version: session.version + 1,
      expiresAt: this.lifecycle.expiry(),
    };
    await this.lifecycle.save(claimed, session.version);
    const record = await this.lifecycle.commit(claimed, digest, () =>
      this.lifecycle.record(digest, object.size, object.key),
    );
    return { done: true, record };
  }

  /** Completes the multipart upload from the parts storage holds, in order and without gaps. */
  private async assemble(session: DirectReceivingSession): Promise<DirectVerifyingSession> {
    const { id, key } = session.multipart;
    const parts = await this.ctx.store.listParts(key, id).catch(async (err: unknown) => {
      if (!(err instanceof BlobUnknownError)) throw err;
      // Completed by a request that ended before it could say so, or aborted: either way the parts
      // are gone (an orphaned object is garbage collection's to remove).
      await this.lifecycle.destroy(session);
      throw new BlobUploadInvalidError('the parts of this upload are gone; push the blob again');
    });
    const gap = parts.findIndex((p, i) => p.partNumber !== i + 1);
    if (parts.length === 0 || gap >= 0) {
      throw new BlobUploadInvalidError(
        parts.length === 0 ? 'no parts were uploaded' : `part ${gap + 1} is missing; parts must be numbered 1, 2, 3, …`,
      );
    }
    await this.ctx.store.completeMultipart(
      key,
      id,
      parts.map(({ partNumber, etag }) => ({ partNumber, etag })),
    );
    return this.startVerifying(session, { key, size: parts.reduce((sum, p) => sum + p.size, 0) });
  }

  /** Saves `session` as one whose `object` is to be read back and hashed from its first byte. */
  private async startVerifying(
    session: DirectReceivingSession | DirectSendingSession,
    object: StoredObject,
  ): Promise<DirectVerifyingSession> {
    const next: DirectVerifyingSession = {
      ...baseOf(session),
      kind: 'direct',
      phase: 'verifying',
      object,
      size: 0,
      hashState: (await ResumableSha256.create()).save(),
      resumableVerify: false,
      version: session.version + 1,
      expiresAt: this.lifecycle.expiry(),
    };
    await this.lifecycle.save(next, session.version);
    return next;
  }
}

/** A session turns direct only while it holds no bytes sent through the registry. */
function assertFresh(session: ChunkedUploadSession): void {
  if (session.size > 0 || session.tail.length > 0 || session.multipart) {
    throw new BlobUploadInvalidError(
      'this upload already holds bytes sent through the registry; direct uploads need a fresh upload',
    );
  }
}
