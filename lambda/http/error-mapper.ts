import {
  EndpointUnknownError,
  PaginationInvalidError,
  RangeInvalidError,
  RegistryError,
  SizeInvalidError,
  TooManyRequestsError,
  UnauthorizedError,
  UnavailableError,
  UnsupportedError,
  type OciErrorCode,
} from '../core/errors';
import { json, type HttpResponse } from './response';

const STATUS: Record<OciErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  // "Missing implementation or invalid set of parameters" (an unsupported digest algorithm, a POST
  // on an upload without its parameters): a bad request. 415 would blame the Content-Type, and the
  // spec's endpoint table answers no 415 anywhere.
  UNSUPPORTED: 400,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  TAG_INVALID: 400,
  UNAVAILABLE: 503,
};

/** Logs what the client must not see. */
export type ErrorLogger = (message: string, fields: Record<string, unknown>) => void;

/**
 * The one place errors become HTTP: OCI code → status, `{"errors":[…]}` body and the headers the
 * spec ties to some codes. Anything that is not a RegistryError is a bug or an outage: the client
 * gets 500 UNKNOWN with the request id, the log gets the real error.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#error-codes
 */
export function errorResponse(err: unknown, requestId: string, log: ErrorLogger): HttpResponse {
  if (!(err instanceof RegistryError)) {
    log('unhandled error', {
      requestId,
      error: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err),
    });
    return json(500, {
      errors: [{ code: 'UNKNOWN', message: `internal error; request id ${requestId}`, detail: { requestId } }],
    });
  }
  // An outage underneath (the store's SDK error) goes to the log; the client sees only the message.
  if (err instanceof UnavailableError && err.cause !== undefined) {
    log('backing service unavailable', { requestId, error: { message: err.message }, cause: describe(err.cause) });
  }
  let status = STATUS[err.code];
  const headers: Record<string, string> = {};
  if (err instanceof SizeInvalidError && err.tooLarge) status = 413;
  if (err instanceof PaginationInvalidError) status = 400;
  if (err instanceof EndpointUnknownError) status = 404;
  if (err instanceof UnsupportedError && err.allow) {
    status = 405;
    headers.Allow = err.allow.join(', ');
  }
  if (err instanceof RangeInvalidError) {
    headers.Range = `0-${Math.max(err.currentSize - 1, 0)}`;
    headers.Location = `/v2/${err.repository}/blobs/uploads/${err.uploadId}`;
    headers['Docker-Upload-UUID'] = err.uploadId;
  }
  if (err instanceof UnauthorizedError && err.challenge) headers['WWW-Authenticate'] = err.challenge;
  if (err instanceof TooManyRequestsError || err instanceof UnavailableError) {
    headers['Retry-After'] = String(err.retryAfterSeconds);
  }
  const code = err.code === 'RANGE_INVALID' ? 'BLOB_UPLOAD_INVALID' : err.code;
  const body = { errors: [{ code, message: err.message, detail: withRequestId(err.detail, requestId) }] };
  return json(status, body, headers);
}

/** An SDK error's identifying fields; duck-typed, as Node's own errors may be of another realm. */
function describe(cause: unknown): Record<string, unknown> | string {
  if (typeof cause !== 'object' || cause === null) return String(cause);
  const { name, message, code, $metadata } = cause as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: number; attempts?: number };
  };
  return {
    name,
    message,
    ...(code !== undefined ? { code } : {}),
    ...($metadata ? { httpStatusCode: $metadata.httpStatusCode, attempts: $metadata.attempts } : {}),
  };
}

/**
 * The request id joins the error's `detail` (free-form in the spec), so a client's bug report
 * names the log lines of its request. A detail that is not an object is left as it was.
 */
function withRequestId(detail: unknown, requestId: string): unknown {
  if (detail === undefined) return { requestId };
  if (typeof detail === 'object' && detail !== null && !Array.isArray(detail)) return { ...detail, requestId };
  return detail;
}
