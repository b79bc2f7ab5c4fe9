import { createAwsClients, observeCalls } from '../../../lambda/adapters/aws-clients';
import { dynamoDbReads } from '../../../lambda/adapters/dynamodb/dynamodb-reads';
import { ddb } from '../../../lambda/adapters/dynamodb/table';
import { UnavailableError } from '../../../lambda/core/errors';
import { verifySignature, type SignedRequest } from '../../../tools/local/stack/sigv4';
import { startRecordingServer, type RecordingServer } from '../../support/recording-server';

/**
 * The short path of the table reads (GetItem, Query) against a server that answers as DynamoDB
 * would: requests as they arrive on the wire, checked by the local endpoint's SigV4 verifier, and
 * the client's retry strategy at work on what the service answers.
 */
const KEYS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret/key+1' };
const KEY = { pk: { S: 'repo#a' }, sk: { S: 'manifest#x' } };

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

let server: RecordingServer;
let endpoint: string;
let received: SignedRequest[];
let answers: Answer[] = [];

beforeAll(async () => {
  server = await startRecordingServer((_, res) => {
    const answer = answers.length > 1 ? answers.shift()! : (answers[0] ?? { status: 200, body: {} });
    res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify(answer.body));
  });
  endpoint = server.url;
  received = server.received;
});
afterAll(() => server.stop());
beforeEach(() => {
  received.length = 0;
  answers = [];
});

/** Clients of the server above; the last answer given repeats. */
function answeredBy(...given: Answer[]) {
  answers = given;
  const clients = createAwsClients({ region: 'eu-west-1', credentials: KEYS, dynamodbEndpoint: endpoint });
  return { clients, reads: dynamoDbReads(clients.dynamodb) };
}

describe('the lean DynamoDB reads', () => {
  test('a GetItem is the JSON request the SDK sends, signed, and binary attributes come back as bytes', async () => {
    const { reads } = answeredBy({
      status: 200,
      body: { Item: { ...KEY, body: { B: Buffer.from('{"a":1}').toString('base64') }, size: { N: '7' } } },
    });
    const out = await reads.getItem({ TableName: 't', Key: KEY, ConsistentRead: true });
    expect(Buffer.from(out.Item!.body!.B!).toString()).toBe('{"a":1}');
    expect(out.Item!.body!.B).toBeInstanceOf(Uint8Array);
    expect(out.Item!.size).toEqual({ N: '7' });
    const request = received[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/');
    expect(request.headers).toMatchObject({
      'x-amz-target': 'DynamoDB_20120810.GetItem',
      'content-type': 'application/x-amz-json-1.0',
    });
    expect(request.headers.authorization).toMatch(/Credential=AKIDTEST\/\d{8}\/eu-west-1\/dynamodb\/aws4_request/);
    const secretOf = (id: string) => (id === KEYS.accessKeyId ? KEYS.secretAccessKey : undefined);
    expect(verifySignature(request, secretOf)).toEqual({ ok: true, accessKeyId: KEYS.accessKeyId, presigned: false });
    expect(JSON.parse(request.body!.toString())).toEqual({ TableName: 't', Key: KEY, ConsistentRead: true });
  });

  test('a Query sends binary start keys as base64 and decodes every item and the last key', async () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    const { reads } = answeredBy({
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
    expect(JSON.parse(received[0]!.body!.toString()).ExclusiveStartKey).toEqual({
      pk: { S: 'p' },
      sk: { B: bytes.toString('base64') },
    });
    expect(Buffer.from(out.Items![0]!.sk!.B!)).toEqual(bytes);
    expect(Buffer.from(out.Items![0]!.l!.L![0]!.B!)).toEqual(bytes);
    expect(Buffer.from(out.LastEvaluatedKey!.sk!.B!)).toEqual(bytes);
  });

  test('throttling is retried by the client retry strategy, and every attempt is observed', async () => {
    const { clients, reads } = answeredBy(
      {
        status: 400,
        body: { __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'slow' },
      },
      { status: 200, body: { Item: KEY } },
    );
    const seen: string[] = [];
    observeCalls(clients, (operation) => seen.push(operation));
    const out = await reads.getItem({ TableName: 't', Key: KEY });
    expect(out.Item).toEqual(KEY);
    expect(received).toHaveLength(2);
    expect(seen).toEqual(['dynamodb.GetItem', 'dynamodb.GetItem']);
  });

  test('a 5xx that lasts ends after the attempts as UnavailableError; a client error is not retried', async () => {
    const failing = answeredBy({ status: 500, body: { __type: 'InternalServerError', message: 'oops' } });
    const err = await ddb(() => failing.reads.getItem({ TableName: 't', Key: KEY })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(received).toHaveLength(3);

    received.length = 0;
    const refused = answeredBy({
      status: 400,
      body: { __type: 'com.amazon.coral.validate#ValidationException', message: 'bad key' },
    });
    const invalid = await refused.reads.getItem({ TableName: 't', Key: KEY }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({
      name: 'ValidationException',
      message: 'bad key',
      $metadata: { httpStatusCode: 400 },
    });
    expect(received).toHaveLength(1);
  });

  test('a server that does not answer is an unreachable store after the attempts, each within the timeout', async () => {
    const silent = await startRecordingServer(() => {});
    try {
      const clients = createAwsClients({
        region: 'eu-west-1',
        credentials: KEYS,
        dynamodbEndpoint: silent.url,
        retry: { maxAttempts: 2, connectTimeoutMs: 100, requestTimeoutMs: 150, idleTimeoutMs: 150, budgetMs: 2000 },
      });
      const started = Date.now();
      const err = await ddb(() => dynamoDbReads(clients.dynamodb).getItem({ TableName: 't', Key: KEY })).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as UnavailableError).message).toMatch(/did not answer/);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      await silent.stop();
    }
  });

  test('without a given endpoint, the environment names it, else the region does', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.AWS_ENDPOINT_URL;
      process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
      const configured = createAwsClients({ region: 'eu-west-1', credentials: KEYS });
      await dynamoDbReads(configured.dynamodb).getItem({ TableName: 't', Key: KEY });
      expect(received).toHaveLength(1);
      delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
      const regional = createAwsClients({ region: 'eu-west-1', credentials: KEYS });
      const target = await (
        dynamoDbReads(regional.dynamodb) as unknown as { resolveTarget(): Promise<{ url: URL }> }
      ).resolveTarget();
      expect(target.url.href).toBe('https://dynamodb.eu-west-1.amazonaws.com/');
    } finally {
      process.env = saved;
    }
  });
});
