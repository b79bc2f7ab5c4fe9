import { DeleteItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConcurrentModificationError } from '../../core/errors';
import type { FillClaims } from '../../core/services/pull-through';
import { ddb, key, n, s } from './table';

/** A fill claim's item: a partition of its own per digest, which nothing else reads (garbage collection skips it). */
const claimKey = (digest: string) => ({ pk: `fill#${digest}`, sk: 'fill' });

/**
 * Pull-through fill claims in the metadata table: one item per blob being fetched from an
 * upstream, taken with a conditional put (free, or expired) and deleted by its owner when the fill
 * ends. DynamoDB's TTL removes claims a dead owner left, a day after they expired.
 */
export class DynamoDbFillClaims implements FillClaims {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(digest: string, owner: string, seconds: number): Promise<boolean> {
    const now = Math.floor(this.now() / 1000);
    try {
      await ddb(() =>
        this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: {
              ...key(claimKey(digest)),
              owner: s(owner),
              expiresAt: n(now + seconds),
              ttl: n(now + seconds + 86_400),
            },
            ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
            ExpressionAttributeValues: { ':now': n(now) },
          }),
        ),
      );
      return true;
    } catch (err) {
      if (err instanceof ConcurrentModificationError) return false;
      throw err;
    }
  }

  async release(digest: string, owner: string): Promise<void> {
    try {
      await ddb(() =>
        this.client.send(
          new DeleteItemCommand({
            TableName: this.table,
            Key: key(claimKey(digest)),
            ConditionExpression: '#owner = :owner',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':owner': s(owner) },
          }),
        ),
      );
    } catch (err) {
      if (!(err instanceof ConcurrentModificationError)) throw err;
    }
  }
}
