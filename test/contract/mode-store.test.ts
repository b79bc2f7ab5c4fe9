import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { AwsClients } from '../../lambda/adapters/aws-clients';
import { createDynamoDbClient } from '../../lambda/adapters/dynamodb/dynamodb-client';
import { DynamoDbModeStore } from '../../lambda/adapters/dynamodb/dynamodb-mode-store';
import { MemoryModeStore } from '../../lambda/adapters/memory/memory-mode-store';
import { FileModeStore, MODE_FILE } from '../../lambda/adapters/modefile/file-mode-store';
import { MODE_ITEM_KEY } from '../../lambda/config/table-schema';
import { UnavailableError } from '../../lambda/core/errors';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../tools/local/emulators';
import { freshStorage, testClients } from '../support/aws';
import { modeStoreContract } from './mode-store.contract';

modeStoreContract('memory', async () => new MemoryModeStore());
modeStoreContract('file (local mode)', async () => new FileModeStore(mkdtempSync(join(tmpdir(), 'mode-'))));

// The metadata table on the run's DynamoDB server: one table for the file, its mode item removed
// before each test, so each starts as a new stack (or one deployed before the mode lived there).
let clients: AwsClients;
let table: string;
const modeKey = { pk: { S: MODE_ITEM_KEY.pk }, sk: { S: MODE_ITEM_KEY.sk } };
beforeAll(async () => {
  clients = testClients();
  ({ table } = await freshStorage(clients));
});
afterAll(() => {
  clients.s3.destroy();
  clients.dynamodb.destroy();
});

modeStoreContract('metadata table item', async () => {
  await clients.dynamodb.send(new DeleteItemCommand({ TableName: table, Key: modeKey }));
  return new DynamoDbModeStore(clients.dynamodb, table);
});

describe('DynamoDbModeStore', () => {
  test('writes the mode as the mode item of the table', async () => {
    await new DynamoDbModeStore(clients.dynamodb, table).write('read-only');
    const out = await clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: modeKey }));
    expect(out.Item?.mode).toEqual({ S: 'read-only' });
    await new DynamoDbModeStore(clients.dynamodb, table).write('read-write');
  });

  test('a value that is no mode is an error naming the table and the value', async () => {
    await clients.dynamodb.send(
      new PutItemCommand({ TableName: table, Item: { ...modeKey, mode: { S: 'readonly' } } }),
    );
    try {
      await expect(new DynamoDbModeStore(clients.dynamodb, table).read()).rejects.toThrow(
        `the mode item of table ${table} holds "readonly"`,
      );
    } finally {
      await clients.dynamodb.send(new DeleteItemCommand({ TableName: table, Key: modeKey }));
    }
  });

  test('a table that does not exist is an error, and writing creates none', async () => {
    const store = new DynamoDbModeStore(clients.dynamodb, `${table}-typo`);
    await expect(store.write('read-only')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(store.read()).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  test('a table that does not answer is UnavailableError after the read deadline, retries included', async () => {
    // A server that accepts connections and never answers.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', () => ok()));
    const port = (silent.address() as { port: number }).port;
    const stuck = createDynamoDbClient({
      dynamodbEndpoint: `http://127.0.0.1:${port}`,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      const started = Date.now();
      const err = await new DynamoDbModeStore(stuck, table, { readTimeoutMs: 300 }).read().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      stuck.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((ok) => silent.close(ok));
    }
  });
});

describe('FileModeStore', () => {
  test('a mode file edited by hand is read, whitespace and all; anything else is an error naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mode-'));
    writeFileSync(join(dir, MODE_FILE), '  read-only \n');
    await expect(new FileModeStore(dir).read()).resolves.toBe('read-only');
    writeFileSync(join(dir, MODE_FILE), 'maintenance\n');
    await expect(new FileModeStore(dir).read()).rejects.toThrow(`${join(dir, MODE_FILE)} holds "maintenance"`);
  });
});
