import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { presignForward, signForward, verifySignature, type SignedRequest } from '../../../tools/local/stack/sigv4';
import { startRecordingServer, type RecordingServer } from '../../support/recording-server';

/**
 * The local AWS endpoint's signature checks, against what the AWS SDK itself signs: requests of the
 * S3 and DynamoDB clients as they arrive on the wire, and presigned URLs from the SDK's presigner.
 */
const ROLE = { accessKeyId: 'AKIAROLE0000000000', secretAccessKey: 'role/secret+key' };
const ROOT = { accessKeyId: 'registrylocal', secretAccessKey: 'registrylocalsecret' };
const secretOf = (id: string) => (id === ROLE.accessKeyId ? ROLE.secretAccessKey : undefined);

let server: RecordingServer;
let endpoint: string;
let received: SignedRequest[];

beforeAll(async () => {
  server = await startRecordingServer((request, res) => {
    res.writeHead(200, { 'content-type': 'application/json', etag: '"e"' });
    res.end(request.headers['x-amz-target'] ? '{}' : '');
  });
  endpoint = server.url;
  received = server.received;
});
afterAll(() => server.stop());

const s3 = () =>
  new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: ROLE, maxAttempts: 1 });

async function lastRequest(send: () => Promise<unknown>): Promise<SignedRequest> {
  received.length = 0;
  await send().catch(() => undefined);
  const request = received.at(-1);
  if (!request) throw new Error('nothing arrived');
  return request;
}

describe('SigV4 checks of what the SDK signs', () => {
  const cases: [string, () => Promise<unknown>][] = [
    [
      'PutObject with a streamed body and a trailing checksum',
      () =>
        s3().send(new PutObjectCommand({ Bucket: 'b', Key: 'blobs/sha256/ab/ab cd+ef', Body: Buffer.from('hello') })),
    ],
    [
      'UploadPart (query parameters)',
      () =>
        s3().send(
          new UploadPartCommand({
            Bucket: 'b',
            Key: 'uploads/x',
            UploadId: 'id/with+plus=',
            PartNumber: 3,
            Body: Buffer.alloc(10),
          }),
        ),
    ],
    [
      'ListObjectsV2 with a prefix and a token',
      () => s3().send(new ListObjectsV2Command({ Bucket: 'b', Prefix: 'uploads/ä b*', ContinuationToken: 'a+b/c==' })),
    ],
    [
      'DeleteObjects (a POST with a hashed body)',
      () => s3().send(new DeleteObjectsCommand({ Bucket: 'b', Delete: { Objects: [{ Key: 'a' }, { Key: 'b&c' }] } })),
    ],
    [
      'a DynamoDB GetItem (the signature covers the JSON body)',
      () =>
        new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: ROLE, maxAttempts: 1 }).send(
          new GetItemCommand({ TableName: 't', Key: { pk: { S: 'repo#a' } } }),
        ),
    ],
  ];

  it.each(cases)('%s verifies, and fails with another secret or a changed part', async (_, send) => {
    const request = await lastRequest(send);
    expect(verifySignature(request, secretOf)).toEqual(
      expect.objectContaining({ ok: true, accessKeyId: ROLE.accessKeyId }),
    );
    expect(verifySignature(request, () => 'another secret')).toEqual(
      expect.objectContaining({ ok: false, status: 403, code: 'SignatureDoesNotMatch' }),
    );
    expect(verifySignature({ ...request, path: `${request.path}x` }, secretOf)).toEqual(
      expect.objectContaining({ ok: false, code: 'SignatureDoesNotMatch' }),
    );
    expect(verifySignature(request, () => undefined)).toEqual(
      expect.objectContaining({ ok: false, status: 403, code: 'InvalidAccessKeyId' }),
    );
  });

  it('refuses a header-signed request 15 minutes off the clock', async () => {
    const request = await lastRequest(() => s3().send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })));
    expect(verifySignature(request, secretOf, Date.now() + 14 * 60_000).ok).toBe(true);
    expect(verifySignature(request, secretOf, Date.now() + 16 * 60_000)).toEqual(
      expect.objectContaining({ ok: false, status: 403, code: 'RequestTimeTooSkewed' }),
    );
  });

  it('checks a presigned URL, its expiry and every parameter it signed', async () => {
    const url = new URL(
      await getSignedUrl(s3(), new GetObjectCommand({ Bucket: 'b', Key: 'blobs/a b' }), { expiresIn: 60 }),
    );
    const request: SignedRequest = {
      method: 'GET',
      path: url.pathname,
      query: url.search.slice(1),
      headers: { host: url.host },
    };
    expect(verifySignature(request, secretOf)).toEqual(expect.objectContaining({ ok: true, presigned: true }));
    expect(verifySignature(request, secretOf, Date.now() + 61_000)).toEqual({
      ok: false,
      status: 403,
      code: 'AccessDenied',
      message: 'Request has expired',
    });
    expect(verifySignature({ ...request, method: 'PUT' }, secretOf).ok).toBe(false);
    expect(verifySignature({ ...request, headers: { host: 'elsewhere:1' } }, secretOf).ok).toBe(false);
    expect(
      verifySignature({ ...request, query: request.query.replace('X-Amz-Expires=60', 'X-Amz-Expires=600') }, secretOf)
        .ok,
    ).toBe(false);
    expect(verifySignature({ ...request, query: `${request.query}&response-content-type=x` }, secretOf).ok).toBe(false);
  });

  it('refuses a request without authentication, or with a malformed one', () => {
    const bare: SignedRequest = { method: 'GET', path: '/b/k', query: '', headers: { host: 'h' } };
    expect(verifySignature(bare, secretOf)).toEqual(expect.objectContaining({ ok: false, status: 403 }));
    expect(verifySignature({ ...bare, headers: { host: 'h', authorization: 'AWS abc:def' } }, secretOf)).toEqual(
      expect.objectContaining({ ok: false, status: 400, code: 'AuthorizationHeaderMalformed' }),
    );
  });
});

describe('forwarding signed afresh', () => {
  it('a header-signed request verifies with the server account, its payload hash kept', async () => {
    const request = await lastRequest(() =>
      s3().send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Buffer.from('x'), ContentType: 'application/x' })),
    );
    const forward = signForward(request, ROOT, 'us-east-1');
    const headers = { ...request.headers, ...forward.headers };
    expect(headers['x-amz-content-sha256']).toBe(request.headers['x-amz-content-sha256']);
    expect(
      verifySignature({ ...request, query: forward.query, headers }, (id) =>
        id === ROOT.accessKeyId ? ROOT.secretAccessKey : undefined,
      ).ok,
    ).toBe(true);
  });

  it('a presigned request becomes header-signed, its other parameters as sent', async () => {
    const url = new URL(
      await getSignedUrl(s3(), new GetObjectCommand({ Bucket: 'b', Key: 'k', ResponseContentType: 'a/b c' }), {
        expiresIn: 60,
      }),
    );
    const request: SignedRequest = {
      method: 'GET',
      path: url.pathname,
      query: url.search.slice(1),
      headers: { host: url.host },
    };
    const forward = signForward(request, ROOT, 'us-east-1');
    expect(forward.query).not.toMatch(/X-Amz-/);
    expect(forward.query).toMatch(/response-content-type=a%2Fb%20c/);
    expect(forward.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    const headers = { ...request.headers, ...forward.headers };
    expect(verifySignature({ ...request, query: forward.query, headers }, () => ROOT.secretAccessKey).ok).toBe(true);
  });

  it('a presigned read is handed over as a URL of the server, presigned for its host, no longer valid than the client URL', async () => {
    const signedAt = Date.now();
    const url = new URL(
      await getSignedUrl(s3(), new GetObjectCommand({ Bucket: 'b', Key: 'k', ResponseContentType: 'a/b c' }), {
        expiresIn: 60,
      }),
    );
    const request: SignedRequest = {
      method: 'GET',
      path: url.pathname,
      query: url.search.slice(1),
      headers: { host: url.host },
    };
    const later = signedAt + 20_000;
    const query = presignForward(request, ROOT, 'us-east-1', '127.0.0.1:9000', later);
    const params = new URLSearchParams(query);
    expect(params.get('X-Amz-Credential')).toMatch(new RegExp(`^${ROOT.accessKeyId}/`));
    expect(params.get('response-content-type')).toBe('a/b c');
    expect(Number(params.get('X-Amz-Expires'))).toBeGreaterThanOrEqual(39);
    expect(Number(params.get('X-Amz-Expires'))).toBeLessThanOrEqual(41);
    const rootSecret = (id: string) => (id === ROOT.accessKeyId ? ROOT.secretAccessKey : undefined);
    const handed: SignedRequest = { ...request, query, headers: { host: '127.0.0.1:9000' } };
    expect(verifySignature(handed, rootSecret, later).ok).toBe(true);
    // Signed for the server's host: not valid at the endpoint's, nor past the client URL's expiry.
    expect(verifySignature({ ...handed, headers: { host: url.host } }, rootSecret, later).ok).toBe(false);
    expect(verifySignature(handed, rootSecret, signedAt + 62_000)).toEqual(
      expect.objectContaining({ ok: false, message: 'Request has expired' }),
    );
  });
});
