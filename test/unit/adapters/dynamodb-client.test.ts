import { Readable } from 'node:stream';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { HttpResponse } from '@smithy/core/protocols';
import { createAwsClients, observeCalls } from '../../../lambda/adapters/aws-clients';

/** Clients whose DynamoDB calls are answered here, with an empty GetItem result, and counted. */
function answeredClients() {
  const clients = createAwsClients({
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    dynamodbEndpoint: 'http://127.0.0.1:1',
    s3Endpoint: 'http://127.0.0.1:1',
  });
  const sent = { count: 0 };
  clients.dynamodb.config.requestHandler = {
    handle: async () => {
      sent.count++;
      return {
        response: new HttpResponse({
          statusCode: 200,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Readable.from([Buffer.from('{}')]),
        }),
      };
    },
  } as unknown as typeof clients.dynamodb.config.requestHandler;
  return { clients, sent };
}

const getItem = () => new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' }, sk: { S: 'b' } } });

describe('the DynamoDB client', () => {
  test('resolves its middleware once per command class, without the logger middleware', async () => {
    const { clients, sent } = answeredClients();
    expect(clients.dynamodb.config.cacheMiddleware).toBe(true);
    expect(clients.dynamodb.middlewareStack.identify().join('\n')).not.toMatch(/loggerMiddleware/);
    expect(clients.dynamodb.middlewareStack.identify().join('\n')).toMatch(/registryOwnConditionalPut/);
    await clients.dynamodb.send(getItem());
    await clients.dynamodb.send(getItem());
    expect(sent.count).toBe(2);
  });

  test('an observer added after the first calls sees every later call', async () => {
    const { clients } = answeredClients();
    await clients.dynamodb.send(getItem());
    const seen: string[] = [];
    observeCalls(clients, (operation) => seen.push(operation));
    await clients.dynamodb.send(getItem());
    await clients.dynamodb.send(getItem());
    expect(seen).toEqual(['dynamodb.GetItem', 'dynamodb.GetItem']);
  });
});
