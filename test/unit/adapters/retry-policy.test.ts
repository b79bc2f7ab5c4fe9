import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createAwsClients } from '../../../lambda/adapters/aws-clients';
import { API_RETRY, BACKGROUND_RETRY, BudgetedRetryStrategy } from '../../../lambda/adapters/retry-policy';

const token = (count: number, delay = 0): RetryToken => ({ getRetryCount: () => count, getRetryDelay: () => delay });
const transient: RetryErrorInfo = { errorType: 'TRANSIENT' };

/** An inner strategy that always allows a retry after `sleepMs` of its own backoff. */
function always(sleepMs: number, advance: (ms: number) => void): RetryStrategyV2 {
  return {
    acquireInitialRetryToken: async () => token(0),
    refreshRetryTokenForRetry: async (t) => {
      advance(sleepMs);
      if (sleepMs > 0) await new Promise((r) => setTimeout(r, sleepMs).unref());
      return token(t.getRetryCount() + 1);
    },
    recordSuccess: () => {},
  };
}

describe('the retry budget', () => {
  test('no retry starts that could not end within the budget: 2 attempts of 3 s fit 8 s, a third does not', async () => {
    let now = 0;
    const strategy = new BudgetedRetryStrategy(
      always(0, (ms) => (now += ms)),
      API_RETRY,
      () => now,
    );
    const first = await strategy.acquireInitialRetryToken('');
    now += 3000; // the first attempt timed out
    const second = await strategy.refreshRetryTokenForRetry(first, transient);
    now += 3000; // so did the second
    await expect(strategy.refreshRetryTokenForRetry(second, transient)).rejects.toThrow('retry budget spent');
  });

  test('fast failures (refused, reset, 5xx) retry up to the inner strategy, within the budget', async () => {
    let now = 0;
    const strategy = new BudgetedRetryStrategy(
      always(0, (ms) => (now += ms)),
      API_RETRY,
      () => now,
    );
    let t = await strategy.acquireInitialRetryToken('');
    for (let i = 0; i < 5; i++) {
      now += 10;
      t = await strategy.refreshRetryTokenForRetry(t, transient);
    }
    expect(t.getRetryCount()).toBe(5);
  });

  test('a backoff longer than what is left ends the call at once instead of sleeping it out', async () => {
    const strategy = new BudgetedRetryStrategy(
      always(60_000, () => {}),
      { budgetMs: 300, requestTimeoutMs: 100 },
    );
    const started = Date.now();
    await expect(
      strategy.refreshRetryTokenForRetry(await strategy.acquireInitialRetryToken(''), transient),
    ).rejects.toThrow('retry budget spent');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test("the API's settings end a call well inside API Gateway's 30 s; the uploader's inside CloudFront's 120 s", () => {
    // Worst case: the budget plus one attempt that started just inside it, plus its connection.
    const worst = (s: typeof API_RETRY) => s.budgetMs + s.connectTimeoutMs;
    expect(worst(API_RETRY)).toBeLessThanOrEqual(10_000);
    expect(2 * worst(API_RETRY)).toBeLessThan(29_000); // a failed call and a failed clean-up call
    expect(worst(BACKGROUND_RETRY)).toBeLessThan(60_000);
  });

  test('createAwsClients gives S3 and DynamoDB the budgeted strategy', async () => {
    const { s3, dynamodb } = createAwsClients({ region: 'us-east-1' });
    for (const client of [s3, dynamodb] as { config: DynamoDBClient['config'] }[]) {
      expect(await client.config.retryStrategy()).toBeInstanceOf(BudgetedRetryStrategy);
      expect(await client.config.maxAttempts()).toBe(API_RETRY.maxAttempts);
    }
    // The timeouts themselves are checked end to end: test/integration/faults.test.ts, deployed settings.
    s3.destroy();
    dynamodb.destroy();
  });
});
