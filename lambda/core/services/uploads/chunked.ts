import { randomUUID } from 'node:crypto';
import { digestOf } from '../../bytes';
import { parseDigest } from '../../digest';
import { BlobUploadInvalidError, RangeInvalidError } from '../../errors';
import { keys } from '../../keys';
import { assertValidName } from '../../names';
import type { BlobRecord, ChunkedUploadSession, UploadSession } from '../../ports/metadata';
import { ResumableSha256 } from '../../resumable-hash';
import { MAX_STREAMED_PUT_SIZE } from '../../ports/blob-store';
import { ChunkedAssembly } from './assembly';
import { mismatch, nativeHasher } from './hashing';
import type { SessionLifecycle } from './lifecycle';
import { MonolithicUploads } from './monolithic';
import { ingest, type ByteSource, type Ingested } from './part-writer';
import type { ByteRange, UploadContext } from './types';

/**
 * Sessions whose bytes come through the registry: monolithic, streamed and chunked uploads. Bytes
 * are hashed as they arrive and the hash state is saved with the session, so no request re-reads
 * earlier bytes; a blob becomes visible only after its digest was checked against every byte.
 */
export class ChunkedUploads {
  private readonly assembly: ChunkedAssembly;
  private readonly monolithic: MonolithicUploads;

  constructor(
    private readonly ctx: UploadContext,
    private readonly lifecycle: SessionLifecycle,
  ) {
    this.assembly = new ChunkedAssembly(ctx, lifecycle);
    this.monolithic = new MonolithicUploads(ctx, lifecycle);
  }

  /** A whole blob in one request, stored under its digest unless stored already. */
  async putWhole(name: string, digest: string, body: Uint8Array): Promise<BlobRecord> {
    assertValidName(name);
    const { algorithm } = parseDigest(digest);
    const actual = digestOf(body, algorithm);
    if (actual !== digest) throw mismatch(actual, digest);
    let record = await this.ctx.blobs.getBlob(digest);
    if (!record) {
      const key = keys.blob(digest, randomUUID().slice(0, 8));
      await this.ctx.store.put(key, body, algorithm === 'sha256' ? actual.slice(7) : undefined);
      record = await this.lifecycle.record(digest, body.length, key);
    }
    await this.ctx.blobs.putLink(name, record);
    return record;
  }

  /**
   * A whole blob streamed in the request that names its digest, hashed natively. With its length
   * declared, a sha256 blob no larger than one object write goes there in one request; otherwise
   * (a chunked body, another algorithm, a larger blob) in multipart parts.
   */
  async putStreamed(name: string, id: string, digest: string, body: ByteSource, size?: number): Promise<BlobRecord> {
    const session = chunked(await this.lifecycle.status(name, id));
    const { algorithm } = parseDigest(digest);
    if (session.size > 0 || session.hashing === 'native') {
      await this.append(name, id, body);
      return this.complete(name, id, digest);
    }
    if (size !== undefined && algorithm === 'sha256' && size <= MAX_STREAMED_PUT_SIZE) {
      return this.monolithic.put(session, digest, body instanceof Uint8Array ? once(body) : body, size);
    }
    const hash = nativeHasher(algorithm);
    const ingested = await ingest(this.ctx.store, session, body, this.ctx.options, hash);
    const actual = hash.digest();
    const next = ingested.next;
    if (actual !== digest) {
      await this.lifecycle.destroy(next);
      throw mismatch(actual, digest);
    }
    // This request wrote every part, so they need not be listed from the blob store.
    return this.lifecycle.commit(next, digest, () =>
      this.assembly.assemble(next, digest, new Uint8Array(0), ingested.written),
    );
  }

  /** Appends a chunk, whole or streamed, starting exactly at `range.start` when a range is given. */
  async append(name: string, id: string, body: ByteSource, range?: ByteRange): Promise<ChunkedUploadSession> {
    const current = chunked(await this.lifecycle.status(name, id));
    if (range && range.start !== current.size) {
      throw new RangeInvalidError(
        `chunk starts at byte ${range.start} but the upload has ${current.size} bytes`,
        id,
        name,
        current.size,
      );
    }
    const source = body instanceof Uint8Array ? body : await nonEmpty(body);
    if (source === undefined || (source instanceof Uint8Array && source.length === 0)) {
      if (range) throw new BlobUploadInvalidError(`Content-Range ${range.start}-${range.end} came with an empty body`);
      return current;
    }
    const session = current.hashing === 'native' ? await this.assembly.resume(current) : current;
    // A streamed first body without Content-Range is how docker, podman, skopeo and crane send a
    // whole layer; they finish with an empty PUT, so no resumable state is needed yet.
    const native = session.size === 0 && !range && !(source instanceof Uint8Array) ? nativeHasher('sha256') : undefined;
    const ingested = await ingest(this.ctx.store, session, source, this.ctx.options, native);
    const expiresAt = this.lifecycle.expiry();
    const next: ChunkedUploadSession = native
      ? { ...ingested.next, hashing: 'native', nativeDigest: native.digest(), expiresAt }
      : { ...ingested.next, nativeDigest: undefined, expiresAt };
    if (range && range.end - range.start + 1 !== ingested.received) {
      await abandon(this.lifecycle, ingested);
      throw new BlobUploadInvalidError(
        `Content-Range ${range.start}-${range.end} covers ${range.end - range.start + 1} bytes but the body has ${ingested.received}`,
      );
    }
    if (ingested.received === 0) return session;
    await this.lifecycle.save(next, session.version, () => abandon(this.lifecycle, ingested));
    await this.ctx.store.delete(ingested.replaced);
    return next;
  }

  /** Finishes the session with an optional last chunk and verifies the digest over every byte. */
  async complete(name: string, id: string, digest: string, body?: Uint8Array): Promise<BlobRecord> {
    const session = chunked(await this.lifecycle.status(name, id));
    const { algorithm } = parseDigest(digest);
    if (session.size === 0) {
      const record = await this.putWhole(name, digest, body ?? new Uint8Array(0));
      await this.ctx.sessions.delete(id);
      return record;
    }
    const last = body ?? new Uint8Array(0);
    if (algorithm !== 'sha256') return this.assembly.completeByReread(session, digest, last);
    let verified: ChunkedUploadSession = session;
    let actual: string;
    if (session.hashing === 'native' && last.length === 0) {
      actual = session.nativeDigest;
    } else {
      const resumable = session.hashing === 'native' ? await this.assembly.resume(session) : session;
      verified = resumable;
      actual = (await ResumableSha256.create(resumable.hashState)).update(last).digest();
    }
    if (actual !== digest) {
      await this.lifecycle.destroy(verified);
      throw mismatch(actual, digest);
    }
    return this.lifecycle.commit(verified, digest, () => this.assembly.assemble(verified, digest, last));
  }
}

/** The session as one that takes bytes through the registry. */
function chunked(session: UploadSession): ChunkedUploadSession {
  if (session.kind === 'direct') {
    throw new BlobUploadInvalidError(
      'this upload takes its bytes through presigned part URLs (the push helper protocol); finish it with POST ?digest=',
    );
  }
  return session;
}

/** Undoes what an uncommitted request wrote (parts beyond the committed ones are simply never listed). */
async function abandon(lifecycle: SessionLifecycle, ingested: Ingested): Promise<void> {
  await lifecycle.discard(ingested.created, ingested.startedMultipart ? ingested.next.multipart : undefined);
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

/** Bytes held whole, as a stream of one chunk. */
async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}
