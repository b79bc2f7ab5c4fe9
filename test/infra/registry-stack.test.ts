import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { ENV } from '../../lambda/config/env';
import { DEFAULT_MAX_NAME_DEPTH, FUNCTION_GROUPS, routeTable, type FunctionGroup } from '../../lambda/config/routes';
import { TABLE_SCHEMA } from '../../lambda/config/table-schema';
import { allowStatements, functionId, grantsOf, synthRegistry, DEFAULT_GRANTS, LOGS, type Synthesized } from './stacks';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The default stack's grants, with each function's logs. */
const EXPECTED_GRANTS = Object.fromEntries(FUNCTION_GROUPS.map((g) => [g, [...LOGS, ...DEFAULT_GRANTS[g]]])) as Record<
  FunctionGroup,
  string[]
>;

describe('RegistryStack with default props (bundled for real)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({}, { bundle: true });
  });
  afterAll(() => s?.dispose());

  const resources = (type: string): Record<string, Json> => s.template.findResources(type);
  const integrationTarget = (routeKey: string): string => {
    const route = Object.values(resources('AWS::ApiGatewayV2::Route')).find((r) => r.Properties.RouteKey === routeKey);
    const integrationId = route?.Properties.Target['Fn::Join'][1][1].Ref;
    return resources('AWS::ApiGatewayV2::Integration')[integrationId]?.Properties.IntegrationUri['Fn::GetAtt'][0];
  };

  test('one HTTP API route per route table entry', () => {
    const keys = Object.values(resources('AWS::ApiGatewayV2::Route')).map((r) => r.Properties.RouteKey);
    const expected = routeTable(DEFAULT_MAX_NAME_DEPTH).map((r) =>
      r.path === '$default' ? '$default' : `ANY ${r.path}`,
    );
    expect(keys.sort()).toEqual(expected.sort());
  });

  test('every route reaches the function of its endpoint group', () => {
    expect(integrationTarget('ANY /v2/{n1}/blobs/{proxy+}')).toBe(functionId(s.stack, 'blobs'));
    expect(integrationTarget('$default')).toBe(functionId(s.stack, 'base'));
    for (const route of routeTable(DEFAULT_MAX_NAME_DEPTH)) {
      const key = route.path === '$default' ? '$default' : `ANY ${route.path}`;
      expect([key, integrationTarget(key)]).toEqual([key, functionId(s.stack, route.group)]);
    }
  });

  test('one payload-2.0 Lambda integration per function group', () => {
    s.template.resourceCountIs('AWS::ApiGatewayV2::Integration', FUNCTION_GROUPS.length);
    s.template.allResourcesProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
  });

  test('invoke permissions stay few: per route only for the $default group, otherwise one per function', () => {
    const permissions = Object.values(resources('AWS::Lambda::Permission'));
    const count = (group: FunctionGroup) =>
      permissions.filter((p) => p.Properties.FunctionName['Fn::GetAtt'][0] === functionId(s.stack, group)).length;
    expect(FUNCTION_GROUPS.map((g) => [g, count(g)])).toEqual([
      // $default, /v2 and /health.
      ['base', 3],
      ['blobs', 1],
      ['manifests', 1],
      ['discovery', 1],
      ['token', 1],
    ]);
  });

  test('$default stage at the host root, auto-deployed, throttled, with JSON access logs', () => {
    s.template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingBurstLimit: 500, ThrottlingRateLimit: 1000 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
    });
    const format = JSON.parse(
      Object.values(resources('AWS::ApiGatewayV2::Stage'))[0]?.Properties.AccessLogSettings.Format,
    ) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      method: '$context.httpMethod',
      path: '$context.path',
      status: '$context.status',
      latency: '$context.responseLatency',
    });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: false });
  });

  test('one arm64 Node.js function per group with the house defaults and its own log group', () => {
    // Plus the upload sweeper and the garbage collector, which serve no endpoint
    // (test/infra/maintenance.test.ts, test/infra/garbage-collection.test.ts).
    expect(Object.keys(resources('AWS::Lambda::Function'))).toHaveLength(FUNCTION_GROUPS.length + 2);
    const functions = FUNCTION_GROUPS.map((g) => resources('AWS::Lambda::Function')[functionId(s.stack, g)]!);
    expect(functions).toHaveLength(FUNCTION_GROUPS.length);
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({
        Architectures: ['arm64'],
        Runtime: expect.stringMatching(/^nodejs2[24]\.x$/),
        Timeout: 29,
        MemorySize: 1024,
        Handler: 'index.handler',
        LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
      });
      expect(Object.keys(fn.Properties.Environment.Variables)).toEqual(
        expect.arrayContaining([ENV.bucket, ENV.table, ENV.maxNameDepth]),
      );
      expect(fn.Properties.Environment.Variables[ENV.maxNameDepth]).toBe(String(DEFAULT_MAX_NAME_DEPTH));
    }
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  test('presigned-URL and session lifetimes reach the function that uses them', () => {
    const blobs = resources('AWS::Lambda::Function')[functionId(s.stack, 'blobs')]?.Properties.Environment.Variables;
    expect(blobs).toMatchObject({ [ENV.redirectTtl]: '900', [ENV.uploadTtl]: '86400' });
  });

  test('bundles carry the SDK the tests ran against instead of importing the runtime copy', () => {
    const fn = s.stack.functions.byGroup.blobs.node.defaultChild as CfnFunction;
    const code = s.stack.resolve(fn.code) as { s3Key: string };
    const bundle = join(s.app.outdir, `asset.${code.s3Key.replace(/\.zip$/, '')}`, 'index.js');
    expect(existsSync(bundle)).toBe(true);
    const text = readFileSync(bundle, 'utf8');
    expect(text).not.toMatch(/require\("@aws-sdk\/(client-s3|client-dynamodb|s3-request-presigner)"\)/);
    expect(text).toContain('X-Amz-Signature');
  });

  test('blob bucket: private, SSE-S3, owner-enforced, access-logged, with upload leftovers expiring', () => {
    s.template.resourceCountIs('AWS::S3::Bucket', 2);
    s.template.allResourcesProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: Match.anyValue() },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'uploads/', ExpirationInDays: 2, Status: 'Enabled' }),
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 }, Status: 'Enabled' }),
        ]),
      },
    });
  });

  test('both buckets refuse requests without TLS', () => {
    const policies = Object.values(resources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(2);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      );
    }
  });

  test('metadata table: on demand, pk/sk strings, TTL, point-in-time recovery, KMS at rest', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: TABLE_SCHEMA.partitionKey, AttributeType: 'S' },
        { AttributeName: TABLE_SCHEMA.sortKey, AttributeType: 'S' },
      ]),
      TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
      Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
    });
  });

  test('data survives the stack by default', () => {
    s.template.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    s.template.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });

  test('no Allow statement uses a wildcard action or resource', () => {
    const statements = allowStatements(s.template);
    expect(statements.length).toBeGreaterThan(0);
    for (const statement of statements) {
      const actions = ([] as string[]).concat(statement.Action);
      expect(actions.filter((a) => a === '*' || a.endsWith(':*'))).toEqual([]);
      expect(([] as unknown[]).concat(statement.Resource)).not.toContain('*');
    }
  });

  test('no managed policies: roles get only their own log group and explicit grants', () => {
    for (const role of Object.values(resources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  test.each(FUNCTION_GROUPS)('%s function is granted exactly what its endpoints call', (group) => {
    expect(grantsOf(s.stack, s.template, group)).toEqual([...EXPECTED_GRANTS[group]].sort());
  });

  test('outputs the registry URL and host', () => {
    s.template.hasOutput('RegistryUrl', { Value: { 'Fn::Join': ['', Match.arrayWith(['https://'])] } });
    s.template.hasOutput('RegistryHost', Match.anyValue());
    expect(Object.keys(s.template.findOutputs('DomainTarget'))).toEqual([]);
  });
});
