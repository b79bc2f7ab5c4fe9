import { Readable } from 'node:stream';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { HttpResponse } from '@smithy/core/protocols';
import type { HttpRequest } from '@smithy/types';
import { createDynamoDbClient } from '../../../lambda/adapters/dynamodb/dynamodb-client';
import { createS3Clients } from '../../../lambda/adapters/s3/s3-clients';

const credentials = { accessKeyId: 'AKIDFIRST', secretAccessKey: 'secret' };

/** Answers every request with `body` and keeps the requests as signed. */
function answering<C extends { config: { requestHandler: unknown } }>(client: C, body = '{}'): HttpRequest[] {
  const sent: HttpRequest[] = [];
  client.config.requestHandler = {
    handle: async (request: HttpRequest) => {
      sent.push(request);
      return {
        response: new HttpResponse({
          statusCode: 200,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Readable.from([Buffer.from(body)]),
        }),
      };
    },
  };
  return sent;
}

type SignerOf = (authScheme?: object) => Promise<unknown>;

describe('the clients keep their SigV4 signer', () => {
  test('DynamoDB: one signer for every call, each request signed with its own date', async () => {
    const dynamodb = createDynamoDbClient({ region: 'eu-west-1', credentials, dynamodbEndpoint: 'http://127.0.0.1:1' });
    const sent = answering(dynamodb);
    const signer = dynamodb.config.signer as unknown as SignerOf;
    expect(await signer()).toBe(await signer());
    const get = () => new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' }, sk: { S: 'b' } } });
    await dynamodb.send(get());
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await dynamodb.send(get());
    expect(sent).toHaveLength(2);
    const [first, second] = sent.map((r) => r.headers);
    expect(first?.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDFIRST\/\d{8}\/eu-west-1\/dynamodb\/aws4_request, /,
    );
    expect(first?.['x-amz-date']).not.toBe(second?.['x-amz-date']);
    expect(first?.authorization).not.toBe(second?.authorization);
  });

  test('DynamoDB: credentials given later sign the calls after', async () => {
    const dynamodb = createDynamoDbClient({ region: 'eu-west-1', credentials, dynamodbEndpoint: 'http://127.0.0.1:1' });
    const sent = answering(dynamodb);
    const get = () => new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' }, sk: { S: 'b' } } });
    await dynamodb.send(get());
    dynamodb.config.credentials = async () => ({ accessKeyId: 'AKIDSECOND', secretAccessKey: 'other' });
    await dynamodb.send(get());
    expect(sent.map((r) => /Credential=(\w+)\//.exec(r.headers.authorization ?? '')?.[1])).toEqual([
      'AKIDFIRST',
      'AKIDSECOND',
    ]);
  });

  test('S3: a signer per auth scheme of the endpoint, kept across calls', async () => {
    const { s3 } = createS3Clients({
      region: 'us-east-1',
      credentials,
      s3Endpoint: 'http://127.0.0.1:1',
      forcePathStyle: true,
    });
    const sent = answering(s3, '');
    const signer = s3.config.signer as unknown as SignerOf;
    const sigv4 = { name: 'sigv4', signingName: 's3', signingRegion: 'us-east-1' };
    expect(await signer(sigv4)).toBe(await signer({ ...sigv4 }));
    expect(await signer(sigv4)).not.toBe(await signer({ ...sigv4, signingRegion: 'eu-west-1' }));
    await s3.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }));
    await s3.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }));
    expect(sent).toHaveLength(2);
    for (const request of sent) {
      expect(request.headers.authorization).toMatch(/Credential=AKIDFIRST\/\d{8}\/us-east-1\/s3\/aws4_request/);
    }
  });
});
