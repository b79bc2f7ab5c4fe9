import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { JsonRequestSigner, type AwsCredentials } from '../../../lambda/adapters/aws-json/json-signer';

/** The SDK's signature of the same POST, signing the same headers. */
async function sdkHeaders(credentials: AwsCredentials, now: Date, body: string, headers: Record<string, string>) {
  const signer = new SignatureV4({
    service: 'dynamodb',
    region: 'eu-west-1',
    credentials,
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'https:',
      hostname: 'dynamodb.eu-west-1.amazonaws.com',
      path: '/',
      query: {},
      headers: { host: 'dynamodb.eu-west-1.amazonaws.com', ...headers },
      body,
    },
    { signingDate: now },
  );
  return signed.headers;
}

describe('JsonRequestSigner', () => {
  const now = new Date('2026-12-03T18:40:05.123Z');
  const body = JSON.stringify({ TableName: 't', Key: { pk: { S: 'repo#a' }, sk: { S: 'tag#v1' } } });
  const headers = { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' };

  test.each([
    ['long-term keys', { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }],
    [
      'temporary credentials',
      { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret/with+chars', sessionToken: 'IQoJb3JpZ2luX2VjE//token==' },
    ],
  ])('signs as the SDK does, with %s', async (_, credentials) => {
    const signer = new JsonRequestSigner('dynamodb', 'eu-west-1');
    const sign = () =>
      signer.sign({
        host: 'dynamodb.eu-west-1.amazonaws.com',
        path: '/',
        contentType: headers['content-type'],
        target: headers['x-amz-target'],
        body,
        credentials,
        now,
      });
    const ours = sign();
    const sdk = await sdkHeaders(credentials, now, body, headers);
    expect(ours.authorization).toBe(sdk.authorization);
    expect(ours['x-amz-date']).toBe('20261203T184005Z');
    expect(ours['x-amz-security-token']).toBe(sdk['x-amz-security-token']);
    // The day's key is kept: a second request of the day signs alike.
    expect(sign().authorization).toBe(ours.authorization);
  });

  test('a new day or other credentials get their own key', () => {
    const signer = new JsonRequestSigner('dynamodb', 'eu-west-1');
    const request = {
      host: 'h',
      path: '/',
      contentType: 'application/x-amz-json-1.0',
      target: 'T.Op',
      body: '{}',
      credentials: { accessKeyId: 'A', secretAccessKey: 'one' },
      now,
    };
    const first = signer.sign(request).authorization;
    const rotated = signer.sign({
      ...request,
      credentials: { accessKeyId: 'A', secretAccessKey: 'two' },
    }).authorization;
    const nextDay = signer.sign({ ...request, now: new Date('2026-12-04T00:00:01Z') }).authorization;
    const again = signer.sign(request).authorization;
    expect(new Set([first, rotated, nextDay]).size).toBe(3);
    expect(nextDay).toContain('Credential=A/20261204/eu-west-1/dynamodb/aws4_request');
    expect(again).toBe(first);
  });
});
