import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { jsonServiceAuthorizations, type Arns } from '../../../tools/local/iam/actions';
import { evaluate, type PolicyStatement } from '../../../tools/local/iam/policy';
import { startAwsEndpoint, type AwsCall, type AwsEndpoint } from '../../../tools/local/stack/aws-endpoint';
import { AwsStandIns } from '../../../tools/local/stack/standins';

const ARNS: Arns = { partition: 'aws', region: 'us-east-1', account: '000000000000' };
const HUB = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:pull-through/hub-AbCdEf';
const OTHER = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:pull-through/other-GhIjKl';
const VALUE = JSON.stringify({ username: 'alice', password: 'p4ss word' });

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function standIns(): AwsStandIns {
  const dir = mkdtempSync(join(tmpdir(), 'standins-'));
  dirs.push(dir);
  const s = new AwsStandIns(dir);
  s.addSecret(HUB, VALUE);
  s.addSecret(OTHER, '{}');
  return s;
}

describe('the Secrets Manager stand-in', () => {
  test('GetSecretValue by full ARN, partial ARN or name answers as Secrets Manager does', () => {
    const s = standIns();
    for (const id of [HUB, HUB.slice(0, -7), 'pull-through/hub']) {
      const answer = s.handle('secretsmanager', 'GetSecretValue', { SecretId: id });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        ARN: HUB,
        Name: 'pull-through/hub',
        SecretString: VALUE,
        VersionId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        VersionStages: ['AWSCURRENT'],
        CreatedDate: expect.any(Number),
      });
    }
  });

  test('an unknown secret, version or stage is ResourceNotFoundException', () => {
    const s = standIns();
    const current = s.handle('secretsmanager', 'GetSecretValue', { SecretId: HUB }).body.VersionId;
    expect(s.handle('secretsmanager', 'GetSecretValue', { SecretId: 'nope' })).toEqual({
      status: 400,
      body: { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." },
    });
    expect(
      s.handle('secretsmanager', 'GetSecretValue', { SecretId: HUB, VersionStage: 'AWSPREVIOUS' }).body.__type,
    ).toBe('ResourceNotFoundException');
    expect(
      s.handle('secretsmanager', 'GetSecretValue', { SecretId: HUB, VersionId: '00000000-0000-0000-0000-000000000000' })
        .body.__type,
    ).toBe('ResourceNotFoundException');
    expect(
      s.handle('secretsmanager', 'GetSecretValue', { SecretId: HUB, VersionId: current, VersionStage: 'AWSCURRENT' })
        .status,
    ).toBe(200);
  });

  test('a secret needs its full ARN, and its value stays in memory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'standins-'));
    dirs.push(dir);
    const s = new AwsStandIns(dir);
    expect(() => s.addSecret('arn:aws:secretsmanager:us-east-1:000000000000:secret:hub', VALUE)).toThrow(/full ARN/);
    s.addSecret(HUB, VALUE);
    const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    for (const file of files) expect(readFileSync(join(file.parentPath, file.name), 'utf8')).not.toContain('p4ss');
  });

  test('other Secrets Manager operations are not stood in for', () => {
    expect(standIns().handle('secretsmanager', 'DescribeSecret', { SecretId: HUB }).body.__type).toBe(
      'UnknownOperationException',
    );
  });
});

describe('Secrets Manager requests, as IAM authorizes them', () => {
  const s = standIns();
  const requests = (body: Record<string, unknown>, op = 'GetSecretValue') =>
    jsonServiceAuthorizations(`secretsmanager.${op}`, body, ARNS, { secretArnOf: (id) => s.secretArnOf(id) });

  test('GetSecretValue is authorized on the full ARN of the secret, however the request names it', () => {
    for (const id of [HUB, HUB.slice(0, -7), 'pull-through/hub']) {
      expect(requests({ SecretId: id })).toEqual([
        { action: 'secretsmanager:GetSecretValue', resource: HUB, context: { 'secretsmanager:SecretId': id } },
      ]);
    }
  });

  test('with the version condition keys the request carries', () => {
    expect(requests({ SecretId: HUB, VersionStage: 'AWSCURRENT', VersionId: 'v1' })[0]?.context).toEqual({
      'secretsmanager:SecretId': HUB,
      'secretsmanager:VersionId': 'v1',
      'secretsmanager:VersionStage': 'AWSCURRENT',
    });
  });

  test('an unknown secret is authorized on the ARN its id spells', () => {
    expect(requests({ SecretId: 'gone' })[0]?.resource).toBe(
      'arn:aws:secretsmanager:us-east-1:000000000000:secret:gone',
    );
  });

  test('a grant on a secret named by its partial ARN (six wildcards) reaches it; another secret is refused', () => {
    const statements: PolicyStatement[] = [
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: `${HUB.slice(0, -7)}-??????` },
    ];
    expect(evaluate(statements, requests({ SecretId: 'pull-through/hub' })[0]!)).toBe('Allow');
    expect(evaluate(statements, requests({ SecretId: OTHER })[0]!)).toBe('ImplicitDeny');
  });

  test('unmapped operations are noticed, not waved through', () => {
    expect(() => requests({}, 'ListSecrets')).toThrow(/no IAM mapping/);
    expect(() => requests({})).toThrow(/SecretId/);
  });
});

describe('the local AWS endpoint with the Secrets Manager stand-in', () => {
  let endpoint: AwsEndpoint;
  const calls: AwsCall[] = [];
  const reader = { accessKeyId: 'AKIAREADER0000000001', secretAccessKey: 'reader-secret' };
  const stranger = { accessKeyId: 'AKIASTRANGER00000001', secretAccessKey: 'stranger-secret' };
  const clients: SecretsManagerClient[] = [];
  const client = (credentials: typeof reader) => {
    const c = new SecretsManagerClient({ region: 'us-east-1', endpoint: endpoint.url, credentials, maxAttempts: 1 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    endpoint = await startAwsEndpoint({
      s3Upstream: 'http://127.0.0.1:9',
      s3UpstreamCredentials: { accessKeyId: 'AKIAS3', secretAccessKey: 's3' },
      region: 'us-east-1',
      dynamodbUpstream: 'http://127.0.0.1:9',
      standIns: standIns(),
      arns: ARNS,
      partitionKeyOf: () => undefined,
      onCall: (c) => calls.push(c),
    });
    endpoint.register(reader, {
      arn: 'arn:aws:sts::000000000000:assumed-role/registry-blobs/registry-blobs',
      label: 'blobs',
      statements: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: HUB }],
    });
    endpoint.register(stranger, {
      arn: 'arn:aws:sts::000000000000:assumed-role/registry-discovery/registry-discovery',
      label: 'discovery',
      statements: [{ Effect: 'Allow', Action: 'dynamodb:Query', Resource: '*' }],
    });
  });
  afterAll(async () => {
    clients.forEach((c) => c.destroy());
    await endpoint?.stop();
  });

  test('a role granted the secret reads it with the SDK', async () => {
    const out = await client(reader).send(new GetSecretValueCommand({ SecretId: HUB }));
    expect({ ARN: out.ARN, Name: out.Name, SecretString: out.SecretString, stages: out.VersionStages }).toEqual({
      ARN: HUB,
      Name: 'pull-through/hub',
      SecretString: VALUE,
      stages: ['AWSCURRENT'],
    });
    expect(out.CreatedDate).toBeInstanceOf(Date);
  });

  test('another secret, or a role without the grant, gets AccessDeniedException as AWS words it', async () => {
    await expect(client(reader).send(new GetSecretValueCommand({ SecretId: OTHER }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining(
        `is not authorized to perform: secretsmanager:GetSecretValue on resource: ${OTHER} because no identity-based policy allows`,
      ),
    });
    await expect(client(stranger).send(new GetSecretValueCommand({ SecretId: HUB }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining('assumed-role/registry-discovery/'),
    });
    expect(calls.filter((c) => c.service === 'secretsmanager' && c.denied).map((c) => c.principal)).toEqual([
      'blobs',
      'discovery',
    ]);
  });
});
