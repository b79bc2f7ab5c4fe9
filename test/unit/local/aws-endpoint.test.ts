import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRequestSigner, type AwsCredentials } from '../../../lambda/adapters/aws-json/json-signer';
import { startAwsEndpoint, type AwsCall, type AwsEndpoint } from '../../../tools/local/stack/aws-endpoint';
import { AwsStandIns } from '../../../tools/local/stack/standins';

/**
 * The local AWS endpoint and the JSON-protocol services it has no stand-in for. SSM is one of them
 * since the maintenance mode moved into the metadata table: nothing of the stack calls it, and a
 * call that still did is refused as a call of any other service local mode does not serve.
 */
const ADMIN = { accessKeyId: 'AKIAADMIN00000000001', secretAccessKey: 'admin-secret' };
const ROLE = { accessKeyId: 'AKIAROLE000000000001', secretAccessKey: 'role-secret' };

let dir: string;
let endpoint: AwsEndpoint;
const calls: AwsCall[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aws-endpoint-'));
  endpoint = await startAwsEndpoint({
    s3Upstream: 'http://127.0.0.1:9',
    s3UpstreamCredentials: { accessKeyId: 'AKIAS3', secretAccessKey: 's3' },
    region: 'us-east-1',
    dynamodbUpstream: 'http://127.0.0.1:9',
    standIns: new AwsStandIns(dir),
    arns: { partition: 'aws', region: 'us-east-1', account: '000000000000' },
    partitionKeyOf: () => undefined,
    onCall: (c) => calls.push(c),
  });
  // The local account's administrator, whom no policy limits, and a role granted what a stack
  // that kept the mode in an SSM parameter granted its functions.
  endpoint.register(ADMIN, { arn: 'arn:aws:iam::000000000000:root', label: 'admin' });
  endpoint.register(ROLE, {
    arn: 'arn:aws:sts::000000000000:assumed-role/registry-blobs/registry-blobs',
    label: 'blobs',
    statements: [{ Effect: 'Allow', Action: 'ssm:GetParameter', Resource: '*' }],
  });
});
afterAll(async () => {
  await endpoint?.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  calls.length = 0;
});

/** A SigV4-signed JSON 1.1 call, as the SDK's clients send it; the endpoint's answer as it came. */
async function send(credentials: AwsCredentials, service: string, target: string, input: unknown) {
  const url = new URL(endpoint.url);
  const body = JSON.stringify(input);
  const headers = new JsonRequestSigner(service, 'us-east-1').sign({
    host: url.host,
    path: url.pathname,
    contentType: 'application/x-amz-json-1.1',
    target,
    body,
    credentials,
  });
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, body: await res.text() };
}

describe('a JSON-protocol service without a stand-in', () => {
  test('an unknown service is refused: 500, naming the target it cannot map', async () => {
    expect(
      await send(ADMIN, 'states', 'AWSStepFunctions.StartExecution', { stateMachineArn: 'arn:aws:states:::x' }),
    ).toEqual({
      status: 500,
      body: 'local AWS endpoint: Error: no IAM mapping for "AWSStepFunctions.StartExecution"',
    });
    expect(calls).toEqual([
      {
        principal: 'unknown',
        service: 'unknown',
        operation: 'POST /',
        status: 500,
        denied: 'Error: no IAM mapping for "AWSStepFunctions.StartExecution"',
      },
    ]);
  });

  test('SSM is refused the same way, whoever calls and whatever their role allows', async () => {
    for (const [caller, operation, input] of [
      [ADMIN, 'GetParameter', { Name: '/registry/mode' }],
      [ADMIN, 'PutParameter', { Name: '/registry/mode', Value: 'read-only', Overwrite: true }],
      [ROLE, 'GetParameter', { Name: '/registry/mode' }],
    ] as const) {
      expect(await send(caller, 'ssm', `AmazonSSM.${operation}`, input)).toEqual({
        status: 500,
        body: `local AWS endpoint: Error: no IAM mapping for "AmazonSSM.${operation}"`,
      });
    }
    expect(calls.map((c) => [c.service, c.status, c.denied])).toEqual([
      ['unknown', 500, 'Error: no IAM mapping for "AmazonSSM.GetParameter"'],
      ['unknown', 500, 'Error: no IAM mapping for "AmazonSSM.PutParameter"'],
      ['unknown', 500, 'Error: no IAM mapping for "AmazonSSM.GetParameter"'],
    ]);
  });
});
