/**
 * Domain errors, one class per OCI error code.
 *
 * Core throws these; it never decides HTTP status. The single mapper in `lambda/http/error-mapper.ts`
 * turns each code into a status and an OCI error body.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#error-codes
 */

/** Every OCI error code this registry emits. */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'TAG_INVALID'
  | 'UNAVAILABLE';

/** Base class: an error a client caused or may retry, carrying its OCI code. */
export abstract class RegistryError extends Error {
  abstract readonly code: OciErrorCode;
  constructor(
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

export class BlobUnknownError extends RegistryError {
  override readonly name = 'BlobUnknownError';
  readonly code = 'BLOB_UNKNOWN';
}

export class BlobUploadInvalidError extends RegistryError {
  override readonly name = 'BlobUploadInvalidError';
  readonly code = 'BLOB_UPLOAD_INVALID';
}

export class BlobUploadUnknownError extends RegistryError {
  override readonly name = 'BlobUploadUnknownError';
  readonly code = 'BLOB_UPLOAD_UNKNOWN';
}

export class DigestInvalidError extends RegistryError {
  override readonly name = 'DigestInvalidError';
  readonly code = 'DIGEST_INVALID';
}

export class ManifestBlobUnknownError extends RegistryError {
  override readonly name = 'ManifestBlobUnknownError';
  readonly code = 'MANIFEST_BLOB_UNKNOWN';
}

export class ManifestInvalidError extends RegistryError {
  override readonly name = 'ManifestInvalidError';
  readonly code = 'MANIFEST_INVALID';
}

export class ManifestUnknownError extends RegistryError {
  override readonly name = 'ManifestUnknownError';
  readonly code = 'MANIFEST_UNKNOWN';
}

export class NameInvalidError extends RegistryError {
  override readonly name = 'NameInvalidError';
  readonly code = 'NAME_INVALID';
}

export class NameUnknownError extends RegistryError {
  override readonly name = 'NameUnknownError';
  readonly code = 'NAME_UNKNOWN';
}

/** A size that does not match, or a body larger than this registry or its transport accepts. */
export class SizeInvalidError extends RegistryError {
  override readonly name = 'SizeInvalidError';
  readonly code = 'SIZE_INVALID';
  constructor(
    message: string,
    /** True when the body exceeds a limit (HTTP 413) rather than disagreeing with a declared size. */
    readonly tooLarge = false,
    detail?: unknown,
  ) {
    super(message, detail);
  }
}

export class UnsupportedError extends RegistryError {
  override readonly name = 'UnsupportedError';
  readonly code = 'UNSUPPORTED';
  constructor(
    message: string,
    /** HTTP methods the resource does accept, when the method was the problem (HTTP 405). */
    readonly allow?: readonly string[],
  ) {
    super(message);
  }
}

export class UnauthorizedError extends RegistryError {
  override readonly name = 'UnauthorizedError';
  readonly code = 'UNAUTHORIZED';
  constructor(
    message: string,
    /** The `WWW-Authenticate` challenge telling the client how to sign in. */
    readonly challenge?: string,
  ) {
    super(message);
  }
}

export class DeniedError extends RegistryError {
  override readonly name = 'DeniedError';
  readonly code = 'DENIED';
}

export class TooManyRequestsError extends RegistryError {
  override readonly name = 'TooManyRequestsError';
  readonly code = 'TOOMANYREQUESTS';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/**
 * A backing service is briefly unavailable (throttling, timeouts, maintenance mode): the client
 * should retry after `retryAfterSeconds`.
 */
export class UnavailableError extends RegistryError {
  override readonly name = 'UnavailableError';
  readonly code = 'UNAVAILABLE';
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
    /** What failed underneath, for the log; the client sees only `message`. */
    cause?: unknown,
  ) {
    super(message);
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * A chunk that does not start where the upload session ends (HTTP 416). Carries the session's
 * current size so the client can resume from the `Range` header.
 */
export class RangeInvalidError extends RegistryError {
  override readonly name = 'RangeInvalidError';
  readonly code = 'RANGE_INVALID';
  constructor(
    message: string,
    readonly uploadId: string,
    readonly repository: string,
    readonly currentSize: number,
  ) {
    super(message);
  }
}

/** Thrown by adapters when a conditional write lost a race; services translate it. */
export class ConcurrentModificationError extends Error {
  override readonly name = 'ConcurrentModificationError';
}

/** A malformed pagination parameter (`n`, `last`) on a list endpoint (HTTP 400). */
export class PaginationInvalidError extends RegistryError {
  override readonly name = 'PaginationInvalidError';
  readonly code = 'UNSUPPORTED';
}

/** A path that is no endpoint of this registry (HTTP 404). */
export class EndpointUnknownError extends RegistryError {
  override readonly name = 'EndpointUnknownError';
  readonly code = 'UNSUPPORTED';
}
