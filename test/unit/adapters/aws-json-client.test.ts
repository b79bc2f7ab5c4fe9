import type { ServerResponse } from 'node:http';
import { AwsJsonClient, AwsServiceError, dnsSuffix } from '../../../lambda/adapters/aws-json/aws-json-client';
import { KMS_SERVICE } from '../../../lambda/adapters/kms/kms-public-keys';
import { verifySignature, type SignedRequest } from '../../../tools/local/stack/sigv4';
import { startRecordingServer, type RecordingServer } from '../../support/recording-server';

/**
 * The JSON-protocol client the functions call KMS with: its requests as they arrive on the wire,
 * checked by the local endpoint's SigV4 verifier (itself checked against what the SDK signs,
 * test/unit/local/sigv4.test.ts), and its answers to the errors a service gives.
 */
const ROLE = { accessKeyId: 'AKIAROLE0000000000', secretAccessKey: 'role/secret+key', sessionToken: 'session/token' };
const secretOf = (id: string) => (id === ROLE.accessKeyId ? ROLE.secretAccessKey : undefined);

let server: RecordingServer;
let endpoint: string;
let received: SignedRequest[];
/** Answers the next requests, one each; an empty queue answers `{}`, `'hang'` never answers. */
let answers: ((res: ServerResponse) => void)[] | 'hang' = [];
const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', ...headers });
    res.end(JSON.stringify(body));
  };

beforeAll(async () => {
  server = await startRecordingServer((_, res) => {
    if (answers === 'hang') return;
    (answers.shift() ?? json(200, {}))(res);
  });
  endpoint = server.url;
  received = server.received;
});
afterAll(() => server.stop());
beforeEach(() => {
  received.length = 0;
  answers = [];
});

const client = (options: { maxAttempts?: number; attemptTimeoutMs?: number } = {}) =>
  new AwsJsonClient(KMS_SERVICE, { endpoint, region: 'eu-west-1', credentials: ROLE, ...options });

describe('AwsJsonClient', () => {
  test('signs the call as SigV4 for the service and region, session token included, and returns the output', async () => {
    answers = [json(200, { KeyId: 'k', PublicKey: 'AAEC' })];
    await expect(client().call('GetPublicKey', { KeyId: 'k' })).resolves.toEqual({ KeyId: 'k', PublicKey: 'AAEC' });
    const [request] = received;
    expect(request?.headers).toMatchObject({
      'x-amz-target': 'TrentService.GetPublicKey',
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-security-token': ROLE.sessionToken,
    });
    expect(request?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIAROLE0000000000\/\d{8}\/eu-west-1\/kms\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}$/,
    );
    expect(JSON.parse(request!.body!.toString())).toEqual({ KeyId: 'k' });
    expect(verifySignature(request!, secretOf)).toEqual({ ok: true, accessKeyId: ROLE.accessKeyId, presigned: false });
    expect(verifySignature({ ...request!, body: Buffer.from('{"KeyId":"x"}') }, secretOf)).toMatchObject({ ok: false });
  });

  test("an error answer is AwsServiceError named by the service's type, and a refusal is not retried", async () => {
    answers = [json(400, { __type: 'com.amazonaws.kms#NotFoundException', message: 'Key not found' })];
    const err = await client()
      .call('GetPublicKey', {})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AwsServiceError);
    expect(err).toMatchObject({
      name: 'NotFoundException',
      message: 'Key not found',
      $metadata: { httpStatusCode: 400 },
    });
    expect(received).toHaveLength(1);
  });

  test('throttling and 5xx answers are retried, up to maxAttempts', async () => {
    answers = [json(400, { __type: 'ThrottlingException', message: 'slow down' }), json(503, {}), json(200, { ok: 1 })];
    await expect(client().call('GetPublicKey', {})).resolves.toEqual({ ok: 1 });
    expect(received).toHaveLength(3);

    received.length = 0;
    answers = [1, 2].map(() =>
      json(500, {}, { 'x-amzn-errortype': 'KMSInternalException:http://internal.amazon.com/' }),
    );
    await expect(client({ maxAttempts: 2 }).call('GetPublicKey', {})).rejects.toMatchObject({
      name: 'KMSInternalException',
      $metadata: { httpStatusCode: 500 },
    });
    expect(received).toHaveLength(2);
  });

  test('an attempt that gets no answer ends at its deadline, and so does the call after its attempts', async () => {
    answers = 'hang';
    const started = Date.now();
    const err = await client({ maxAttempts: 2, attemptTimeoutMs: 200 })
      .call('GetPublicKey', {})
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect(received).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test("the caller's abort signal ends the call without a retry", async () => {
    answers = 'hang';
    const err = await client({ attemptTimeoutMs: 5000 })
      .call('GetPublicKey', {}, { abortSignal: AbortSignal.timeout(100) })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TimeoutError' });
    expect(received).toHaveLength(1);
  });

  test('the endpoint comes from AWS_ENDPOINT_URL_<service>, then AWS_ENDPOINT_URL, as the SDK reads them', async () => {
    const saved = { ...process.env };
    try {
      process.env.AWS_ENDPOINT_URL_KMS = endpoint;
      process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
      const viaEnv = new AwsJsonClient(KMS_SERVICE, { region: 'eu-west-1', credentials: ROLE });
      await expect(viaEnv.call('GetPublicKey', {})).resolves.toEqual({});
      delete process.env.AWS_ENDPOINT_URL_KMS;
      process.env.AWS_ENDPOINT_URL = endpoint;
      await expect(viaEnv.call('GetPublicKey', {})).resolves.toEqual({});
      expect(received).toHaveLength(2);
    } finally {
      process.env = saved;
    }
  });

  test('the regional endpoint has the DNS suffix of the region’s partition', () => {
    expect(dnsSuffix('eu-west-1')).toBe('amazonaws.com');
    expect(dnsSuffix('us-gov-west-1')).toBe('amazonaws.com');
    expect(dnsSuffix('cn-north-1')).toBe('amazonaws.com.cn');
    expect(dnsSuffix('us-iso-east-1')).toBe('c2s.ic.gov');
    expect(dnsSuffix('us-isob-east-1')).toBe('sc2s.sgov.gov');
  });
});
