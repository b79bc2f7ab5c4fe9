import { randomUUID } from 'node:crypto';
import { SizeInvalidError } from '../../errors';
import { keys } from '../../keys';
import { extendLedger, NO_PARTS } from '../../part-ledger';
import type { BlobStore } from '../../ports/blob-store';
import type { MultipartUpload, RecordedPart, ResumablyHashedSession } from '../../ports/metadata';
import { ResumableSha256 } from '../../resumable-hash';

/**
 * What hashes the bytes on the way: by default the session's resumable SHA-256; a request that
 * finishes its session may use a faster hash whose state is never saved.
 */
export interface StreamHasher {
  update(bytes: Uint8Array): unknown;
  /** The state to save with the session, so a later request can go on hashing. */
  save(): Uint8Array;
}

/** Request bodies arrive whole (Lambda) or as a stream (the uploader). */
export type ByteSource = Uint8Array | AsyncIterable<Uint8Array>;

export interface PartWriterOptions {
  /** Smallest part the blob store accepts, except the last (S3: 5 MiB). */
  readonly minPartSize: number;
  /** Size of the parts cut from a stream; larger parts mean fewer calls and bigger blobs within 10,000 parts. */
  readonly partSize: number;
  /** Parts uploaded at once while the stream goes on. */
  readonly concurrency: number;
  /** The blob store's limit on parts per multipart upload (S3: 10,000). */
  readonly maxParts: number;
}

/**
 * Most staged objects a session holds. A request that would stage one more restages them all, with
 * its own bytes, as one object (reading back less than a part), so a client sending tiny chunks
 * cannot grow the session's item: the list is kept in it.
 */
export const MAX_STAGED_OBJECTS = 16;

/** What one request added to a session, ready to be committed with a conditional write. */
export interface Ingested {
  /**
   * The session with the request's bytes added. Its `hashState` is what the hasher saved: with a
   * native hasher, nothing, and the caller records the native digest instead.
   */
  readonly next: ResumablyHashedSession;
  readonly received: number;
  /** Staged objects this request created: to delete if the commit loses a race. */
  readonly created: string[];
  /** Staged objects folded into a part or restaged: to delete once the commit succeeded. */
  readonly replaced: string[];
  /** Whether this request started the multipart upload (to abort if the commit loses). */
  readonly startedMultipart: boolean;
  /** The parts this request wrote, in order, with the ETags the blob store returned. */
  readonly written: readonly RecordedPart[];
}

/**
 * Writes a request body into an upload session's storage while hashing it: bytes are cut into parts
 * and uploaded a few at a time as they arrive, so neither memory nor time grows with the blob; what is
 * left at the end is a part of its own if big enough, or staged until the next request adds to it.
 * Staged bytes of earlier requests are read back only when they join a part.
 */
export async function ingest(
  store: BlobStore,
  session: ResumablyHashedSession,
  source: ByteSource,
  options: PartWriterOptions,
  hasher?: StreamHasher,
): Promise<Ingested> {
  const hash: StreamHasher = hasher ?? (await ResumableSha256.create(session.hashState));
  // Only this request's parts are held: earlier ones are in the session's ledger.
  const ledger = session.multipart?.parts ?? NO_PARTS;
  const parts: RecordedPart[] = [];
  let tail = [...session.tail];
  let tailSize = tail.reduce((sum, t) => sum + t.size, 0);
  const replaced: string[] = [];
  const created: string[] = [];
  let pieces: Uint8Array[] = [];
  let piecesSize = 0;
  let received = 0;
  let multipart: MultipartUpload | undefined = session.multipart;
  let nextPart = ledger.count + 1;
  const inflight = new Set<Promise<void>>();
  let failure: unknown;

  /** Brings staged bytes of earlier requests in front of the buffer, to join a part or be restaged. */
  const absorbTail = async () => {
    if (tail.length === 0) return;
    const staged = await Promise.all(tail.map((t) => store.get(t.key)));
    pieces = [...staged, ...pieces];
    piecesSize += tailSize;
    replaced.push(...tail.map((t) => t.key));
    tail = [];
    tailSize = 0;
  };

  // Part buffers are reused once their upload settled: allocating a part's worth of memory per part
  // (a GiB per GiB received) would keep the garbage collector busy with that alone.
  const spare: Uint8Array[] = [];
  const release = (bytes: Uint8Array) => {
    if (bytes.buffer.byteLength === options.partSize && spare.length < options.concurrency) {
      spare.push(new Uint8Array(bytes.buffer, 0, options.partSize));
    }
  };

  const uploadPart = async (bytes: Uint8Array) => {
    if (nextPart > options.maxParts) {
      throw new SizeInvalidError(`blob exceeds ${options.maxParts} parts of ${options.partSize} bytes`, true);
    }
    if (!multipart) {
      const key = keys.assembled(session.id, randomUUID().slice(0, 8));
      multipart = { id: await store.createMultipart(key), key };
    }
    // Wait for room before this part goes out, not after: the next part's bytes then keep arriving
    // while `concurrency` parts are in flight, instead of one fewer.
    while (inflight.size >= options.concurrency) await Promise.race(inflight);
    if (failure) throw failure;
    const { id, key } = multipart;
    const partNumber = nextPart++;
    const upload = store
      .uploadPart(key, id, partNumber, bytes)
      .then((etag) => {
        parts.push({ partNumber, etag, size: bytes.length });
      })
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => {
        inflight.delete(upload);
        release(bytes);
      });
    inflight.add(upload);
  };

  /** Cuts exactly `size` bytes off the front of the buffer, copied into a part buffer of their own. */
  const take = (size: number): Uint8Array => {
    const out = size <= options.partSize ? (spare.pop() ?? allocate(options.partSize)) : allocate(size);
    let filled = 0;
    while (filled < size) {
      const piece = pieces.shift() as Uint8Array;
      const used = Math.min(piece.length, size - filled);
      out.set(used === piece.length ? piece : piece.subarray(0, used), filled);
      if (used < piece.length) pieces.unshift(piece.subarray(used));
      filled += used;
    }
    piecesSize -= size;
    return out.subarray(0, size);
  };

  const chunks: AsyncIterable<Uint8Array> | Uint8Array[] = source instanceof Uint8Array ? [source] : source;
  try {
    for await (const chunk of chunks) {
      if (chunk.length === 0) continue;
      hash.update(chunk);
      received += chunk.length;
      pieces.push(chunk);
      piecesSize += chunk.length;
      if (tailSize + piecesSize >= options.partSize) {
        await absorbTail();
        while (piecesSize >= options.partSize) await uploadPart(take(options.partSize));
      }
    }
    if (tailSize + piecesSize >= options.minPartSize) {
      await absorbTail();
      await uploadPart(take(piecesSize));
    } else if (piecesSize > 0) {
      // Too small for a part: stage it (after any earlier staged bytes) until more arrives.
      if (tail.length >= MAX_STAGED_OBJECTS) await absorbTail();
      const size = piecesSize;
      const key = keys.staged(session.id, session.size + received - size, randomUUID().slice(0, 8));
      const bytes = take(size);
      await store.put(key, bytes);
      release(bytes);
      tail.push({ key, size });
      created.push(key);
    }
    await Promise.all(inflight);
    if (failure) throw failure;
  } catch (err) {
    // The body broke off or a write failed: remove what this request wrote, since nothing will
    // refer to it. Parts added to an existing multipart upload are never listed, so they vanish
    // when it completes or is aborted.
    await Promise.allSettled(inflight);
    if (multipart && !session.multipart) await store.abortMultipart(multipart.key, multipart.id).catch(() => undefined);
    await store.delete(created).catch(() => undefined);
    throw err;
  }
  parts.sort((a, b) => a.partNumber - b.partNumber);
  return {
    next: {
      ...session,
      size: session.size + received,
      hashState: hash.save(),
      version: session.version + 1,
      multipart: multipart && { id: multipart.id, key: multipart.key, parts: extendLedger(ledger, parts) },
      tail,
    },
    received,
    created,
    replaced,
    startedMultipart: multipart !== undefined && session.multipart === undefined,
    written: parts,
  };
}

/** Memory for a part, not zeroed: every byte of it is written before it is sent. */
function allocate(size: number): Uint8Array {
  return Buffer.allocUnsafeSlow(size);
}
