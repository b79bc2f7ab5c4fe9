import { Readable } from 'node:stream';
import { HttpResponse, type HttpRequest } from '@smithy/core/protocols';
import { createAwsClients, observeCalls } from '../../../lambda/adapters/aws-clients';
import { dynamoDbReads } from '../../../lambda/adapters/dynamodb/dynamodb-reads';
import { ddb } from '../../../lambda/adapters/dynamodb/table';
import { UnavailableError } from '../../../lambda/core/errors';

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

/** Clients whose DynamoDB requests are answered here in turn, the requests kept. */
function answeredClients(...answers: Answer[]) {
  const clients = createAwsClients({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    dynamodbEndpoint: 'http://127.0.0.1:1',
    s3Endpoint: 'http://127.0.0.1:1',
  });
  const sent: HttpRequest[] = [];
  clients.dynamodb.config.requestHandler = {
    handle: async (request: HttpRequest) => {
      sent.push(request);
      const answer = answers[Math.min(sent.length, answers.length) - 1]!;
      return {
        response: new HttpResponse({
          statusCode: answer.status,
          headers: { 'content-type': 'application/x-amz-json-1.0', ...answer.headers },
          body: Readable.from([Buffer.from(JSON.stringify(answer.body))]),
        }),
      };
    },
  } as unknown as typeof clients.dynamodb.config.requestHandler;
  return { clients, sent, reads: dynamoDbReads(clients.dynamodb) };
}

const KEY = { pk: { S: 'repo#a' }, sk: { S: 'manifest#x' } };

describe('the lean DynamoDB reads', () => {
  test('a GetItem is the SDK-shaped JSON request, signed, and binary attributes come back as bytes', async () => {
    const { reads, sent } = answeredClients({
      status: 200,
      body: { Item: { ...KEY, body: { B: Buffer.from('{"a":1}').toString('base64') }, size: { N: '7' } } },
    });
    const out = await reads.getItem({ TableName: 't', Key: KEY, ConsistentRead: true });
    expect(Buffer.from(out.Item!.body!.B!).toString()).toBe('{"a":1}');
    expect(out.Item!.body!.B).toBeInstanceOf(Uint8Array);
    expect(out.Item!.size).toEqual({ N: '7' });
    const request = sent[0]!;
    expect(request.method).toBe('POST');
    expect(`${request.protocol}//${request.hostname}:${request.port}${request.path}`).toBe('http://127.0.0.1:1/');
    expect(request.headers['x-amz-target']).toBe('DynamoDB_20120810.GetItem');
    expect(request.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(request.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/dynamodb\/aws4_request, SignedHeaders=[^,]*x-amz-target[^,]*, Signature=[0-9a-f]{64}$/,
    );
    expect(JSON.parse(request.body as string)).toEqual({ TableName: 't', Key: KEY, ConsistentRead: true });
  });

  test('a Query sends binary start keys as base64 and decodes every item and the last key', async () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    const { reads, sent } = answeredClients({
      status: 200,
      body: {
        Items: [{ pk: { S: 'p' }, sk: { B: bytes.toString('base64') }, l: { L: [{ B: bytes.toString('base64') }] } }],
        LastEvaluatedKey: { pk: { S: 'p' }, sk: { B: bytes.toString('base64') } },
      },
    });
    const out = await reads.query({
      TableName: 't',
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: 'p' } },
      ExclusiveStartKey: { pk: { S: 'p' }, sk: { B: new Uint8Array(bytes) } },
    });
    expect(JSON.parse(sent[0]!.body as string).ExclusiveStartKey).toEqual({
      pk: { S: 'p' },
      sk: { B: bytes.toString('base64') },
    });
    expect(Buffer.from(out.Items![0]!.sk!.B!)).toEqual(bytes);
    expect(Buffer.from(out.Items![0]!.l!.L![0]!.B!)).toEqual(bytes);
    expect(Buffer.from(out.LastEvaluatedKey!.sk!.B!)).toEqual(bytes);
  });

  test('throttling is retried by the client retry strategy, and every attempt is observed', async () => {
    const throttled = {
      status: 400,
      body: { __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'slow' },
    };
    const { clients, reads, sent } = answeredClients(throttled, { status: 200, body: { Item: KEY } });
    const seen: string[] = [];
    observeCalls(clients, (operation) => seen.push(operation));
    const out = await reads.getItem({ TableName: 't', Key: KEY });
    expect(out.Item).toEqual(KEY);
    expect(sent).toHaveLength(2);
    expect(seen).toEqual(['dynamodb.GetItem', 'dynamodb.GetItem']);
  });

  test('a 5xx that lasts ends after the attempts as UnavailableError; a client error is not retried', async () => {
    const failing = answeredClients({ status: 500, body: { __type: 'InternalServerError', message: 'oops' } });
    const err = await ddb(() => failing.reads.getItem({ TableName: 't', Key: KEY })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(failing.sent).toHaveLength(3);

    const refused = answeredClients({
      status: 400,
      body: { __type: 'com.amazon.coral.validate#ValidationException', message: 'bad key' },
    });
    const invalid = await refused.reads.getItem({ TableName: 't', Key: KEY }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({
      name: 'ValidationException',
      message: 'bad key',
      $metadata: { httpStatusCode: 400 },
    });
    expect(refused.sent).toHaveLength(1);
  });

  test('without a given endpoint, the environment names it, else the region does', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.AWS_ENDPOINT_URL;
      delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
      const regional = createAwsClients({
        region: 'eu-west-1',
        credentials: { accessKeyId: 'A', secretAccessKey: 's' },
      });
      const sentTo: string[] = [];
      regional.dynamodb.config.requestHandler = {
        handle: async (request: HttpRequest) => {
          sentTo.push(`${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ''}`);
          return {
            response: new HttpResponse({ statusCode: 200, headers: {}, body: Readable.from([Buffer.from('{}')]) }),
          };
        },
      } as unknown as typeof regional.dynamodb.config.requestHandler;
      await dynamoDbReads(regional.dynamodb).getItem({ TableName: 't', Key: KEY });
      process.env.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:4566';
      const configured = createAwsClients({
        region: 'eu-west-1',
        credentials: { accessKeyId: 'A', secretAccessKey: 's' },
      });
      configured.dynamodb.config.requestHandler = regional.dynamodb.config.requestHandler;
      await dynamoDbReads(configured.dynamodb).getItem({ TableName: 't', Key: KEY });
      expect(sentTo).toEqual(['https://dynamodb.eu-west-1.amazonaws.com', 'http://127.0.0.1:4566']);
    } finally {
      process.env = saved;
    }
  });
});
