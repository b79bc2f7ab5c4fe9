import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { MODE_ITEM_KEY } from '../../config/table-schema';
import { UnavailableError } from '../../core/errors';
import { isRegistryMode, type ModeStore, type RegistryMode } from '../../core/ports/mode';
import { ddb, key, s, str } from './table';

export interface DynamoDbModeStoreOptions {
  /**
   * Deadline of one read, retries included: a slow table must not hold a push for long on the mode
   * alone (the mode service then keeps the last known mode).
   * @default 1000
   */
  readonly readTimeoutMs?: number;
}

/**
 * The mode as one item of the metadata table (`MODE_ITEM_KEY`, attribute `mode`), read with the
 * DynamoDB client the functions have anyway. No item is read-write, so a new table, and a stack
 * deployed before the mode lived here, serve writes. Reads are strongly consistent: a switch is seen
 * by the next read of every environment, and `maintenance status` shows what was just written.
 */
export class DynamoDbModeStore implements ModeStore {
  private readonly readTimeoutMs: number;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    options: DynamoDbModeStoreOptions = {},
  ) {
    this.readTimeoutMs = options.readTimeoutMs ?? 1000;
  }

  async read(): Promise<RegistryMode> {
    const out = await ddb(async () => {
      try {
        return await this.client.send(
          new GetItemCommand({ TableName: this.table, Key: key(MODE_ITEM_KEY), ConsistentRead: true }),
          { abortSignal: AbortSignal.timeout(this.readTimeoutMs) },
        );
      } catch (err) {
        const name = err instanceof Error ? err.name : '';
        if (name === 'AbortError' || name === 'TimeoutError') {
          throw new UnavailableError('the mode item did not answer in time', 1, err);
        }
        throw err;
      }
    });
    if (!out.Item) return 'read-write';
    const value = str(out.Item, 'mode');
    if (!isRegistryMode(value)) {
      throw new Error(`the mode item of table ${this.table} holds "${value ?? ''}", not read-write or read-only`);
    }
    return value;
  }

  async write(mode: RegistryMode): Promise<void> {
    // The port's type is not checked at run time by a caller in plain JavaScript; the table itself
    // has no allowed pattern as the SSM parameter had.
    if (!isRegistryMode(mode)) throw new Error(`"${String(mode)}" is not read-write or read-only`);
    // A mistyped table name fails here (ResourceNotFoundException): DynamoDB creates no table.
    await ddb(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { ...key(MODE_ITEM_KEY), mode: s(mode), changedAt: s(new Date().toISOString()) },
        }),
      ),
    );
  }
}
