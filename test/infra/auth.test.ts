import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { CfnRoute } from 'aws-cdk-lib/aws-apigatewayv2';
import { ENV } from '../../lambda/config/env';
import { FUNCTION_GROUPS, type FunctionGroup } from '../../lambda/config/routes';
import { TABLE_SCHEMA } from '../../lambda/config/table-schema';
import { TOKEN_ISSUER } from '../../lib/constructs/access-control';
import type { RegistryStackProps } from '../../lib/registry-stack';
import {
  acknowledgements,
  functionId,
  grantsOf,
  grantsOfRole,
  synthRegistry,
  DEFAULT_GRANTS,
  LOGS,
  UPLOAD_GRANTS,
  violations,
  type Synthesized,
  logicalId,
} from './stacks';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ACCOUNTS = ['dynamodb:GetItem accounts', 'dynamodb:PutItem accounts', 'dynamodb:UpdateItem accounts'];
const REGISTRY_GROUPS = ['base', 'blobs', 'manifests', 'discovery'] as const;
const AUTH_ENV = [
  ENV.authMode,
  ENV.authService,
  ENV.authIssuer,
  ENV.accountsTable,
  ENV.tokenKeys,
  ENV.tokenTtl,
  ENV.refreshTtl,
  ENV.anonymousPull,
  ENV.maxFailedSignIns,
  ENV.publicUrl,
];

/** What access control adds per mode: registry functions verify or sign in, the token service issues. */
const EXPECTED: Record<'token' | 'basic', Record<FunctionGroup, string[]>> = {
  token: {
    base: ['kms:GetPublicKey key:1'],
    blobs: ['kms:GetPublicKey key:1'],
    manifests: ['kms:GetPublicKey key:1'],
    discovery: ['kms:GetPublicKey key:1'],
    token: [...ACCOUNTS, 'kms:GetPublicKey key:1', 'kms:Sign key:1'],
  },
  basic: {
    base: ACCOUNTS,
    blobs: ACCOUNTS,
    manifests: ACCOUNTS,
    discovery: ACCOUNTS,
    // Answers 404: no tokens are issued in basic mode.
    token: [],
  },
};

const expectedGrants = (mode: 'token' | 'basic', group: FunctionGroup): string[] =>
  [...new Set([...LOGS, ...DEFAULT_GRANTS[group], ...EXPECTED[mode][group]])].sort();

const resources = (s: Synthesized, type: string): Record<string, Json> => s.template.findResources(type);
const envOf = (s: Synthesized, group: FunctionGroup): Record<string, unknown> =>
  resources(s, 'AWS::Lambda::Function')[functionId(s.stack, group)]?.Properties.Environment.Variables;
const keyIdOf = (s: Synthesized, index: number): string => logicalId(s.stack.accessControl!.signingKeys[index]!);
const accountsId = (s: Synthesized): string => logicalId(s.stack.accessControl!.accountsTable);
const keyArn = (s: Synthesized, index: number) => ({ 'Fn::GetAtt': [keyIdOf(s, index), 'Arn'] });
const uploaderRoleId = (s: Synthesized): string =>
  (Object.values(resources(s, 'AWS::ECS::TaskDefinition'))[0] as Json).Properties.TaskRoleArn['Fn::GetAtt'][0];
const uploaderEnv = (s: Synthesized): Record<string, unknown> =>
  Object.fromEntries(
    (
      Object.values(resources(s, 'AWS::ECS::TaskDefinition'))[0] as Json
    ).Properties.ContainerDefinitions[0].Environment.map((e: Json) => [e.Name, e.Value]),
  );

/** The integration target of a route key. */
function integrationTarget(s: Synthesized, routeKey: string): string | undefined {
  const route = Object.values(resources(s, 'AWS::ApiGatewayV2::Route')).find((r) => r.Properties.RouteKey === routeKey);
  const integrationId = route?.Properties.Target['Fn::Join'][1][1].Ref;
  return resources(s, 'AWS::ApiGatewayV2::Integration')[integrationId]?.Properties.IntegrationUri['Fn::GetAtt'][0];
}

describe('token auth', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({ auth: { mode: 'token', anonymousPull: ['public/*', 'library/*'] } }, { nag: true });
  });
  afterAll(() => s?.dispose());

  test.each(FUNCTION_GROUPS)('%s function is granted exactly what it calls', (group) => {
    expect(grantsOf(s.stack, s.template, group)).toEqual(expectedGrants('token', group));
  });

  test('the token function may sign only ES256 over raw messages', () => {
    const statements = Object.values(resources(s, 'AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Json[],
    );
    const sign = statements.filter((st) => ([] as string[]).concat(st.Action).includes('kms:Sign'));
    expect(sign).toEqual([
      {
        Effect: 'Allow',
        Action: 'kms:Sign',
        Resource: keyArn(s, 0),
        Condition: { StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' } },
      },
    ]);
  });

  test('one ECC_NIST_P256 SIGN_VERIFY key, retained, with its alias; the key policy trusts only the account', () => {
    s.template.resourceCountIs('AWS::KMS::Key', 1);
    s.template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Enabled: Match.absent() }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    const key = resources(s, 'AWS::KMS::Key')[keyIdOf(s, 0)]!;
    expect(key.Properties.EnableKeyRotation).not.toBe(true);
    const principals = (key.Properties.KeyPolicy.Statement as Json[]).map((st) => JSON.stringify(st.Principal));
    expect(new Set(principals)).toEqual(
      new Set([
        // The account itself, so that IAM policies (the grants above) apply; no other principal.
        JSON.stringify({ AWS: 'arn:aws:iam::111111111111:root' }),
      ]),
    );
    s.template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/Registry/token-signing-1',
      TargetKeyId: keyArn(s, 0),
    });
  });

  test('the template holds no key material or secrets: functions get key ARNs, names and settings only', () => {
    const text = JSON.stringify(s.template.toJSON());
    // PEM armour, or the base64 of a DER key (SEQUENCE: `MII...`, `MFkw...` for a P-256 public key).
    expect(text.match(/PRIVATE KEY|BEGIN [A-Z ]*KEY|MII[A-Za-z0-9+/]{16}|MFkw[A-Za-z0-9+/]{16}/g)).toBeNull();
    for (const group of FUNCTION_GROUPS) {
      for (const [name, value] of Object.entries(envOf(s, group))) {
        expect(name).not.toMatch(/SECRET|PASSWORD|PRIVATE/);
        if (typeof value === 'string') {
          // Settings: numbers, modes, names and patterns; nothing long or random-looking.
          expect([name, value]).toEqual([name, expect.stringMatching(/^[A-Za-z0-9._:/*,= -]{0,64}$/)]);
        } else {
          // Everything else is a reference to a resource of the stack (its name or ARN).
          expect([name, JSON.stringify(value)]).toEqual([
            name,
            expect.stringMatching(/^\{"(Ref|Fn::GetAtt|Fn::Join)"/),
          ]);
        }
      }
    }
    expect(envOf(s, 'token')[ENV.tokenKeys]).toEqual(keyArn(s, 0));
  });

  test('every function gets the same auth settings; only the token function issues, with the same keys', () => {
    const expected = {
      [ENV.authMode]: 'token',
      [ENV.authService]: 'registry',
      [ENV.authIssuer]: TOKEN_ISSUER,
      [ENV.accountsTable]: { Ref: accountsId(s) },
      [ENV.tokenKeys]: keyArn(s, 0),
      [ENV.tokenTtl]: '300',
      [ENV.refreshTtl]: String(30 * 86_400),
      [ENV.anonymousPull]: 'public/*,library/*',
      [ENV.maxFailedSignIns]: '10',
    };
    for (const group of FUNCTION_GROUPS) {
      const env = envOf(s, group);
      const auth = Object.fromEntries(Object.entries(env).filter(([k]) => AUTH_ENV.includes(k as never)));
      // No front door: the functions take the realm's origin from Host and X-Forwarded-Proto.
      expect([group, auth]).toEqual([group, expected]);
      expect(env).toMatchObject({ [ENV.bucket]: expect.anything(), [ENV.table]: expect.anything() });
    }
  });

  test('accounts table: on demand, pk/sk strings, TTL, point-in-time recovery, AWS-managed encryption, retained', () => {
    s.template.resourceCountIs('AWS::DynamoDB::GlobalTable', 2);
    const table = resources(s, 'AWS::DynamoDB::GlobalTable')[accountsId(s)]!;
    expect(table).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
      Replicas: [expect.objectContaining({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
    });
    // The AWS managed key (aws/dynamodb): no customer key of the stack's.
    expect(JSON.stringify(table.Properties.Replicas)).not.toContain('KMSMasterKeyId');
    expect(table.Properties.GlobalSecondaryIndexes).toBeUndefined();
  });

  test('/token reaches the token function', () => {
    expect(integrationTarget(s, 'ANY /token')).toBe(functionId(s.stack, 'token'));
  });

  test('outputs the accounts table and the token realm', () => {
    s.template.hasOutput('AccountsTable', { Value: { Ref: accountsId(s) } });
    s.template.hasOutput('TokenRealm', {
      Value: { 'Fn::Join': ['', Match.arrayWith(['https://', '.execute-api.eu-west-1.', '/token'])] },
    });
  });

  test('cdk-nag reports nothing, and nothing new is acknowledged', () => {
    expect(violations(s.app)).toEqual([]);
    const open = synthRegistry({}, { nag: true });
    try {
      expect(acknowledgements(s)).toEqual(acknowledgements(open));
    } finally {
      open.dispose();
    }
  });
});

describe('token auth with the upload data path', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({ uploadDataPath: true, auth: { mode: 'token' } }, { nag: true });
  });
  afterAll(() => s?.dispose());

  const distributionDomain = () => ({
    'Fn::GetAtt': [Object.keys(resources(s, 'AWS::CloudFront::Distribution'))[0], 'DomainName'],
  });
  const distributionUrl = () => ({ 'Fn::Join': ['', ['https://', distributionDomain()]] });

  test('the uploader verifies tokens like the functions: upload grants plus kms:GetPublicKey', () => {
    expect(grantsOfRole(s.stack, s.template, uploaderRoleId(s))).toEqual(
      [...UPLOAD_GRANTS, 'kms:GetPublicKey key:1'].sort(),
    );
  });

  test('functions and the uploader name the distribution as the public URL (the token realm origin)', () => {
    for (const group of FUNCTION_GROUPS)
      expect([group, envOf(s, group)[ENV.publicUrl]]).toEqual([group, distributionUrl()]);
    const env = uploaderEnv(s);
    expect(env[ENV.publicUrl]).toEqual(distributionUrl());
    expect(env).toMatchObject({
      [ENV.authMode]: 'token',
      [ENV.tokenKeys]: keyArn(s, 0),
      [ENV.accountsTable]: { Ref: accountsId(s) },
    });
    s.template.hasOutput('TokenRealm', {
      Value: { 'Fn::Join': ['', ['https://', distributionDomain(), '/token']] },
    });
  });

  test('cdk-nag reports nothing', () => {
    expect(violations(s.app)).toEqual([]);
  });

  test('that creates no dependency cycle: synth refuses one, as here a function naming its own route', () => {
    // aws-cdk-lib validates the template at synth (CloudFormation-Validate F3004), so the synths of this
    // file would have thrown on a cycle; this shows the check is live.
    expect(() =>
      synthRegistry(
        { auth: { mode: 'token' } },
        {
          extend: (stack) => {
            const route = stack.node.findAll().find((c) => c instanceof CfnRoute && c.routeKey === 'ANY /token');
            stack.functions.byGroup.token.addEnvironment('ROUTE', (route as CfnRoute).ref);
          },
        },
      ),
    ).toThrow(/Circular dependency/);
  });

  test('with a custom domain the public URL is the domain', () => {
    const custom = synthRegistry({
      uploadDataPath: true,
      customDomain: {
        domainName: 'registry.example.com',
        certificateArn: 'arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-0000-0000-000000000000',
      },
      auth: { mode: 'token' },
    });
    try {
      expect(
        (custom.template.findResources('AWS::Lambda::Function')[functionId(custom.stack, 'blobs')] as Json).Properties
          .Environment.Variables[ENV.publicUrl],
      ).toBe('https://registry.example.com');
    } finally {
      custom.dispose();
    }
  });
});

describe('token signing key rotation', () => {
  test('the first generation signs, all verify, and a kept generation keeps its key', () => {
    const one = synthRegistry({ auth: { mode: 'token' } });
    const two = synthRegistry({ auth: { mode: 'token', signingKeyGenerations: ['2', '1'] } });
    try {
      two.template.resourceCountIs('AWS::KMS::Key', 2);
      // Generation 1 is the same resource before and after: no replacement, its tokens stay valid.
      expect(keyIdOf(two, 1)).toBe(keyIdOf(one, 0));
      expect(envOf(two, 'blobs')[ENV.tokenKeys]).toEqual({
        'Fn::Join': ['', [keyArn(two, 0), ',', keyArn(two, 1)]],
      });
      expect(grantsOf(two.stack, two.template, 'token')).toEqual(
        [...LOGS, ...ACCOUNTS, 'kms:GetPublicKey key:1', 'kms:GetPublicKey key:2', 'kms:Sign key:2'].sort(),
      );
      expect(grantsOf(two.stack, two.template, 'manifests')).toEqual(
        [...LOGS, ...DEFAULT_GRANTS.manifests, 'kms:GetPublicKey key:1', 'kms:GetPublicKey key:2'].sort(),
      );
      two.template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/Registry/token-signing-2' });
    } finally {
      one.dispose();
      two.dispose();
    }
  });
});

describe('basic auth', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({ uploadDataPath: true, auth: { mode: 'basic', anonymousPull: ['public/*'] } }, { nag: true });
  });
  afterAll(() => s?.dispose());

  test.each(FUNCTION_GROUPS)('%s function is granted exactly what it calls', (group) => {
    expect(grantsOf(s.stack, s.template, group)).toEqual(expectedGrants('basic', group));
  });

  test('the uploader signs callers in like the functions: upload grants plus the accounts items', () => {
    expect(grantsOfRole(s.stack, s.template, uploaderRoleId(s))).toEqual([...UPLOAD_GRANTS, ...ACCOUNTS].sort());
  });

  test('no KMS key and no token settings; the token function is left in mode none (it answers 404)', () => {
    s.template.resourceCountIs('AWS::KMS::Key', 0);
    const expected = {
      [ENV.authMode]: 'basic',
      [ENV.authService]: 'registry',
      [ENV.accountsTable]: { Ref: accountsId(s) },
      [ENV.anonymousPull]: 'public/*',
      [ENV.maxFailedSignIns]: '10',
    };
    const authOf = (env: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(env).filter(([k]) => AUTH_ENV.includes(k as never)));
    for (const group of REGISTRY_GROUPS) expect([group, authOf(envOf(s, group))]).toEqual([group, expected]);
    expect(authOf(uploaderEnv(s))).toEqual(expected);
    expect(authOf(envOf(s, 'token'))).toEqual({});
  });

  test('the accounts table as in token mode; outputs its name but no token realm', () => {
    s.template.hasResource('AWS::DynamoDB::GlobalTable', {
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
        Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
      }),
      DeletionPolicy: 'Retain',
    });
    s.template.resourceCountIs('AWS::DynamoDB::GlobalTable', 2);
    s.template.hasOutput('AccountsTable', { Value: { Ref: accountsId(s) } });
    expect(Object.keys(s.template.findOutputs('TokenRealm'))).toEqual([]);
  });

  test('cdk-nag reports nothing', () => {
    expect(violations(s.app)).toEqual([]);
  });
});

describe('auth mode none (the default)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({});
  });
  afterAll(() => s?.dispose());

  test('creates no accounts table, no key, no auth settings and no auth outputs', () => {
    s.template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    s.template.resourceCountIs('AWS::KMS::Key', 0);
    expect(s.stack.accessControl).toBeUndefined();
    for (const group of FUNCTION_GROUPS) {
      expect([group, Object.keys(envOf(s, group)).filter((k) => AUTH_ENV.includes(k as never))]).toEqual([group, []]);
    }
    expect(Object.keys(s.template.findOutputs('AccountsTable'))).toEqual([]);
    expect(Object.keys(s.template.findOutputs('TokenRealm'))).toEqual([]);
  });
});

describe('auth props', () => {
  test('lifetimes, service, lockout and data removal follow the props', () => {
    const s = synthRegistry({
      dataRemovalPolicy: RemovalPolicy.DESTROY,
      auth: {
        mode: 'token',
        service: 'registry.example.com',
        tokenTtl: Duration.minutes(15),
        refreshTokenTtl: Duration.days(7),
        maxFailedSignIns: 5,
      },
    });
    try {
      expect(envOf(s, 'token')).toMatchObject({
        [ENV.authService]: 'registry.example.com',
        [ENV.tokenTtl]: '900',
        [ENV.refreshTtl]: String(7 * 86_400),
        [ENV.maxFailedSignIns]: '5',
      });
      expect(resources(s, 'AWS::DynamoDB::GlobalTable')[accountsId(s)]?.DeletionPolicy).toBe('Delete');
      // Keys are retained whatever happens to data: deleting one is a scheduled, deliberate act.
      s.template.allResources('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
    } finally {
      s.dispose();
    }
  });

  test.each<[string, RegistryStackProps['auth'], RegExp]>([
    ['an unknown mode', { mode: 'oauth' as never }, /auth.mode must be one of none, basic, token/],
    [
      'anonymous pulls without auth',
      { mode: 'none', anonymousPull: ['public/*'] },
      /auth.anonymousPull has no effect with auth.mode "none"/,
    ],
    [
      'signing keys in basic mode',
      { mode: 'basic', signingKeyGenerations: ['2'] },
      /signingKeyGenerations has no effect/,
    ],
    ['a token lifetime in basic mode', { mode: 'basic', tokenTtl: Duration.minutes(5) }, /tokenTtl has no effect/],
    [
      'a token lifetime over an hour',
      { mode: 'token', tokenTtl: Duration.hours(2) },
      /tokenTtl must be .* from 60 to 3600/,
    ],
    [
      'a refresh lifetime under an hour',
      { mode: 'token', refreshTokenTtl: Duration.minutes(5) },
      /refreshTokenTtl must be/,
    ],
    ['no signing key', { mode: 'token', signingKeyGenerations: [] }, /needs at least one name/],
    ['a repeated generation', { mode: 'token', signingKeyGenerations: ['2', '2'] }, /must be unique/],
    ['a generation that is no name', { mode: 'token', signingKeyGenerations: ['a-1'] }, /letters or digits/],
    ['a pattern with a comma', { mode: 'basic', anonymousPull: ['a,b'] }, /anonymousPull patterns/],
    ['a service with a quote', { mode: 'token', service: 'a"b' }, /auth.service must be/],
    ['a lockout of zero', { mode: 'basic', maxFailedSignIns: 0 }, /maxFailedSignIns must be an integer from 1 to 1000/],
  ])('refuses %s', (_name, auth, message) => {
    expect(() => synthRegistry({ auth })).toThrow(message);
  });
});
