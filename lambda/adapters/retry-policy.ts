import { StandardRetryStrategy } from '@smithy/core/retry';
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

/**
 * How SDK clients wait for and retry S3 and DynamoDB: the SDK's standard retry strategy (exponential
 * backoff with full jitter, a longer base for throttling, a retry quota that stops retrying in a long
 * outage) bounded by per-attempt timeouts and by a total budget per call.
 */
export interface RetrySettings {
  /** Attempts per call, the first included. */
  readonly maxAttempts: number;
  /** Deadline for the TCP connection of one attempt. */
  readonly connectTimeoutMs: number;
  /** Deadline for one attempt from sending the request to the response's headers, body upload included. */
  readonly requestTimeoutMs: number;
  /** Longest silence on the socket while a response body streams in. */
  readonly idleTimeoutMs: number;
  /**
   * Wall time one call may spend, retries and backoff included: no retry starts unless it could
   * end (one `requestTimeoutMs`) within it.
   */
  readonly budgetMs: number;
}

/**
 * The functions behind the API, which must answer within API Gateway's fixed 30 s (the functions
 * time out at 29 s). A call to an unreachable store ends after at most about 8 s, so a request
 * that fails one call and then one clean-up call still answers 503 itself, well before the gateway
 * would cut it off. DynamoDB answers in milliseconds and a function's S3 bodies are at most one
 * Lambda payload (6 MB), so 3 s to the response headers is generous; a response that streams (a
 * read-back) may run longer as long as bytes keep coming.
 */
export const API_RETRY: RetrySettings = {
  maxAttempts: 3,
  connectTimeoutMs: 1000,
  requestTimeoutMs: 3000,
  idleTimeoutMs: 5000,
  budgetMs: 8000,
};

/**
 * Code with no 30 s limit: the uploader (16 MiB parts, behind CloudFront's 120 s origin read
 * timeout, so one call stays well below it), and the garbage collection and upload sweeper
 * functions. More attempts ride out a longer blip before a client sees 503.
 */
export const BACKGROUND_RETRY: RetrySettings = {
  maxAttempts: 5,
  connectTimeoutMs: 2000,
  requestTimeoutMs: 20_000,
  idleTimeoutMs: 20_000,
  budgetMs: 40_000,
};

/** What an SDK client takes for these settings (its `requestHandler`, `maxAttempts` and `retryStrategy`). */
export function clientRetryConfig(settings: RetrySettings) {
  return {
    maxAttempts: settings.maxAttempts,
    retryStrategy: new BudgetedRetryStrategy(new StandardRetryStrategy(settings.maxAttempts), settings),
    requestHandler: {
      connectionTimeout: settings.connectTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      // Without it an exceeded requestTimeout is only logged as a warning.
      throwOnRequestTimeout: true,
      socketTimeout: settings.idleTimeoutMs,
    },
  };
}

/**
 * A retry strategy that keeps another's decisions (whether to retry, how long to back off, its
 * quota) but refuses any retry that could not end within the call's budget. A refused retry makes
 * the SDK throw the last error, which the adapters translate.
 */
export class BudgetedRetryStrategy implements RetryStrategyV2 {
  private readonly started = new WeakMap<RetryToken, number>();

  constructor(
    private readonly inner: RetryStrategyV2,
    private readonly settings: Pick<RetrySettings, 'budgetMs' | 'requestTimeoutMs'>,
    private readonly now: () => number = Date.now,
  ) {}

  async acquireInitialRetryToken(scope: string): Promise<RetryToken> {
    const token = await this.inner.acquireInitialRetryToken(scope);
    this.started.set(token, this.now());
    return token;
  }

  async refreshRetryTokenForRetry(token: RetryToken, errorInfo: RetryErrorInfo): Promise<RetryToken> {
    const started = this.started.get(token) ?? this.now();
    const left = () => this.settings.budgetMs - (this.now() - started) - this.settings.requestTimeoutMs;
    if (left() <= 0) throw new Error('retry budget spent');
    // The SDK's strategy sleeps its backoff before it answers; a backoff longer than what is left
    // (a throttling base, a Retry-After hint) ends the call now instead.
    let timer: NodeJS.Timeout | undefined;
    const spent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('retry budget spent')), left());
      timer.unref();
    });
    const refreshed = this.inner.refreshRetryTokenForRetry(token, errorInfo);
    // Whatever it decides after the budget ran out is of no use, and must not go unhandled.
    refreshed.catch(() => {});
    try {
      const next = await Promise.race([refreshed, spent]);
      if (left() - next.getRetryDelay() <= 0) throw new Error('retry budget spent');
      this.started.set(next, started);
      return next;
    } finally {
      clearTimeout(timer);
    }
  }

  recordSuccess(token: RetryToken): void {
    this.inner.recordSuccess(token);
  }
}
