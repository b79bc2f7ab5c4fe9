import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HEALTH_CHECK_KEY } from '../../config/observability';
import { UnavailableError } from '../../core/errors';
import type { HealthCheck } from '../../core/ports/health';
import { key } from './table';

/**
 * The item the health check reads. It never exists: an answer, even an empty one, proves the
 * table is there and reachable. Its partition key is no registry key's (`repo#`, `blob#`,
 * `upload#`, `catalog`), and the stack grants the base function GetItem on this partition alone.
 */
export const HEALTH_KEY = { pk: HEALTH_CHECK_KEY, sk: HEALTH_CHECK_KEY } as const;

/** Seconds a client is asked to wait after a failed health check. */
const RETRY_AFTER_SECONDS = 5;

/**
 * One eventually consistent GetItem (half a read request unit) with a deadline that includes the
 * SDK's retries, so a slow table answers 503 quickly rather than holding the caller.
 */
export class DynamoDbHealthCheck implements HealthCheck {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly timeoutMs = 2000,
  ) {}

  async check(): Promise<void> {
    try {
      await this.client.send(
        new GetItemCommand({ TableName: this.table, Key: key(HEALTH_KEY), ProjectionExpression: 'pk' }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
      const message = timedOut
        ? `the metadata store did not answer within ${this.timeoutMs} ms`
        : 'the metadata store is unavailable';
      // The client sees the message; the log gets the cause.
      throw Object.assign(new UnavailableError(message, RETRY_AFTER_SECONDS), { cause: err });
    }
  }
}
