import { REPOSITORY_PARTITION_PREFIX, UPLOAD_SESSION_PARTITION_PREFIX } from '../../config/table-schema';
import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { ConcurrentModificationError, UnavailableError } from '../../core/errors';
import { outageError, RETRY_AFTER_BUSY_SECONDS } from '../outage';

/**
 * The single table's key layout (see docs/storage.md). Partition key `pk`, sort key `sk`, TTL `ttl`.
 */
export const K = {
  blob: (digest: string) => ({ pk: `blob#${digest}`, sk: 'blob' }),
  link: (name: string, digest: string) => ({ pk: `${REPOSITORY_PARTITION_PREFIX}${name}`, sk: `link#${digest}` }),
  manifest: (name: string, digest: string) => ({
    pk: `${REPOSITORY_PARTITION_PREFIX}${name}`,
    sk: `manifest#${digest}`,
  }),
  tag: (name: string, tag: string) => ({ pk: `${REPOSITORY_PARTITION_PREFIX}${name}`, sk: `tag#${tag}` }),
  referrer: (name: string, subject: string, digest: string) => ({
    pk: `${REPOSITORY_PARTITION_PREFIX}${name}`,
    sk: `referrer#${subject}#${digest}`,
  }),
  catalog: (name: string) => ({ pk: 'catalog', sk: name }),
  upload: (id: string) => ({ pk: `${UPLOAD_SESSION_PARTITION_PREFIX}${id}`, sk: 'upload' }),
} as const;

export type Item = Record<string, AttributeValue>;

export const s = (value: string): AttributeValue => ({ S: value });
export const n = (value: number): AttributeValue => ({ N: String(value) });
export const b = (value: Uint8Array): AttributeValue => ({ B: value });

export function key(k: { pk: string; sk: string }): Item {
  return { pk: s(k.pk), sk: s(k.sk) };
}

export function str(item: Item, field: string): string | undefined {
  return item[field]?.S;
}

export function num(item: Item, field: string): number | undefined {
  const raw = item[field]?.N;
  return raw === undefined ? undefined : Number(raw);
}

export function bin(item: Item, field: string): Uint8Array | undefined {
  return item[field]?.B;
}

/**
 * Every item a paginated Query or Scan returns: `page(start)` sends one request from `start` (undefined
 * for the first), and pages are followed until DynamoDB reports no more.
 */
export async function* eachItem(
  page: (start: Item | undefined) => Promise<{ Items?: Item[]; LastEvaluatedKey?: Item }>,
): AsyncIterable<Item> {
  let start: Item | undefined;
  do {
    const out = await ddb(() => page(start));
    yield* out.Items ?? [];
    start = out.LastEvaluatedKey;
  } while (start);
}

/**
 * Runs one DynamoDB call and translates vendor errors at the boundary: lost conditions become
 * ConcurrentModificationError; transaction conflicts, throttling, 5xx answers, timeouts and broken
 * connections left after the SDK's retries become UnavailableError (503 with Retry-After), never
 * an unknown error.
 */
export async function ddb<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) throw new ConcurrentModificationError(err.message);
    if (err instanceof TransactionCanceledException) {
      const reasons = err.CancellationReasons ?? [];
      if (reasons.some((r) => r.Code === 'ConditionalCheckFailed')) throw new ConcurrentModificationError(err.message);
      throw new UnavailableError('metadata store transaction conflicted; retry', RETRY_AFTER_BUSY_SECONDS, err);
    }
    throw outageError(err, 'metadata store') ?? err;
  }
}
