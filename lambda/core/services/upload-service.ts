import { createHash, randomUUID } from 'node:crypto';
import { concatBytes, digestOf } from '../bytes';
import { parseDigest } from '../digest';
import {
  BlobUnknownError,
  BlobUploadInvalidError,
  BlobUploadUnknownError,
  ConcurrentModificationError,
  DigestInvalidError,
  RangeInvalidError,
} from '../errors';
import { keys } from '../keys';
import { assertValidName } from '../names';
import type { BlobStore } from '../ports/blob-store';
import type { Clock } from '../ports/clock';
import type { BlobIndex, BlobRecord, UploadSession, UploadSessionStore } from '../ports/metadata';
import { ResumableSha256 } from '../resumable-hash';
import { ingest, type ByteSource, type Ingested, type PartWriterOptions, type StreamHasher } from './part-writer';

export interface UploadServiceOptions extends PartWriterOptions {
  /** How long an idle upload session lives, in seconds. */
  readonly sessionTtlSeconds: number;
  /** Largest chunked upload verified by reading it back (digests other than sha256). */
  readonly maxRereadSize: number;
  /** How long a presigned part URL of a direct session stays valid, in seconds. */
  readonly partUrlTtlSeconds: number;
  /**
   * How much verifying a direct session's bytes may do in one request, so a request always ends
   * well within the API's timeout; the client repeats the request until verification is done.
   */
  readonly verifyBudget: { readonly milliseconds: number; readonly bytes?: number };
}

/** Most part URLs handed out in one request. */
export const MAX_PART_URLS = 100;

/** Where a direct session's client writes part `partNumber`. */
export interface PartUrl {
  readonly partNumber: number;
  readonly url: string;
}

/** What finishing a direct session came to: the blob, or how far verification got so far. */
export type DirectFinish =
  | { readonly done: true; readonly record: BlobRecord }
  | { readonly done: false; readonly session: UploadSession; readonly verified: number; readonly total: number };

/** An inclusive byte range from a `Content-Range` header. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Blob upload sessions: monolithic, streamed and chunked uploads.
 *
 * Bytes are hashed as they arrive and the hash state is saved with the session, so no request
 * re-reads earlier bytes. Chunks smaller than a multipart part are staged as their own objects and
 * folded into a part once together they reach `minPartSize`. A blob becomes visible only after its
 * digest was checked against every byte received.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-blobs
 */
export class UploadService {
  constructor(
    private readonly store: BlobStore,
    private readonly blobs: BlobIndex,
    private readonly sessions: UploadSessionStore,
    private readonly clock: Clock,
    private readonly options: UploadServiceOptions,
  ) {}

  /** Opens a session in repository `name`. */
  async start(name: string): Promise<UploadSession> {
    assertValidName(name);
    const now = this.clock.now();
    const session: UploadSession = {
      id: randomUUID(),
      name,
      size: 0,
      hashState: (await ResumableSha256.create()).save(),
      version: 0,
      parts: [],
      tail: [],
      createdAt: now,
      expiresAt: this.expiry(now),
    };
    await this.sessions.create(session);
    return session;
  }

  /**
   * Stores a whole blob sent in one request (`POST ?digest=` or a `PUT` on a fresh session).
   * @throws DigestInvalidError when the bytes do not hash to `digest`.
   */
  async putWhole(name: string, digest: string, body: Uint8Array): Promise<BlobRecord> {
    assertValidName(name);
    const { algorithm } = parseDigest(digest);
    const actual = digestOf(body, algorithm);
    if (actual !== digest) throw mismatch(actual, digest);
    let record = await this.blobs.getBlob(digest);
    if (!record) {
      const key = keys.blob(digest, randomUUID().slice(0, 8));
      await this.store.put(key, body, algorithm === 'sha256' ? actual.slice(7) : undefined);
      record = await this.record(digest, body.length, key);
    }
    await this.blobs.putLink(name, record);
    return record;
  }

  /**
   * Stores a whole blob streamed in the request that also names its digest (`PUT ?digest=` on a
   * fresh session, `POST ?digest=`), as containerd, oras and regctl send layers. No later request will
   * go on hashing, so the bytes are hashed natively (several times faster than the resumable hash)
   * and no hash state is kept.
   * @throws DigestInvalidError when the bytes do not hash to `digest`; nothing is kept then.
   */
  async putStreamed(name: string, id: string, digest: string, body: ByteSource): Promise<BlobRecord> {
    const session = notDirect(await this.status(name, id));
    const { algorithm } = parseDigest(digest);
    if (session.size > 0) {
      await this.append(name, id, body);
      return this.complete(name, id, digest);
    }
    const hash = nativeHasher(algorithm);
    const ingested = await ingest(this.store, session, body, this.options, hash);
    const actual = hash.digest();
    const next = ingested.next;
    if (actual !== digest) {
      await this.destroy(next);
      throw mismatch(actual, digest);
    }
    return this.commit(next, digest, () => this.assemble(next, digest, new Uint8Array(0)));
  }

  /**
   * The open session `id` of repository `name`.
   * @throws BlobUploadUnknownError when there is none, it belongs to another repository, or it expired.
   */
  async status(name: string, id: string): Promise<UploadSession> {
    if (!UPLOAD_ID.test(id)) throw new BlobUploadUnknownError(`upload ${id} is unknown`);
    const session = await this.sessions.get(id);
    if (!session || session.name !== name || session.expiresAt * 1000 <= this.clock.now()) {
      throw new BlobUploadUnknownError(`upload ${id} is unknown or has expired`);
    }
    return session;
  }

  /**
   * Appends a chunk, whole or streamed. With `range`, the chunk must start exactly where the session
   * ends and be exactly as long as the range says; nothing is committed otherwise.
   * @throws RangeInvalidError when it does not start there, or when a concurrent request changed the
   * session first. @throws BlobUploadInvalidError when the range disagrees with the body's length.
   */
  async append(name: string, id: string, body: ByteSource, range?: ByteRange): Promise<UploadSession> {
    let session = notDirect(await this.status(name, id));
    if (range && range.start !== session.size) {
      throw new RangeInvalidError(
        `chunk starts at byte ${range.start} but the upload has ${session.size} bytes`,
        id,
        name,
        session.size,
      );
    }
    const source = body instanceof Uint8Array ? body : await nonEmpty(body);
    if (source === undefined || (source instanceof Uint8Array && source.length === 0)) {
      if (range) throw new BlobUploadInvalidError(`Content-Range ${range.start}-${range.end} came with an empty body`);
      return session;
    }
    body = source;
    if (session.nativeDigest) session = await this.resume(session);
    // A streamed first body without Content-Range is how docker, podman, skopeo and crane send a
    // whole layer; they finish with an empty PUT, so no resumable state is needed yet.
    const native = session.size === 0 && !range && !(body instanceof Uint8Array) ? nativeHasher('sha256') : undefined;
    const ingested = await ingest(this.store, session, body, this.options, native);
    const next: UploadSession = {
      ...ingested.next,
      nativeDigest: native?.digest(),
      expiresAt: this.expiry(this.clock.now()),
    };
    if (range && range.end - range.start + 1 !== ingested.received) {
      await this.abandon(ingested);
      throw new BlobUploadInvalidError(
        `Content-Range ${range.start}-${range.end} covers ${range.end - range.start + 1} bytes but the body has ${ingested.received}`,
      );
    }
    if (ingested.received === 0) return session;
    await this.save(next, session.version, ingested);
    await this.store.delete(ingested.replaced);
    return next;
  }

  /** Commits a session change conditionally; a lost race undoes `ingested` and is a 416. */
  private async save(next: UploadSession, expectedVersion: number, ingested?: Ingested): Promise<void> {
    try {
      await this.sessions.update(next, expectedVersion);
    } catch (err) {
      if (!(err instanceof ConcurrentModificationError)) throw err;
      if (ingested) await this.abandon(ingested);
      const current = await this.status(next.name, next.id);
      throw new RangeInvalidError('another request changed this upload first', next.id, next.name, current.size);
    }
  }

  /**
   * Rebuilds the resumable hash state of a session whose first body was hashed natively, from the
   * bytes stored: the multipart upload is completed, read back and hashed, and becomes part 1 of a new
   * one (a server-side copy). Bounded like other read-backs; clients that continue after a streamed
   * body are rare (stock clients finish with an empty PUT).
   */
  private async resume(session: UploadSession): Promise<UploadSession> {
    const tailSize = session.tail.reduce((sum, t) => sum + t.size, 0);
    if (session.size - tailSize > this.options.maxRereadSize) {
      throw new BlobUploadInvalidError(
        `this upload cannot take more bytes after a streamed body over ${this.options.maxRereadSize} bytes; finish it with PUT ?digest= or start a new upload`,
      );
    }
    const hash = await ResumableSha256.create();
    let multipart: UploadSession['multipart'];
    let parts: UploadSession['parts'] = [];
    const old = session.multipart;
    if (old) {
      await this.store.completeMultipart(
        old.key,
        old.id,
        session.parts.map(({ partNumber, etag }) => ({ partNumber, etag })),
      );
      const bytes = await this.store.get(old.key);
      hash.update(bytes);
      const key = keys.assembled(session.id, randomUUID().slice(0, 8));
      multipart = { id: await this.store.createMultipart(key), key };
      parts = [
        { partNumber: 1, etag: await this.store.uploadPartCopy(key, multipart.id, 1, old.key), size: bytes.length },
      ];
    }
    for (const t of session.tail) hash.update(await this.store.get(t.key));
    if (hash.digest() !== session.nativeDigest) {
      await this.destroy({ ...session, multipart });
      if (old) await this.store.delete([old.key]);
      throw new BlobUploadInvalidError(
        'stored bytes of this upload do not match what was received; start a new upload',
      );
    }
    const resumed: UploadSession = {
      ...session,
      hashState: hash.save(),
      nativeDigest: undefined,
      multipart,
      parts,
      version: session.version + 1,
    };
    await this.save(resumed, session.version);
    if (old) await this.store.delete([old.key]);
    return resumed;
  }

  /** Undoes what an uncommitted request wrote (parts beyond the committed ones are simply never listed). */
  private async abandon(ingested: Ingested): Promise<void> {
    await this.discard(ingested.created, ingested.startedMultipart ? ingested.next.multipart : undefined);
  }

  /**
   * Finishes the session with an optional last chunk and verifies the digest over every byte.
   * On a mismatch the session and all its bytes are discarded.
   * @throws DigestInvalidError on a mismatch or an unsupported algorithm.
   */
  async complete(name: string, id: string, digest: string, body?: Uint8Array): Promise<BlobRecord> {
    let session = notDirect(await this.status(name, id));
    const { algorithm } = parseDigest(digest);
    if (session.size === 0) {
      const record = await this.putWhole(name, digest, body ?? new Uint8Array(0));
      await this.sessions.delete(id);
      return record;
    }
    const last = body ?? new Uint8Array(0);
    if (algorithm !== 'sha256') return this.completeByReread(session, digest, last);
    let actual: string;
    if (session.nativeDigest && last.length === 0) {
      actual = session.nativeDigest;
    } else {
      if (session.nativeDigest) session = await this.resume(session);
      actual = (await ResumableSha256.create(session.hashState)).update(last).digest();
    }
    if (actual !== digest) {
      await this.destroy(session);
      throw mismatch(actual, digest);
    }
    return this.commit(session, digest, () => this.assemble(session, digest, last));
  }

  /**
   * Direct mode, the push helper's protocol: presigned URLs for parts `first` to `last` of the
   * session's multipart upload, through which the client writes its bytes straight to storage. The
   * first call turns a fresh session direct (a session that holds bytes sent through the registry
   * cannot turn direct, and a direct one takes no bytes through the registry); each call keeps the
   * session alive. The bytes count for nothing until `finishDirect` has read them back and verified
   * them, so a URL can do no more harm than spoil its own upload.
   */
  async partUrls(name: string, id: string, first: number, last: number): Promise<PartUrl[]> {
    const { maxParts } = this.options;
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
    const multipart = session.multipart;
    if (!multipart) throw new BlobUploadInvalidError('this upload is being finished: its parts can no longer change');
    return Promise.all(
      Array.from({ length: last - first + 1 }, async (_, i) => ({
        partNumber: first + i,
        url: await this.store.presignUploadPart(multipart.key, multipart.id, first + i, this.options.partUrlTtlSeconds),
      })),
    );
  }

  /** The session in direct mode, turning a fresh one direct; extends its life either way. */
  private async openDirect(name: string, id: string): Promise<UploadSession> {
    const session = await this.status(name, id);
    const expiresAt = this.expiry(this.clock.now());
    if (session.direct) {
      const next = { ...session, version: session.version + 1, expiresAt };
      // Another request extending it at the same moment does as well.
      return this.sessions.update(next, session.version).then(
        () => next,
        (err: unknown) => {
          if (err instanceof ConcurrentModificationError) return session;
          throw err;
        },
      );
    }
    if (session.size > 0 || session.tail.length > 0 || session.multipart) {
      throw new BlobUploadInvalidError(
        'this upload already holds bytes sent through the registry; direct part uploads need a fresh upload',
      );
    }
    const key = keys.assembled(session.id, randomUUID().slice(0, 8));
    const multipart = { id: await this.store.createMultipart(key), key };
    const next: UploadSession = { ...session, direct: true, multipart, version: session.version + 1, expiresAt };
    try {
      await this.sessions.update(next, session.version);
      return next;
    } catch (err) {
      await this.store.abortMultipart(key, multipart.id);
      if (!(err instanceof ConcurrentModificationError)) throw err;
      // A concurrent request turned it direct first: use that one.
      const current = await this.status(name, id);
      if (current.direct) return current;
      throw new RangeInvalidError('another request changed this upload first', id, name, current.size);
    }
  }

  /**
   * Finishes a direct session: completes its multipart upload from the parts storage holds, then
   * reads the assembled object back and hashes it, at most `verifyBudget` per request, saving the hash
   * state in between. Only when every byte hashed to `digest` does the object become the blob; until
   * then nothing refers to it, and a mismatch deletes it.
   * @throws DigestInvalidError on a mismatch, or for a digest other than sha256.
   * @throws BlobUploadInvalidError when parts are missing or too small.
   */
  async finishDirect(name: string, id: string, digest: string): Promise<DirectFinish> {
    const started = this.clock.now();
    const { algorithm } = parseDigest(digest);
    let session = await this.status(name, id);
    if (!session.direct) {
      throw new BlobUploadInvalidError('this upload is not a direct one: finish it with PUT ?digest=');
    }
    if (algorithm !== 'sha256') {
      await this.destroy(session);
      throw new DigestInvalidError(`direct uploads are verified as sha256; ${algorithm} is not supported here`);
    }
    if (session.multipart) session = await this.assembleDirect(session);
    const [object] = session.tail;
    if (!object || session.tail.length !== 1) throw new Error(`direct upload ${id} has no assembled object`);
    const { milliseconds, bytes = Number.POSITIVE_INFINITY } = this.options.verifyBudget;
    // The first request hashes natively (several times faster) in the hope of finishing within its
    // budget; if it cannot, its work is dropped and later requests hash resumably from the start.
    const native = session.size === 0 && !session.resumableVerify && object.size <= bytes;
    const hash: StreamHasher & { digest(): string } = native
      ? nativeHasher('sha256')
      : await ResumableSha256.create(session.hashState);
    let verified = session.size;
    if (verified < object.size) {
      for await (const chunk of this.store.read(object.key, verified)) {
        hash.update(chunk);
        verified += chunk.length;
        if (verified - session.size >= bytes || this.clock.now() - started >= milliseconds) break;
      }
    }
    const checked: UploadSession = {
      ...session,
      size: verified,
      hashState: hash.save(),
      version: session.version + 1,
      expiresAt: this.expiry(this.clock.now()),
    };
    if (verified < object.size) {
      const next = native ? { ...checked, size: 0, hashState: session.hashState, resumableVerify: true } : checked;
      await this.save(next, session.version);
      return { done: false, session: next, verified: next.size, total: object.size };
    }
    // A request that verified every byte but failed before recording the blob left its digest.
    const actual = session.size === object.size && session.nativeDigest ? session.nativeDigest : hash.digest();
    if (verified !== object.size || actual !== digest) {
      await this.destroy(session);
      throw mismatch(actual, digest);
    }
    // Saving first claims the session: a sweep or cancel that read it earlier can no longer delete
    // the object about to become the blob (they delete only an unchanged session).
    const verifiedSession: UploadSession = { ...checked, nativeDigest: actual };
    await this.save(verifiedSession, session.version);
    const record = await this.commit(verifiedSession, digest, () => this.record(digest, object.size, object.key));
    return { done: true, record };
  }

  /** Completes a direct session's multipart upload from the parts storage holds, in order and without gaps. */
  private async assembleDirect(session: UploadSession): Promise<UploadSession> {
    const { id, key } = session.multipart as NonNullable<UploadSession['multipart']>;
    const parts = await this.store.listParts(key, id).catch(async (err: unknown) => {
      if (!(err instanceof BlobUnknownError)) throw err;
      // Completed by a request that ended before it could say so, or aborted: either way the parts
      // are gone (an orphaned object is garbage collection's to remove).
      await this.destroy(session);
      throw new BlobUploadInvalidError('the parts of this upload are gone; push the blob again');
    });
    const gap = parts.findIndex((p, i) => p.partNumber !== i + 1);
    if (parts.length === 0 || gap >= 0) {
      throw new BlobUploadInvalidError(
        parts.length === 0 ? 'no parts were uploaded' : `part ${gap + 1} is missing; parts must be numbered 1, 2, 3, …`,
      );
    }
    await this.store.completeMultipart(
      key,
      id,
      parts.map(({ partNumber, etag }) => ({ partNumber, etag })),
    );
    const next: UploadSession = {
      ...session,
      multipart: undefined,
      tail: [{ key, size: parts.reduce((sum, p) => sum + p.size, 0) }],
      version: session.version + 1,
      expiresAt: this.expiry(this.clock.now()),
    };
    await this.save(next, session.version);
    return next;
  }

  /** Cancels a session and frees its bytes. */
  async cancel(name: string, id: string): Promise<void> {
    await this.destroy(await this.status(name, id));
  }

  /**
   * Links the blob (stored once per digest) into the session's repository and closes the session.
   * `store` writes the verified bytes when no object exists for the digest yet.
   */
  private async commit(session: UploadSession, digest: string, store: () => Promise<BlobRecord>): Promise<BlobRecord> {
    let record = await this.blobs.getBlob(digest);
    if (record) {
      // A direct session's object may be the blob already (a retry after a link that failed): keep it.
      const { key } = record;
      await this.discard(
        session.tail.map((t) => t.key).filter((k) => k !== key),
        session.multipart,
      );
    } else {
      record = await store();
    }
    await this.blobs.putLink(session.name, record);
    await this.sessions.delete(session.id);
    return record;
  }

  /**
   * Finishes a chunked upload whose digest uses another algorithm than the sha256 hashed on the way
   * in: the bytes are assembled under the session's own key (no digest in it), read back and hashed,
   * and recorded only if they match. Bounded, because it re-reads what was already received.
   */
  private async completeByReread(session: UploadSession, digest: string, last: Uint8Array): Promise<BlobRecord> {
    const { algorithm } = parseDigest(digest);
    const size = session.size + last.length;
    if (size > this.options.maxRereadSize) {
      await this.destroy(session);
      throw new DigestInvalidError(
        `chunked ${algorithm} uploads are limited to ${this.options.maxRereadSize} bytes; push this blob in one request or with a sha256 digest`,
      );
    }
    const key = session.multipart?.key ?? keys.assembled(session.id, randomUUID().slice(0, 8));
    await this.assembleAt(session, key, last);
    const actual = digestOf(await this.store.get(key), algorithm);
    if (actual !== digest) {
      await this.store.delete([key]);
      await this.sessions.delete(session.id);
      throw mismatch(actual, digest);
    }
    return this.commit(session, digest, () => this.record(digest, size, key));
  }

  private expiry(nowMs: number): number {
    return Math.floor(nowMs / 1000) + this.options.sessionTtlSeconds;
  }

  /** Turns a verified session plus its last chunk into the blob's one stored object and records it. */
  private async assemble(session: UploadSession, digest: string, last: Uint8Array): Promise<BlobRecord> {
    const key = session.multipart?.key ?? keys.blob(digest, randomUUID().slice(0, 8));
    await this.assembleAt(session, key, last, digest.startsWith('sha256:') ? digest : undefined);
    return this.record(digest, session.size + last.length, key);
  }

  /**
   * Writes the session's bytes plus `last` as one object at `key`: completing the multipart upload,
   * or in one PUT when the whole blob is smaller than a part. The last chunk goes straight into the
   * final part or object, never through staging. `sha256` lets S3 check a single PUT once more.
   */
  private async assembleAt(
    session: UploadSession,
    key: string,
    last: Uint8Array,
    sha256Digest?: string,
  ): Promise<void> {
    const remainder = async () =>
      concatBytes([...(await Promise.all(session.tail.map((t) => this.store.get(t.key)))), last]);
    if (session.multipart) {
      const { id } = session.multipart;
      const parts = session.parts.map(({ partNumber, etag }) => ({ partNumber, etag }));
      const partNumber = parts.length + 1;
      if (session.tail.length === 1 && last.length === 0) {
        const etag = await this.store.uploadPartCopy(key, id, partNumber, session.tail[0]!.key);
        parts.push({ partNumber, etag });
      } else if (session.tail.length > 0 || last.length > 0) {
        const etag = await this.store.uploadPart(key, id, partNumber, await remainder());
        parts.push({ partNumber, etag });
      }
      await this.store.completeMultipart(key, id, parts);
    } else {
      await this.store.put(key, await remainder(), sha256Digest?.slice(7));
    }
    await this.store.delete(session.tail.map((t) => t.key));
  }

  /** Records a stored object as the blob of `digest`, unless another object won that digest first. */
  private async record(digest: string, size: number, key: string): Promise<BlobRecord> {
    const record = await this.blobs.putBlobIfAbsent({ digest, size, key });
    // The loser of a race to store the same digest drops its copy: an assembled one at once (uploads
    // may delete there); one written under the digest is left to garbage collection, because no
    // upload may delete under `blobs/<algorithm>/`, where every stored blob lives.
    if (record.key !== key && key.startsWith(keys.assembledPrefix)) await this.store.delete([key]);
    return record;
  }

  private async discardStaging(session: UploadSession): Promise<void> {
    await this.discard(
      session.tail.map((t) => t.key),
      session.multipart,
    );
  }

  private async discard(stagedKeys: string[], multipart: UploadSession['multipart']): Promise<void> {
    if (multipart) await this.store.abortMultipart(multipart.key, multipart.id);
    await this.store.delete(stagedKeys);
  }

  private async destroy(session: UploadSession): Promise<void> {
    if (session.direct) {
      // A direct session's assembled object becomes the blob once verified: free it only if nothing
      // changed the session since it was read (a request finishing it saves it first).
      const gone = await this.sessions.deleteIfUnchanged(session.id, session.version);
      if (gone) await this.discardStaging(gone);
      return;
    }
    await this.discardStaging(session);
    await this.sessions.delete(session.id);
  }
}

/**
 * The stream again, or undefined when it turns out to carry no bytes (a finishing request with an
 * empty body must not cost anything, whatever state the session is in).
 */
async function nonEmpty(source: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array> | undefined> {
  const iterator = source[Symbol.asyncIterator]();
  let first = await iterator.next();
  while (!first.done && first.value.length === 0) first = await iterator.next();
  if (first.done) return undefined;
  const head = first.value;
  return (async function* () {
    yield head;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  })();
}

/**
 * node:crypto's hash behind the stream-hasher interface: several times faster than the resumable
 * one, for a request that hashes all of a session's bytes at once; its state cannot be saved.
 */
function nativeHasher(algorithm: string): StreamHasher & { digest(): string } {
  const hash = createHash(algorithm);
  return {
    update: (bytes) => hash.update(bytes),
    save: () => new Uint8Array(0),
    digest: () => `${algorithm}:${hash.digest('hex')}`,
  };
}

/** Refuses bytes or a standard finish for a direct session, whose bytes go straight to storage. */
function notDirect(session: UploadSession): UploadSession {
  if (session.direct) {
    throw new BlobUploadInvalidError(
      'this upload takes its bytes through presigned part URLs (the push helper protocol); finish it with POST ?digest=',
    );
  }
  return session;
}

function mismatch(actual: string, expected: string): DigestInvalidError {
  return new DigestInvalidError(`uploaded content has digest ${actual}, not ${expected}`, { expected, actual });
}
