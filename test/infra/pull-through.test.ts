import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { ENV } from '../../lambda/config/env';
import type { PullThroughRule } from '../../lambda/config/pull-through';
import { FILL_PATH_PATTERN, UPLOADER_PATH_PATTERN } from '../../lambda/config/routes';
import type { PullThroughCacheRule } from '../../lib/constructs/pull-through';
import { disposingSynth, functionId, grantsOfRole, UPLOAD_GRANTS, violations, type Synthesized } from './stacks';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const HUB_SECRET = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:registry/hub-AbCdEf';
const CMK_SECRET = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:registry/local-GhIjKl';
const CMK = 'arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-000000000000';

const importDirs: string[] = [];
afterAll(() => importDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Secrets named by ARN, as bin/registry.ts imports them: in a stack of their own that is never synthesized. */
function rules(): PullThroughCacheRule[] {
  const outdir = mkdtempSync(join(tmpdir(), 'pull-through-imports-'));
  importDirs.push(outdir);
  const imports = new Stack(new App({ outdir }), 'Imports');
  return [
    {
      prefix: 'hub',
      upstream: 'https://registry-1.docker.io/',
      credentials: Secret.fromSecretCompleteArn(imports, 'Hub', HUB_SECRET),
      allow: ['library/*'],
      tagTtl: Duration.minutes(30),
    },
    {
      prefix: 'local',
      upstream: 'http://upstream.example:5000',
      credentials: Secret.fromSecretAttributes(imports, 'Local', {
        secretCompleteArn: CMK_SECRET,
        encryptionKey: Key.fromKeyArn(imports, 'Key', CMK),
      }),
    },
    { prefix: 'plain', upstream: 'http://plain.example' },
    { prefix: '*', upstream: 'https://mirror.gcr.io' },
  ];
}

/** What the code reads from `REGISTRY_PULL_THROUGH`. */
const EXPECTED: PullThroughRule[] = [
  {
    prefix: 'hub',
    upstream: 'https://registry-1.docker.io',
    allow: ['library/*'],
    tagTtlSeconds: 1800,
    credentialsSecret: HUB_SECRET,
  },
  { prefix: 'local', upstream: 'http://upstream.example:5000', credentialsSecret: CMK_SECRET },
  { prefix: 'plain', upstream: 'http://plain.example' },
  { prefix: '*', upstream: 'https://mirror.gcr.io' },
];

function only(resources: Record<string, Json>): [string, Json] {
  const entries = Object.entries(resources);
  expect(entries).toHaveLength(1);
  return entries[0] as [string, Json];
}

/** Every (role, statement) pair of the template's identity policies. */
function statements(s: Synthesized): { role: string; statement: Json }[] {
  return Object.values(s.template.findResources('AWS::IAM::Policy')).flatMap((policy: Json) =>
    (policy.Properties.Roles as { Ref: string }[]).flatMap((role) =>
      (policy.Properties.PolicyDocument.Statement as Json[]).map((statement) => ({ role: role.Ref, statement })),
    ),
  );
}

const actions = (statement: Json): string[] => [statement.Action].flat();

describe('RegistryStack with a pull-through cache and the upload data path', () => {
  const synth = disposingSynth();
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ uploadDataPath: true, pullThroughCache: rules() });
  });

  const roleOfFunction = (group: 'blobs' | 'manifests'): string =>
    (s.template.findResources('AWS::Lambda::Function')[functionId(s.stack, group)] as Json).Properties.Role[
      'Fn::GetAtt'
    ][0];
  const taskDefinition = (): Json => only(s.template.findResources('AWS::ECS::TaskDefinition'))[1].Properties;
  const taskRole = (): string => taskDefinition().TaskRoleArn['Fn::GetAtt'][0];

  test('REGISTRY_PULL_THROUGH is set on the blobs and manifests functions and the uploader, and on base for GET /, nowhere else', () => {
    const holders: string[] = [];
    for (const [id, fn] of Object.entries(s.template.findResources('AWS::Lambda::Function'))) {
      const value = (fn as Json).Properties.Environment?.Variables?.[ENV.pullThrough];
      if (value === undefined) continue;
      holders.push(id);
      expect(JSON.parse(value as string)).toEqual(EXPECTED);
    }
    expect(holders.sort()).toEqual(
      [functionId(s.stack, 'base'), functionId(s.stack, 'blobs'), functionId(s.stack, 'manifests')].sort(),
    );
    // Only the uploader's fills need the blobs function to redirect there.
    const fill = (group: 'base' | 'blobs' | 'manifests') =>
      (s.template.findResources('AWS::Lambda::Function')[functionId(s.stack, group)] as Json).Properties.Environment
        ?.Variables?.[ENV.pullThroughFill];
    expect([fill('base'), fill('blobs'), fill('manifests')]).toEqual([undefined, 'true', undefined]);
    const [container] = taskDefinition().ContainerDefinitions as Json[];
    const variable = (container?.Environment as { Name: string; Value: string }[]).find(
      (e) => e.Name === ENV.pullThrough,
    );
    expect(JSON.parse(variable?.Value ?? 'null')).toEqual(EXPECTED);
  });

  test('exactly secretsmanager:GetSecretValue on exactly the rules’ secrets, for exactly those three roles', () => {
    const secretStatements = statements(s).filter(({ statement }) =>
      actions(statement).some((a) => a.startsWith('secretsmanager:')),
    );
    expect(secretStatements.map((x) => x.role).sort()).toEqual(
      [roleOfFunction('blobs'), roleOfFunction('manifests'), taskRole()].sort(),
    );
    for (const { statement } of secretStatements) {
      expect(statement).toEqual({
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: [HUB_SECRET, CMK_SECRET],
      });
    }
    // Nothing of grantRead's extras.
    expect(
      statements(s).filter(({ statement }) => actions(statement).includes('secretsmanager:DescribeSecret')),
    ).toEqual([]);
  });

  test('kms:Decrypt on the customer managed key, only through Secrets Manager and only for its secret, for the same roles', () => {
    const decrypts = statements(s).filter(({ statement }) => actions(statement).includes('kms:Decrypt'));
    expect(decrypts.map((x) => x.role).sort()).toEqual(
      [roleOfFunction('blobs'), roleOfFunction('manifests'), taskRole()].sort(),
    );
    for (const { statement } of decrypts) {
      expect(statement).toEqual({
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: CMK,
        Condition: {
          StringEquals: {
            'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
            'kms:EncryptionContext:SecretARN': CMK_SECRET,
          },
        },
      });
    }
  });

  test('the uploader may read blobs (the presigned GET of a blob another fill stored), besides its upload grants', () => {
    const grants = grantsOfRole(s.stack, s.template, taskRole());
    expect(grants).toEqual(expect.arrayContaining([...UPLOAD_GRANTS, 's3:GetObject bucket:blobs/*']));
    const variables = (taskDefinition().ContainerDefinitions as Json[])[0]?.Environment as { Name: string }[];
    expect(variables.map((v) => v.Name)).toContain(ENV.redirectTtl);
  });

  test('fills go to the uploader, with the upload behavior’s settings', () => {
    const config = only(s.template.findResources('AWS::CloudFront::Distribution'))[1].Properties.DistributionConfig;
    const behaviors = config.CacheBehaviors as Json[];
    expect(behaviors.map((b) => b.PathPattern)).toEqual([UPLOADER_PATH_PATTERN, FILL_PATH_PATTERN]);
    const [uploads, fills] = behaviors as [Json, Json];
    expect({ ...fills, PathPattern: undefined }).toEqual({ ...uploads, PathPattern: undefined });
    // One uploader origin (a VPC origin) serves both.
    expect(config.Origins).toHaveLength(2);
    s.template.resourceCountIs('AWS::CloudFront::VpcOrigin', 1);
  });

  test('the tasks may leave on the upstreams’ other ports (5000, and 80 for http), besides 443', () => {
    const [, group] = Object.entries(s.template.findResources('AWS::EC2::SecurityGroup')).find(([, g]) =>
      String((g as Json).Properties.GroupDescription).startsWith('Registry uploader tasks'),
    ) as [string, Json];
    expect(
      (group.Properties.SecurityGroupEgress as Json[])
        .map((r) => [r.IpProtocol, r.FromPort, r.ToPort, r.CidrIp])
        .sort((a, b) => a[1] - b[1]),
    ).toEqual([
      ['tcp', 80, 80, '0.0.0.0/0'],
      ['tcp', 443, 443, '0.0.0.0/0'],
      ['tcp', 5000, 5000, '0.0.0.0/0'],
    ]);
  });

  test('no warning about fills: the upload data path is there', () => {
    Annotations.fromStack(s.stack).hasNoWarning('*', Match.stringLikeRegexp('pullThroughCache'));
  });

  test('cdk-nag reports nothing unacknowledged', () => {
    const nagged = synth({ uploadDataPath: true, pullThroughCache: rules() }, { nag: true });
    expect(violations(nagged.app)).toEqual([]);
  });
});

describe('RegistryStack with a pull-through cache, without the upload data path', () => {
  const synth = disposingSynth();

  test('a warning says that blobs over 64 MiB are answered 503; the functions still get the rules and grants', () => {
    const s = synth({ pullThroughCache: rules() }, { nag: true });
    Annotations.fromStack(s.stack).hasWarning(
      '*',
      Match.stringLikeRegexp('blobs over 64 MiB cannot be filled .* answered 503 until the upload data path is on'),
    );
    // The warning is in the validation report too, as a warning; cdk-nag finds nothing.
    expect(violations(s.app)).toEqual([
      {
        ruleName: 'Annotation::serverless-oci-registry:pullThroughWithoutUploadDataPath',
        severity: 'warning',
        paths: ['Registry/PullThroughCache'],
      },
    ]);
    const readers = statements(s).filter(({ statement }) =>
      actions(statement).includes('secretsmanager:GetSecretValue'),
    );
    expect(readers).toHaveLength(2);
    s.template.resourceCountIs('AWS::CloudFront::Distribution', 0);
  });

  test('without rules: no rules in any environment, no grant, no warning', () => {
    const s = synth({ uploadDataPath: true });
    for (const fn of Object.values(s.template.findResources('AWS::Lambda::Function')) as Json[]) {
      expect(fn.Properties.Environment?.Variables?.[ENV.pullThrough]).toBeUndefined();
    }
    expect(
      statements(s).filter(({ statement }) => actions(statement).some((a) => a.startsWith('secretsmanager:'))),
    ).toEqual([]);
    const config = only(s.template.findResources('AWS::CloudFront::Distribution'))[1].Properties.DistributionConfig;
    expect((config.CacheBehaviors as Json[]).map((b) => b.PathPattern)).toEqual([UPLOADER_PATH_PATTERN]);
    // The uploader keeps to its upload grants: no blob reads without fills.
    const taskRoleId = only(s.template.findResources('AWS::ECS::TaskDefinition'))[1].Properties.TaskRoleArn[
      'Fn::GetAtt'
    ][0] as string;
    expect(grantsOfRole(s.stack, s.template, taskRoleId)).not.toContain('s3:GetObject bucket:blobs/*');
    Annotations.fromStack(s.stack).hasNoWarning('*', Match.stringLikeRegexp('pullThroughCache'));
  });
});

describe('pullThroughCache is checked at synth', () => {
  const synth = disposingSynth();
  test.each([
    ['a prefix that is no name component', [{ prefix: 'Hub', upstream: 'https://a.example' }], /\[0\]: prefix must be/],
    ['an upstream with a path', [{ prefix: 'hub', upstream: 'https://a.example/v2' }], /\[0\]: upstream must be/],
    ['a bad allow pattern', [{ prefix: 'hub', upstream: 'https://a.example', allow: ['Lib rary'] }], /\[0\]: allow/],
    [
      'a tag TTL beyond 31 days',
      [{ prefix: 'hub', upstream: 'https://a.example', tagTtl: Duration.days(32) }],
      /\[0\]: tagTtlSeconds must be/,
    ],
    [
      'a tag TTL in parts of a second',
      [{ prefix: 'hub', upstream: 'https://a.example', tagTtl: Duration.millis(1500) }],
      /\[0\]: tagTtl must be a whole number of seconds/,
    ],
    [
      'two rules for one prefix',
      [
        { prefix: 'hub', upstream: 'https://a.example' },
        { prefix: 'hub', upstream: 'https://b.example' },
      ],
      /\[1\]: prefix hub has a rule already/,
    ],
  ])('%s is refused with a clear error', (_name, pullThroughCache, message) => {
    expect(() => synth({ pullThroughCache: pullThroughCache as PullThroughCacheRule[] })).toThrow(
      new RegExp(`^pullThroughCache${message.source}`),
    );
  });
});

describe('bin/registry.ts: -c pullThroughCache', () => {
  const ROOT = join(__dirname, '..', '..');
  const outdirs: string[] = [];
  afterAll(() => outdirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  /** Runs the app as `cdk synth` does (without bundling), with this context; its template, or its error. */
  function synthApp(pullThroughCache: unknown): { template?: Json; error?: string } {
    const outdir = mkdtempSync(join(tmpdir(), 'pull-through-app-'));
    outdirs.push(outdir);
    const context = { 'aws:cdk:bundling-stacks': [], authMode: 'none', uploadDataPath: 'true', pullThroughCache };
    try {
      execFileSync(
        process.execPath,
        [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join('bin', 'registry.ts')],
        {
          cwd: ROOT,
          env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context) },
          stdio: 'pipe',
        },
      );
    } catch (err) {
      return { error: String((err as { stderr?: Buffer }).stderr) };
    }
    return { template: JSON.parse(readFileSync(join(outdir, 'ServerlessRegistry.template.json'), 'utf8')) as Json };
  }

  test('a JSON list of rules becomes the prop, its secret imported by its complete ARN', () => {
    const { template, error } = synthApp(
      JSON.stringify([
        {
          prefix: 'hub',
          upstream: 'https://registry-1.docker.io',
          credentialsSecretArn: HUB_SECRET,
          allow: ['library/*'],
          tagTtlSeconds: 3600,
        },
      ]),
    );
    expect(error).toBeUndefined();
    const resources = Object.entries(template?.Resources as Record<string, Json>);
    const rulesOf = (idPrefix: string) =>
      resources
        .filter(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(idPrefix))
        .map(([, r]) => JSON.parse(r.Properties.Environment.Variables[ENV.pullThrough] as string) as unknown);
    const expected = [
      {
        prefix: 'hub',
        upstream: 'https://registry-1.docker.io',
        allow: ['library/*'],
        tagTtlSeconds: 3600,
        credentialsSecret: HUB_SECRET,
      },
    ];
    expect([rulesOf('FunctionsBlobsFunction'), rulesOf('FunctionsManifestsFunction')]).toEqual([
      [expected],
      [expected],
    ]);
    const readers = resources
      .map(([, r]) => r)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Json[])
      .filter((st) => actions(st).includes('secretsmanager:GetSecretValue'));
    expect(readers).toEqual(
      Array(3).fill({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: HUB_SECRET }),
    );
  });

  test.each([
    ['not JSON', 'hub=https://registry-1.docker.io', /-c pullThroughCache must be a JSON array of rules/],
    ['an unknown key', JSON.stringify([{ prefix: 'hub', upstream: 'https://a.example', user: 'x' }]), /unknown user/],
    [
      'a bad rule',
      JSON.stringify([{ prefix: 'hub', upstream: 'ftp://a.example' }]),
      /pullThroughCache\[0\]: upstream must be/,
    ],
  ])('%s is refused', (_name, value, message) => {
    expect(synthApp(value).error).toMatch(message);
  });
});
