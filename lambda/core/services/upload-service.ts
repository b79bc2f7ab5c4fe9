import { randomUUID } from 'node:crypto';
import { assertValidName } from '../names';
import type { BlobStore, PresignedPut } from '../ports/blob-store';
import type { Clock } from '../ports/clock';
import type { EventRecorder } from '../ports/events';
import type { BlobIndex, BlobRecord, ChunkedUploadSession, UploadSession, UploadSessionStore } from '../ports/metadata';
import { ResumableSha256 } from '../resumable-hash';
import { ChunkedUploads } from './uploads/chunked';
import { DirectUploads } from './uploads/direct';
import { SessionLifecycle } from './uploads/lifecycle';
import type { ByteSource } from './uploads/part-writer';
import type { ByteRange, DirectFinish, PartUrl, UploadServiceOptions } from './uploads/types';

export { MAX_PART_URLS } from './uploads/types';
export type { ByteRange, DirectFinish, PartUrl, UploadServiceOptions } from './uploads/types';

/**
 * Blob upload sessions (lambda/core/ports/upload-session.ts): monolithic, streamed and chunked
 * uploads through the registry (`uploads/chunked.ts`), and direct ones whose bytes go straight to
 * storage (`uploads/direct.ts`).
 *
 * Bytes are hashed as they arrive and the hash state is saved with the session, so no request
 * re-reads earlier bytes. Chunks smaller than a multipart part are staged as their own objects and
 * folded into a part once together they reach `minPartSize`. A blob becomes visible only after its
 * digest was checked against every byte received.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-blobs
 */
export class UploadService {
  private readonly lifecycle: SessionLifecycle;
  private readonly chunked: ChunkedUploads;
  private readonly direct: DirectUploads;

  constructor(
    store: BlobStore,
    blobs: BlobIndex,
    private readonly sessions: UploadSessionStore,
    private readonly clock: Clock,
    options: UploadServiceOptions,
    /** Where finished uploads are told (`Blob Pushed`, docs/events.md). */
    private readonly events?: EventRecorder,
  ) {
    const ctx = { store, blobs, sessions, clock, options };
    this.lifecycle = new SessionLifecycle(ctx);
    this.chunked = new ChunkedUploads(ctx, this.lifecycle);
    this.direct = new DirectUploads(ctx, this.lifecycle);
  }

  /**
   * Opens a session in repository `name`: a chunked one holding no bytes yet.
   * @throws NameInvalidError for a name outside the grammar.
   */
  async start(name: string): Promise<ChunkedUploadSession> {
    assertValidName(name);
    const now = this.clock.now();
    const session: ChunkedUploadSession = {
      id: randomUUID(),
      name,
      kind: 'chunked',
      size: 0,
      hashing: 'resumable',
      hashState: (await ResumableSha256.create()).save(),
      version: 0,
      tail: [],
      createdAt: now,
      expiresAt: this.lifecycle.expiry(now),
    };
    await this.sessions.create(session);
    return session;
  }

  /**
   * Stores a whole blob sent in one request (`POST ?digest=` or a `PUT` on a fresh session).
   * @throws DigestInvalidError when the bytes do not hash to `digest`.
   */
  putWhole(name: string, digest: string, body: Uint8Array): Promise<BlobRecord> {
    return this.pushed(name, this.chunked.putWhole(name, digest, body));
  }

  /**
   * Stores a whole blob streamed in the request that also names its digest (`PUT ?digest=` on a
   * fresh session, `POST ?digest=`), as containerd, oras and regctl send layers. No later request will
   * go on hashing, so the bytes are hashed natively (several times faster than the resumable hash)
   * and no hash state is kept. With `size`, the length the request declared, a sha256 blob of at most
   * `MAX_STREAMED_PUT_SIZE` is written in one request straight under its digest, where the blob store
   * keeps only bytes that hash to it (`uploads/monolithic.ts`); other bodies go in multipart parts.
   * @throws DigestInvalidError when the bytes do not hash to `digest`; nothing is kept then.
   * @throws BlobUploadInvalidError for a direct session, or a body that is not `size` bytes.
   */
  putStreamed(name: string, id: string, digest: string, body: ByteSource, size?: number): Promise<BlobRecord> {
    return this.pushed(name, this.chunked.putStreamed(name, id, digest, body, size));
  }

  /**
   * Stores a blob a pull-through cache fetched from its upstream, as `putStreamed` stores an upload
   * on a fresh session (verified against `digest`, recorded, linked into `name`), told as no push.
   */
  async fill(name: string, digest: string, body: AsyncIterable<Uint8Array>, size?: number): Promise<BlobRecord> {
    const session = await this.start(name);
    return this.chunked.putStreamed(name, session.id, digest, body, size);
  }

  /** `Blob Pushed` once an upload stored its blob. */
  private async pushed(name: string, stored: Promise<BlobRecord>): Promise<BlobRecord> {
    const record = await stored;
    this.events?.record('Blob Pushed', { repository: name, digest: record.digest, size: record.size });
    return record;
  }

  /**
   * The open session `id` of repository `name`.
   * @throws BlobUploadUnknownError when there is none, it belongs to another repository, or it expired.
   */
  status(name: string, id: string): Promise<UploadSession> {
    return this.lifecycle.status(name, id);
  }

  /**
   * Appends a chunk, whole or streamed. With `range`, the chunk must start exactly where the session
   * ends and be exactly as long as the range says; nothing is committed otherwise.
   * @throws RangeInvalidError when it does not start there, or when a concurrent request changed the
   * session first. @throws BlobUploadInvalidError when the range disagrees with the body's length, or
   * for a direct session.
   * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-a-blob-in-chunks
   */
  append(name: string, id: string, body: ByteSource, range?: ByteRange): Promise<ChunkedUploadSession> {
    return this.chunked.append(name, id, body, range);
  }

  /**
   * Finishes the session with an optional last chunk and verifies the digest over every byte.
   * On a mismatch the session and all its bytes are discarded.
   * @throws DigestInvalidError on a mismatch or an unsupported algorithm.
   * @throws BlobUploadInvalidError for a direct session.
   */
  complete(name: string, id: string, digest: string, body?: Uint8Array): Promise<BlobRecord> {
    return this.pushed(name, this.chunked.complete(name, id, digest, body));
  }

  /**
   * Direct mode, the push helper's protocol: presigned URLs for parts `first` to `last` of the
   * session's multipart upload, through which the client writes its bytes straight to storage. The
   * first call turns a fresh session direct (a session that holds bytes sent through the registry
   * cannot turn direct, and a direct one takes no bytes through the registry); each call keeps the
   * session alive. The bytes count for nothing until `finishDirect` has read them back and verified
   * them, so a URL can do no more harm than spoil its own upload.
   * @throws BlobUploadInvalidError for part numbers outside 1 to `maxParts`, more than
   * `MAX_PART_URLS` of them, a session holding bytes sent through the registry, or one being finished.
   */
  partUrls(name: string, id: string, first: number, last: number): Promise<PartUrl[]> {
    return this.direct.partUrls(name, id, first, last);
  }

  /**
   * Direct mode for a whole blob whose size and digest the client knows: one presigned URL that
   * writes exactly `size` bytes, which the blob store checks against `digest` before it keeps
   * anything, so `finishDirect` needs to read nothing back. Turns a fresh session direct; asking again
   * with the same size and digest gives a fresh URL for the same object.
   * @throws DigestInvalidError for a digest other than sha256.
   * @throws SizeInvalidError for more than `MAX_STREAMED_PUT_SIZE` bytes (send parts then).
   * @throws BlobUploadInvalidError for a session holding bytes, or direct in another way.
   */
  singlePut(name: string, id: string, size: number, digest: string): Promise<PresignedPut> {
    return this.direct.singlePut(name, id, size, digest);
  }

  /**
   * Finishes a direct session. One sent through `singlePut` is the blob once storage reports the
   * object with the size and SHA-256 its URL was signed for. Otherwise: completes its multipart
   * upload from the parts storage holds, then reads the assembled object back and hashes it, at most
   * `verifyBudget` per request, saving the hash state in between. Only when every byte hashed to `digest` does the object become the blob; until
   * then nothing refers to it, and a mismatch deletes it.
   * @throws DigestInvalidError on a mismatch, or for a digest other than sha256.
   * @throws BlobUploadInvalidError when parts are missing or too small, or the session is not direct.
   */
  async finishDirect(name: string, id: string, digest: string): Promise<DirectFinish> {
    const result = await this.direct.finishDirect(name, id, digest);
    if (result.done) await this.pushed(name, Promise.resolve(result.record));
    return result;
  }

  /**
   * Cancels a session and frees its bytes.
   * @throws BlobUploadUnknownError when there is no such open session.
   */
  async cancel(name: string, id: string): Promise<void> {
    await this.lifecycle.destroy(await this.lifecycle.status(name, id));
  }
}
