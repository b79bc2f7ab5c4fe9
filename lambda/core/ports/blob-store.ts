/**
 * Byte storage for blobs, large manifests and upload staging (S3 in production).
 *
 * Keys are chosen by core (see `core/keys.ts`); the store never interprets them. Every method throws
 * `UnavailableError` for throttling or transient faults and lets other faults surface as plain errors.
 */
export interface BlobStore {
  /**
   * Writes an object. When `sha256` (hex) is given the store must refuse to keep bytes that do not
   * hash to it (S3 checks `x-amz-checksum-sha256`), a second line of defence behind core's own check.
   */
  put(key: string, body: Uint8Array, sha256?: string): Promise<void>;
  /**
   * Writes an object from a stream of exactly `size` bytes (at most `MAX_STREAMED_PUT_SIZE`) that
   * must hash to `sha256` (hex), in one request and without holding the bytes: the store checks them
   * before it keeps anything (S3: `x-amz-checksum-sha256` on one `PutObject`), so no other bytes can
   * ever be found at `key`. A body that fails stores nothing and its error is thrown.
   * @throws DigestInvalidError when the bytes do not hash to `sha256`.
   * @throws BlobUploadInvalidError when the body is longer or shorter than `size`.
   */
  putStream(key: string, body: AsyncIterable<Uint8Array>, size: number, sha256: string): Promise<void>;
  /** Reads a whole object; throws `BlobUnknownError` when absent. */
  get(key: string): Promise<Uint8Array>;
  /** Deletes objects; absent keys are not an error. */
  delete(keys: readonly string[]): Promise<void>;
  /** A URL that lets anyone holding it GET the object (with `Range`) for `expiresInSeconds`. No network call. */
  presignGet(key: string, expiresInSeconds: number): Promise<string>;
  /** Starts a multipart upload of `key` and returns its id. */
  createMultipart(key: string): Promise<string>;
  /** Uploads one part from bytes; returns its ETag. */
  uploadPart(key: string, multipartId: string, partNumber: number, body: Uint8Array): Promise<string>;
  /** Uploads one part by copying a whole existing object server-side; returns its ETag. */
  uploadPartCopy(key: string, multipartId: string, partNumber: number, sourceKey: string): Promise<string>;
  /**
   * Completes a multipart upload. The store must refuse when a part's ETag differs from the one given
   * (a part overwritten by a racing request), so only the bytes core hashed become the object.
   */
  completeMultipart(key: string, multipartId: string, parts: readonly PartRef[]): Promise<void>;
  /** Aborts a multipart upload and frees its parts; an unknown id is not an error. */
  abortMultipart(key: string, multipartId: string): Promise<void>;
  /**
   * A URL that lets anyone holding it upload part `partNumber` of a multipart upload (HTTP PUT,
   * with `Content-Length`) for `expiresInSeconds`, and nothing else. No network call.
   */
  presignUploadPart(key: string, multipartId: string, partNumber: number, expiresInSeconds: number): Promise<string>;
  /**
   * A URL that lets anyone holding it write `key` once, with exactly `size` bytes that hash to
   * `sha256` (hex), for `expiresInSeconds`: the request must carry `headers`, which the URL is signed
   * with, and the store refuses bytes of another hash before it keeps anything (S3: one `PutObject`
   * with a signed `x-amz-checksum-sha256`). At most `MAX_STREAMED_PUT_SIZE`. No network call.
   */
  presignPut(key: string, size: number, sha256: string, expiresInSeconds: number): Promise<PresignedPut>;
  /**
   * The size of an object and the SHA-256 (hex) of its whole content as the store verified it when the
   * object was written with one (S3: `HeadObject` with checksum mode, a full-object checksum), or
   * undefined when absent. `sha256` is missing when the store keeps none for the object.
   */
  checksum(key: string): Promise<{ readonly size: number; readonly sha256?: string } | undefined>;
  /** The parts uploaded so far, in part-number order; throws `BlobUnknownError` for an unknown upload. */
  listParts(key: string, multipartId: string): Promise<StoredPart[]>;
  /** Streams an object from byte `start` to its end; throws `BlobUnknownError` when absent. */
  read(key: string, start?: number): AsyncIterable<Uint8Array>;
  /** The multipart uploads not yet completed or aborted whose keys start with `prefix`. */
  listMultipartUploads(prefix: string): AsyncIterable<MultipartListing>;
}

/** The largest object written in one request (S3: 5 GiB for one `PutObject`). */
export const MAX_STREAMED_PUT_SIZE = 5 * 1024 * 1024 * 1024;

/** Where and how to write an object through `presignPut`. */
export interface PresignedPut {
  readonly url: string;
  /** Headers the request must carry, exactly (the URL's signature covers them). */
  readonly headers: Readonly<Record<string, string>>;
}

/** A multipart upload in progress, as listed. */
export interface MultipartListing {
  readonly key: string;
  readonly multipartId: string;
  /** Epoch ms. */
  readonly initiated: number;
}

export interface StoredPart extends PartRef {
  readonly size: number;
}

export interface PartRef {
  readonly partNumber: number;
  readonly etag: string;
}
