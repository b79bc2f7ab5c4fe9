import {
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AccessRule } from '../../core/auth/access';
import { ConcurrentModificationError } from '../../core/errors';
import type { AccountStore, FailureCount, TokenRecord, UserRecord } from '../../core/ports/accounts';
import { ddb, eachItem, key, n, num, s, str, type Item } from './table';
import { dynamoDbReads } from './dynamodb-reads';

/**
 * Users, robot tokens and failed sign-in counters, in a table of their own so that only the
 * functions that sign people in can read password hashes. Same key schema as the metadata table:
 * `user#<name>` holds the user (`user`) and their tokens (`token#<id>`); `failures#<key>` the
 * counters, which DynamoDB TTL removes after their window.
 */
const A = {
  user: (name: string) => ({ pk: `user#${name}`, sk: 'user' }),
  token: (user: string, id: string) => ({ pk: `user#${user}`, sk: `token#${id}` }),
  failures: (k: string) => ({ pk: `failures#${k}`, sk: 'failures' }),
} as const;

export class DynamoDbAccounts implements AccountStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  async getUser(name: string): Promise<UserRecord | undefined> {
    const item = await this.get(A.user(name));
    return item && toUser(item);
  }

  async putUser(user: UserRecord): Promise<void> {
    await this.put({
      ...key(A.user(user.name)),
      name: s(user.name),
      ...(user.passwordHash ? { passwordHash: s(user.passwordHash) } : {}),
      rules: s(JSON.stringify(user.rules)),
      readOnly: { BOOL: user.readOnly },
      credentialsChangedAt: n(user.credentialsChangedAt),
      createdAt: n(user.createdAt),
    });
  }

  async deleteUser(name: string): Promise<boolean> {
    const items = await this.queryUser(name);
    await Promise.all(
      items.map((item) =>
        ddb(() =>
          this.client.send(new DeleteItemCommand({ TableName: this.table, Key: { pk: item.pk!, sk: item.sk! } })),
        ),
      ),
    );
    return items.some((item) => str(item, 'sk') === 'user');
  }

  async listUsers(): Promise<UserRecord[]> {
    const users: UserRecord[] = [];
    const scan = (start: Item | undefined) =>
      this.client.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'sk = :user',
          ExpressionAttributeValues: { ':user': s('user') },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
    for await (const item of eachItem(scan)) users.push(toUser(item));
    return users.sort((x, y) => x.name.localeCompare(y.name));
  }

  async getToken(user: string, id: string): Promise<TokenRecord | undefined> {
    const item = await this.get(A.token(user, id));
    return item && toToken(item);
  }

  async putToken(token: TokenRecord): Promise<void> {
    await this.put({
      ...key(A.token(token.user, token.id)),
      id: s(token.id),
      user: s(token.user),
      secretHash: s(token.secretHash),
      description: s(token.description),
      readOnly: { BOOL: token.readOnly },
      createdAt: n(token.createdAt),
      ...(token.expiresAt !== undefined
        ? { expiresAt: n(token.expiresAt), ttl: n(Math.ceil(token.expiresAt / 1000) + 86_400) }
        : {}),
    });
  }

  async deleteToken(user: string, id: string): Promise<boolean> {
    const out = await ddb(() =>
      this.client.send(
        new DeleteItemCommand({ TableName: this.table, Key: key(A.token(user, id)), ReturnValues: 'ALL_OLD' }),
      ),
    );
    return out.Attributes !== undefined;
  }

  async listTokens(user: string): Promise<TokenRecord[]> {
    return (await this.queryUser(user)).filter((item) => str(item, 'sk')?.startsWith('token#')).map(toToken);
  }

  async failures(k: string, now: number): Promise<FailureCount> {
    const item = await this.get(A.failures(k));
    const windowEnds = (item && num(item, 'windowEnds')) ?? 0;
    return windowEnds > now ? { count: num(item!, 'count') ?? 0, windowEnds } : { count: 0, windowEnds: now };
  }

  async recordFailure(k: string, now: number, windowSeconds: number): Promise<FailureCount> {
    try {
      const out = await ddb(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: key(A.failures(k)),
            UpdateExpression: 'ADD #count :one',
            ConditionExpression: 'windowEnds > :now',
            ExpressionAttributeNames: { '#count': 'count' },
            ExpressionAttributeValues: { ':one': n(1), ':now': n(now) },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      const item = out.Attributes ?? {};
      return { count: num(item, 'count') ?? 1, windowEnds: num(item, 'windowEnds') ?? now };
    } catch (err) {
      if (!(err instanceof ConcurrentModificationError)) throw err;
      // No window open: start one. Two failures racing here may count as one, never as more.
      const windowEnds = now + windowSeconds * 1000;
      await this.put({
        ...key(A.failures(k)),
        count: n(1),
        windowEnds: n(windowEnds),
        ttl: n(Math.ceil(windowEnds / 1000) + 3600),
      });
      return { count: 1, windowEnds };
    }
  }

  private async get(k: { pk: string; sk: string }): Promise<Item | undefined> {
    const out = await ddb(() =>
      dynamoDbReads(this.client).getItem({ TableName: this.table, Key: key(k), ConsistentRead: true }),
    );
    return out.Item;
  }

  private async put(item: Item): Promise<void> {
    await ddb(() => this.client.send(new PutItemCommand({ TableName: this.table, Item: item })));
  }

  private async queryUser(name: string): Promise<Item[]> {
    const items: Item[] = [];
    const query = (start: Item | undefined) =>
      dynamoDbReads(this.client).query({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': s(A.user(name).pk) },
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
    for await (const item of eachItem(query)) items.push(item);
    return items;
  }
}

function toUser(item: Item): UserRecord {
  const passwordHash = str(item, 'passwordHash');
  return {
    name: str(item, 'name') ?? '',
    ...(passwordHash ? { passwordHash } : {}),
    rules: JSON.parse(str(item, 'rules') ?? '[]') as AccessRule[],
    readOnly: item.readOnly?.BOOL ?? false,
    credentialsChangedAt: num(item, 'credentialsChangedAt') ?? 0,
    createdAt: num(item, 'createdAt') ?? 0,
  };
}

function toToken(item: Item): TokenRecord {
  const expiresAt = num(item, 'expiresAt');
  return {
    id: str(item, 'id') ?? '',
    user: str(item, 'user') ?? '',
    secretHash: str(item, 'secretHash') ?? '',
    description: str(item, 'description') ?? '',
    readOnly: item.readOnly?.BOOL ?? false,
    createdAt: num(item, 'createdAt') ?? 0,
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}
