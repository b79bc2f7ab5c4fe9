import { UnavailableError } from '../core/errors';

/** Error names AWS services use when they refuse a request for its rate, not its content. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'LimitExceededException',
  'SlowDown',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
]);

/** Error names of a service that answered but could not serve the request just now. */
const SERVER_TROUBLE = new Set([
  'InternalServerError',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/**
 * Node's codes for a connection that could not be made or broke, and the SDK's name for an attempt
 * that ran out of time (it also renames ECONNRESET, ECONNREFUSED, EPIPE and ETIMEDOUT so).
 */
const NO_ANSWER_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * `Retry-After` seconds of a service that answered (throttling, a 5xx): it is busy, and usually
 * recovers within a second.
 */
export const RETRY_AFTER_BUSY_SECONDS = 1;
/** `Retry-After` seconds of a service that did not answer at all: down for longer (as `/health` says). */
export const RETRY_AFTER_UNREACHABLE_SECONDS = 5;

/** What kind of outage an SDK error is, if it is one. */
export type Outage = 'busy' | 'unreachable';

/**
 * Whether an error the SDK threw after its retries is an outage of the service rather than a
 * refusal of this request: throttling and 5xx answers are `busy`, timeouts and broken or refused
 * connections `unreachable`. Causes are followed, as the SDK wraps some transport errors.
 */
export function classifyOutage(err: unknown, depth = 0): Outage | undefined {
  // Duck-typed: errors of Node's own modules may come from another realm than the caller's Error.
  if (typeof err !== 'object' || err === null || depth > 5) return undefined;
  const { name, message, code, $metadata, cause } = err as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: number };
    cause?: unknown;
  };
  const status = $metadata?.httpStatusCode;
  if ((typeof name === 'string' && THROTTLING.has(name)) || status === 429) return 'busy';
  // 501 Not Implemented is an answer for good, not an outage.
  if (typeof name === 'string' && SERVER_TROUBLE.has(name)) return 'busy';
  if (status !== undefined && status >= 500 && status !== 501) return 'busy';
  if (name === 'TimeoutError' || (typeof code === 'string' && NO_ANSWER_CODES.has(code))) return 'unreachable';
  if (typeof message === 'string') {
    // What Node says when a server closes the connection without answering, with no code on some paths.
    if (/^(socket hang up|aborted|premature close)$/i.test(message)) return 'unreachable';
    // The SDK's retry loop wraps what is no Error of its realm into an Error that keeps only
    // "<name>: <message>" in its message.
    const wrapped = /^AWS SDK error wrapper for (\w+): (.*)$/s.exec(message);
    if (wrapped) return classifyOutage({ name: wrapped[1], message: wrapped[2] }, depth + 1);
  }
  return classifyOutage(cause, depth + 1);
}

/**
 * The UnavailableError (503 UNAVAILABLE with Retry-After) an outage of `store` becomes, keeping the
 * SDK error as its cause for the log; undefined when `err` is no outage.
 */
export function outageError(err: unknown, store: string): UnavailableError | undefined {
  const outage = classifyOutage(err);
  if (!outage) return undefined;
  return outage === 'busy'
    ? new UnavailableError(`the ${store} is busy; retry shortly`, RETRY_AFTER_BUSY_SECONDS, err)
    : new UnavailableError(`the ${store} did not answer; retry shortly`, RETRY_AFTER_UNREACHABLE_SECONDS, err);
}
