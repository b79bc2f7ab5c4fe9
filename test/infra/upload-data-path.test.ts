import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { AllowedMethods, CachePolicy, OriginRequestPolicy, PriceClass } from 'aws-cdk-lib/aws-cloudfront';
import { ENV } from '../../lambda/config/env';
import { UPLOADER_PATH_PATTERN } from '../../lambda/config/routes';
import { UPLOADER_ORIGIN_READ_TIMEOUT } from '../../lib/constructs/front-door';
import { grantsOf, grantsOfRole, synthRegistry, UPLOAD_GRANTS, type Synthesized, logicalId } from './stacks';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const DOMAIN = {
  domainName: 'registry.example.com',
  certificateArn: 'arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-0000-0000-000000000000',
};

/** Resource types only the upload data path creates. */
const DATA_PATH_TYPES = /^AWS::(CloudFront|ECS|ElasticLoadBalancingV2|EC2|ApplicationAutoScaling)::/;

function only(resources: Record<string, Json>): [string, Json] {
  const entries = Object.entries(resources);
  expect(entries).toHaveLength(1);
  return entries[0] as [string, Json];
}

describe('RegistryStack with the upload data path', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({ uploadDataPath: true });
  });
  afterAll(() => s?.dispose());

  const resources = (type: string): Record<string, Json> => s.template.findResources(type);
  const distributionConfig = (): Json =>
    only(resources('AWS::CloudFront::Distribution'))[1].Properties.DistributionConfig;
  const origin = (id: string): Json => distributionConfig().Origins.find((o: Json) => o.Id === id);
  const taskDefinition = (): Json => only(resources('AWS::ECS::TaskDefinition'))[1].Properties;
  const loadBalancerId = (): string => only(resources('AWS::ElasticLoadBalancingV2::LoadBalancer'))[0];

  test('one distribution with two behaviors: the default to the HTTP API, uploads to the uploader', () => {
    const config = distributionConfig();
    expect(config.Origins).toHaveLength(2);
    expect(config.CacheBehaviors).toHaveLength(1);

    const api = origin(config.DefaultCacheBehavior.TargetOriginId);
    const apiId = only(resources('AWS::ApiGatewayV2::Api'))[0];
    expect(api.DomainName).toEqual({
      'Fn::Join': ['', [{ Ref: apiId }, '.execute-api.eu-west-1.', { Ref: 'AWS::URLSuffix' }]],
    });
    expect(api.CustomOriginConfig).toMatchObject({
      OriginProtocolPolicy: 'https-only',
      OriginSSLProtocols: ['TLSv1.2'],
    });

    const uploads = config.CacheBehaviors[0];
    expect(uploads.PathPattern).toBe(UPLOADER_PATH_PATTERN);
    const uploader = origin(uploads.TargetOriginId);
    const [vpcOriginId, vpcOrigin] = only(resources('AWS::CloudFront::VpcOrigin'));
    expect(uploader.VpcOriginConfig).toEqual({
      VpcOriginId: { 'Fn::GetAtt': [vpcOriginId, 'Id'] },
      OriginReadTimeout: UPLOADER_ORIGIN_READ_TIMEOUT.toSeconds(),
    });
    expect(uploader.DomainName).toEqual({ 'Fn::GetAtt': [loadBalancerId(), 'DNSName'] });
    expect(vpcOrigin.Properties.VpcOriginEndpointConfig).toMatchObject({
      Arn: { Ref: loadBalancerId() },
      HTTPPort: 80,
      OriginProtocolPolicy: 'http-only',
    });
  });

  test('both behaviors: HTTPS only, every method, nothing cached, all viewer headers but Host and all query strings forwarded', () => {
    const config = distributionConfig();
    for (const behavior of [config.DefaultCacheBehavior, ...config.CacheBehaviors]) {
      expect(behavior).toMatchObject({
        ViewerProtocolPolicy: 'https-only',
        AllowedMethods: AllowedMethods.ALLOW_ALL.methods,
        CachePolicyId: CachePolicy.CACHING_DISABLED.cachePolicyId,
        // Managed AllViewerExceptHostHeader: all headers (Authorization too, as caching is disabled),
        // cookies and query strings of the viewer request.
        OriginRequestPolicyId: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId,
      });
    }
    expect(config).toMatchObject({ HttpVersion: 'http2and3', PriceClass: 'PriceClass_100', IPV6Enabled: true });
    expect(config.ViewerCertificate).toBeUndefined();
    expect(config.Aliases).toBeUndefined();
  });

  test('CloudFront logs to a bucket of its own that accepts ACLs, which logs to the access-log bucket', () => {
    const logBucket = logicalId(s.stack.frontDoor!.logBucket);
    const accessLogs = logicalId(s.stack.storage.accessLogBucket);
    expect(distributionConfig().Logging).toEqual({
      Bucket: { 'Fn::GetAtt': [logBucket, 'RegionalDomainName'] },
      Prefix: 'distribution/',
    });
    expect(resources('AWS::S3::Bucket')[logBucket]?.Properties).toMatchObject({
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: accessLogs } },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true },
    });
  });

  test('the uploader runs on Fargate, arm64, 1 vCPU and 2 GiB, from an image built of lambda/uploader/Dockerfile', () => {
    expect(taskDefinition()).toMatchObject({
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      Cpu: '1024',
      Memory: '2048',
    });
    const [container] = taskDefinition().ContainerDefinitions;
    expect(container).toMatchObject({
      PortMappings: [{ ContainerPort: 8080 }],
      ReadonlyRootFilesystem: true,
      LogConfiguration: { LogDriver: 'awslogs' },
    });
    const image = container.Image['Fn::Sub'] as string;
    const hash = /:([0-9a-f]{64})$/.exec(image)?.[1] ?? '';

    const manifest = JSON.parse(readFileSync(join(s.app.outdir, 'Registry.assets.json'), 'utf8')) as Json;
    expect(Object.keys(manifest.dockerImages)).toEqual([hash]);
    const source = manifest.dockerImages[hash].source;
    expect(source).toEqual({
      directory: `asset.${hash}`,
      dockerFile: 'lambda/uploader/Dockerfile',
      platform: 'linux/arm64',
    });
    // Staged at synth (no docker needed), narrowed by the root .dockerignore to what the build reads.
    const staged = join(s.app.outdir, source.directory);
    for (const file of ['package.json', 'package-lock.json', 'lambda/uploader/main.ts', 'lambda/uploader/Dockerfile']) {
      expect([file, existsSync(join(staged, file))]).toEqual([file, true]);
    }
    for (const dir of ['node_modules', 'cdk.out', 'test', 'lib', '.git', '.tools', 'tools']) {
      expect([dir, existsSync(join(staged, dir))]).toEqual([dir, false]);
    }
  });

  test('one task at rest, up to four on CPU, public subnets with public addresses instead of NAT', () => {
    const service = only(resources('AWS::ECS::Service'))[1].Properties;
    expect(service).toMatchObject({
      LaunchType: 'FARGATE',
      DesiredCount: 1,
      DeploymentConfiguration: {
        MinimumHealthyPercent: 100,
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      },
      NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'ENABLED' } },
    });
    expect(service.NetworkConfiguration.AwsvpcConfiguration.Subnets).toEqual(
      s.stack.uploader!.vpc.publicSubnets.map((subnet) => s.stack.resolve(subnet.subnetId)),
    );
    s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 4,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: 60,
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      },
    });
  });

  test('no NAT gateway and no interface endpoint: S3 and DynamoDB through gateway endpoints', () => {
    s.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    s.template.resourceCountIs('AWS::EC2::EIP', 0);
    const endpoints = Object.values(resources('AWS::EC2::VPCEndpoint')).map((e) => e.Properties);
    expect(endpoints.map((e) => e.VpcEndpointType ?? 'Gateway')).toEqual(['Gateway', 'Gateway']);
    expect(endpoints.map((e) => JSON.stringify(e.ServiceName)).sort()).toEqual([
      expect.stringContaining('.dynamodb'),
      expect.stringContaining('.s3'),
    ]);
    s.template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  test('tasks admit only the load balancer and send only HTTPS', () => {
    const taskGroup = s.stack.resolve(s.stack.uploader!.service.connections.securityGroups[0]!.securityGroupId);
    const albGroup = s.stack.resolve(s.stack.uploader!.loadBalancer.connections.securityGroups[0]!.securityGroupId);
    const ingress = Object.values(resources('AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties)
      .filter((p) => JSON.stringify(p.GroupId) === JSON.stringify(taskGroup));
    expect(ingress).toEqual([
      expect.objectContaining({ SourceSecurityGroupId: albGroup, FromPort: 8080, ToPort: 8080 }),
    ]);
    const group = resources('AWS::EC2::SecurityGroup')[taskGroup['Fn::GetAtt'][0]]?.Properties;
    expect(group.SecurityGroupIngress).toBeUndefined();
    expect(group.SecurityGroupEgress).toEqual([
      expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
    ]);
  });

  test('internal load balancer in isolated subnets: idle timeout 300 s, health check /healthz, uploads drained 15 min', () => {
    const [, lb] = only(resources('AWS::ElasticLoadBalancingV2::LoadBalancer'));
    expect(lb.Properties.Scheme).toBe('internal');
    expect(lb.Properties.Subnets).toEqual(
      s.stack.uploader!.vpc.isolatedSubnets.map((subnet) => s.stack.resolve(subnet.subnetId)),
    );
    const attributes = Object.fromEntries(lb.Properties.LoadBalancerAttributes.map((a: Json) => [a.Key, a.Value]));
    expect(attributes).toMatchObject({
      'idle_timeout.timeout_seconds': '300',
      'access_logs.s3.enabled': 'true',
      'access_logs.s3.prefix': 'uploader-alb',
      'routing.http.drop_invalid_header_fields.enabled': 'true',
    });
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8080,
      TargetType: 'ip',
      HealthCheckPath: '/healthz',
      Matcher: { HttpCode: '200' },
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '900' }]),
    });
  });

  test('the task role holds exactly the upload grants of the blobs function, with no wildcard action', () => {
    const roleId = taskDefinition().TaskRoleArn['Fn::GetAtt'][0] as string;
    const grants = grantsOfRole(s.stack, s.template, roleId);
    // (The maintenance mode, which it reads as the blobs function does, is one item of the table.)
    expect(grants).toEqual([...UPLOAD_GRANTS].sort());
    // The blobs function has the same, plus blob reads (presigned GETs) and its log group.
    const blobs = grantsOf(s.stack, s.template, 'blobs').filter(
      (g) => !g.startsWith('logs:') && g !== 's3:GetObject bucket:blobs/*',
    );
    expect(grants).toEqual(blobs);
    expect(grants.filter((g) => /^[a-z0-9]+:\*|^\*/.test(g))).toEqual([]);
    const role = resources('AWS::IAM::Role')[roleId]?.Properties;
    expect(role.ManagedPolicyArns).toBeUndefined();
    expect(JSON.stringify(role.AssumeRolePolicyDocument)).toContain('ecs-tasks.amazonaws.com');
  });

  test('the container gets the environment that goes with its grants, and the port it serves', () => {
    const environment = Object.fromEntries(
      taskDefinition().ContainerDefinitions[0].Environment.map((e: Json) => [e.Name, e.Value]),
    );
    expect(environment).toEqual({
      PORT: '8080',
      AWS_REGION: 'eu-west-1',
      // 60 % of the task's 2 GiB at 80 MiB a stream.
      [ENV.uploaderMaxStreams]: '15',
      [ENV.maxNameDepth]: '8',
      [ENV.bucket]: { Ref: logicalId(s.stack.storage.bucket) },
      [ENV.table]: { Ref: logicalId(s.stack.storage.table) },
      [ENV.uploadTtl]: '86400',
      [ENV.modeInTable]: 'true',
    });
    // Uploads in flight get Fargate's longest stop timeout to finish after SIGTERM.
    expect(taskDefinition().ContainerDefinitions[0].StopTimeout).toBe(120);
    const logGroup = taskDefinition().ContainerDefinitions[0].LogConfiguration.Options['awslogs-group'].Ref;
    expect(resources('AWS::Logs::LogGroup')[logGroup]?.Properties.RetentionInDays).toBe(30);
  });

  test('outputs point at the distribution; the API keeps no custom domain', () => {
    const [distributionId] = only(resources('AWS::CloudFront::Distribution'));
    const domain = { 'Fn::GetAtt': [distributionId, 'DomainName'] };
    s.template.hasOutput('RegistryUrl', { Value: { 'Fn::Join': ['', ['https://', domain]] } });
    s.template.hasOutput('RegistryHost', { Value: domain });
    expect(Object.keys(s.template.findOutputs('DomainTarget'))).toEqual([]);
    s.template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
  });

  test('scales on the streams each task holds as well as on CPU', () => {
    const policies = Object.values(resources('AWS::ApplicationAutoScaling::ScalingPolicy')).map(
      (p) => p.Properties.TargetTrackingScalingPolicyConfiguration,
    );
    expect(policies).toContainEqual(
      expect.objectContaining({
        TargetValue: 7.5,
        CustomizedMetricSpecification: expect.objectContaining({
          MetricName: 'UploadsInFlight',
          Namespace: 'ServerlessOciRegistry',
          Statistic: 'Average',
        }),
      }),
    );
    expect(policies).toContainEqual(expect.objectContaining({ TargetValue: 60 }));
  });
});

describe('RegistryStack with the upload data path and a custom domain', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({ uploadDataPath: true, customDomain: DOMAIN, priceClass: PriceClass.PRICE_CLASS_ALL });
  });
  afterAll(() => s?.dispose());

  test('the domain moves to CloudFront with its us-east-1 certificate and TLS 1.2 at least', () => {
    const [distributionId, distribution] = only(s.template.findResources('AWS::CloudFront::Distribution'));
    expect(distribution.Properties.DistributionConfig).toMatchObject({
      Aliases: [DOMAIN.domainName],
      ViewerCertificate: {
        AcmCertificateArn: DOMAIN.certificateArn,
        MinimumProtocolVersion: 'TLSv1.2_2021',
        SslSupportMethod: 'sni-only',
      },
      PriceClass: 'PriceClass_All',
    });
    s.template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
    s.template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 0);
    s.template.hasOutput('RegistryUrl', { Value: `https://${DOMAIN.domainName}` });
    s.template.hasOutput('RegistryHost', { Value: DOMAIN.domainName });
    s.template.hasOutput('DomainTarget', { Value: { 'Fn::GetAtt': [distributionId, 'DomainName'] } });
  });
});

describe('RegistryStack upload data path validation and environments', () => {
  test('refuses a certificate outside us-east-1, and turning off the host CloudFront reaches the API by', () => {
    const regional = { ...DOMAIN, certificateArn: DOMAIN.certificateArn.replace('us-east-1', 'eu-west-1') };
    expect(() => synthRegistry({ uploadDataPath: true, customDomain: regional })).toThrow(
      /certificateArn must be in us-east-1 with uploadDataPath .* got region "eu-west-1"/,
    );
    expect(() =>
      synthRegistry({ uploadDataPath: true, customDomain: { ...DOMAIN, disableExecuteApiEndpoint: true } }),
    ).toThrow(/disableExecuteApiEndpoint cannot be used with uploadDataPath/);
  });

  test('an environment-agnostic template still logs load balancer access, with the writer looked up per region', () => {
    const s = synthRegistry({ uploadDataPath: true, env: undefined });
    try {
      const [, lb] = only(s.template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer'));
      expect(lb.Properties.LoadBalancerAttributes).toEqual(
        expect.arrayContaining([{ Key: 'access_logs.s3.enabled', Value: 'true' }]),
      );
      const mappings = Object.values(s.template.toJSON().Mappings as Json) as Json[];
      const accounts = mappings.find((m) => m['us-east-1']?.account);
      expect(accounts?.['us-east-1'].account).toBe('127311923021');
      expect(accounts?.['eu-central-2'].account).toBe('none');
      const policy = JSON.stringify(s.template.findResources('AWS::S3::BucketPolicy'));
      expect(policy).toContain('logdelivery.elasticloadbalancing.amazonaws.com');
    } finally {
      s.dispose();
    }
  });
});

describe('RegistryStack without the upload data path (the default)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({});
  });
  afterAll(() => s?.dispose());

  test('creates no distribution, container, load balancer or network', () => {
    const types = Object.values(s.template.toJSON().Resources as Record<string, Json>).map((r) => r.Type as string);
    expect(types.filter((t) => DATA_PATH_TYPES.test(t))).toEqual([]);
    expect(s.stack.uploader).toBeUndefined();
    expect(s.stack.frontDoor).toBeUndefined();
    const manifest = JSON.parse(readFileSync(join(s.app.outdir, 'Registry.assets.json'), 'utf8')) as Json;
    expect(manifest.dockerImages ?? {}).toEqual({});
  });
});
