/**
 * An upload session as the metadata store keeps it between requests: a union of its kinds and
 * phases, so that a state the registry never enters cannot be written down.
 *
 * ```
 * start ─► chunked: bytes come through the registry (PATCH, PUT) and are hashed on the way in
 *            │ first `POST ?parts=` while it holds no bytes (the push helper)
 *            ▼
 *          direct, receiving: the client writes parts to storage through presigned URLs
 *            │ first `POST ?digest=`: the multipart upload is completed
 *            ▼
 *          direct, verifying: the object is read back and hashed, over one request or several
 *            │ every byte hashed to the digest
 *            ▼
 *          direct, verified: claimed by the request that records the blob
 * ```
 *
 * A chunked session has no persisted phase of its own: it is assembled and verified within the
 * request that finishes it. Every session ends by being deleted: once its blob is recorded, when it
 * is cancelled or fails verification, or when the upload sweeper finds it expired.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-blobs
 */
export type UploadSession = ChunkedUploadSession | DirectUploadSession;

/** A blob-store multipart upload and the key it writes; each has a key of its own. */
export interface MultipartUpload {
  readonly id: string;
  readonly key: string;
}

/** A part of a multipart upload as the request that wrote it saw it. */
export interface RecordedPart {
  readonly partNumber: number;
  readonly etag: string;
  readonly size: number;
}

/**
 * The parts committed to a multipart upload, summed up instead of listed, so that a session's item
 * stays the same size whether it holds one part or S3's 10,000 (docs/storage.md, "Upload sessions
 * and their parts"): how many, how many bytes, and a SHA-256 chained over each part's number, size
 * and ETag in order. Finishing lists the parts from the blob store and checks them against it
 * (`core/part-ledger.ts`), so a part a losing request overwrote can never become part of the blob.
 */
export interface PartLedger {
  readonly count: number;
  readonly size: number;
  /** Hex SHA-256 over the parts so far; empty for none. */
  readonly chain: string;
}

/** A chunked session's multipart upload and the parts committed to it, parts 1 to `parts.count`. */
export interface ChunkedMultipart extends MultipartUpload {
  readonly parts: PartLedger;
}

/** An object in the blob store and its size. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
}

/** What every session has, whatever its kind. */
export interface UploadSessionBase {
  readonly id: string;
  /** The repository it uploads to. */
  readonly name: string;
  /** Incremented on every change; writes are conditional on it. */
  readonly version: number;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  /** Epoch seconds after which the session is dead (the table's TTL attribute follows it). */
  readonly expiresAt: number;
}

interface ChunkedBase extends UploadSessionBase {
  readonly kind: 'chunked';
  /** Bytes received so far. */
  readonly size: number;
  /**
   * The multipart upload, once the first full part was written. Each multipart upload has a key of
   * its own, so two requests racing to finish one session never complete different bytes under one key.
   */
  readonly multipart?: ChunkedMultipart;
  /** Staged objects holding received bytes not yet in a part, in order. */
  readonly tail: readonly StoredObject[];
}

/** Bytes sent through the registry, hashed resumably: each request resumes the state and saves it. */
export interface ResumablyHashedSession extends ChunkedBase {
  readonly hashing: 'resumable';
  /** Serialized SHA-256 state after `size` bytes (treat as upload data: it may hold input bytes). */
  readonly hashState: Uint8Array;
  readonly nativeDigest?: undefined;
}

/**
 * A first body streamed whole and hashed natively (several times faster than the resumable hash):
 * the bytes so far hash to `nativeDigest`. A finishing request with no more bytes uses it as is; one
 * that adds bytes first rebuilds the resumable state from what was stored.
 */
export interface NativelyHashedSession extends ChunkedBase {
  readonly hashing: 'native';
  readonly nativeDigest: string;
  /** Always empty: a native hash's state cannot be saved. */
  readonly hashState: Uint8Array;
}

/** Bytes sent through the registry, in one request or many (a fresh session is one with none yet). */
export type ChunkedUploadSession = ResumablyHashedSession | NativelyHashedSession;

/**
 * A direct session (the push helper's protocol, docs/large-uploads.md): its bytes go from the client
 * straight to storage through presigned part URLs, never through the registry, and count for nothing
 * until they were read back and verified.
 */
export type DirectUploadSession =
  DirectReceivingSession | DirectSendingSession | DirectVerifyingSession | DirectVerifiedSession;

/** The client writes parts of `multipart` through presigned URLs. */
export interface DirectReceivingSession extends UploadSessionBase {
  readonly kind: 'direct';
  readonly phase: 'receiving';
  readonly multipart: MultipartUpload;
  /** No byte is verified yet. */
  readonly size: 0;
}

/**
 * The client writes the whole blob as `object` through one presigned URL that the blob store checks
 * against `digest` (its SHA-256) before it keeps anything: once the object exists, the store has
 * verified it, and nothing needs to be read back.
 */
export interface DirectSendingSession extends UploadSessionBase {
  readonly kind: 'direct';
  readonly phase: 'sending';
  /** Where the blob goes, and its size (the URL is signed for exactly that many bytes). */
  readonly object: StoredObject;
  /** The sha256 digest the URL is signed for. */
  readonly digest: string;
  /** No byte is verified yet. */
  readonly size: 0;
}

/** The multipart upload is complete as `object`; its bytes are being read back and hashed. */
export interface DirectVerifyingSession extends UploadSessionBase {
  readonly kind: 'direct';
  readonly phase: 'verifying';
  readonly object: StoredObject;
  /** Bytes of `object` read back and hashed so far. */
  readonly size: number;
  /** Resumable SHA-256 state after `size` bytes. */
  readonly hashState: Uint8Array;
  /**
   * Set once a first attempt, hashing natively in the hope of finishing within one request, ran out
   * of time: verification then goes on resumably, from the start.
   */
  readonly resumableVerify: boolean;
}

/**
 * Every byte of `object` hashed to `digest`, and the session saved so, before its blob is recorded:
 * a sweep or cancel that read it earlier can no longer delete the object about to become the blob,
 * and a retry after a failure to record it need not read the bytes again.
 */
export interface DirectVerifiedSession extends UploadSessionBase {
  readonly kind: 'direct';
  readonly phase: 'verified';
  readonly object: StoredObject;
  /** All of `object`. */
  readonly size: number;
  readonly digest: string;
}
