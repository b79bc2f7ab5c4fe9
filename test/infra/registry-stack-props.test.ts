import { RemovalPolicy } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { ENV } from '../../lambda/config/env';
import { FUNCTION_GROUPS, routeTable } from '../../lambda/config/routes';
import { functionId, synthRegistry, type Synthesized } from './stacks';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('RegistryStack with custom props', () => {
  const DOMAIN = {
    domainName: 'registry.example.com',
    certificateArn: 'arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000',
  };
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({
      maxNameDepth: 3,
      customDomain: { ...DOMAIN, disableExecuteApiEndpoint: true },
      redirectTtlSeconds: 600,
      uploadTtlSeconds: 3600,
      uploadStagingExpirationDays: 5,
      dataRemovalPolicy: RemovalPolicy.DESTROY,
      throttle: { burstLimit: 50, rateLimit: 20 },
    });
  });
  afterAll(() => s?.dispose());

  test('routes follow maxNameDepth, and functions are told the same depth', () => {
    s.template.resourceCountIs('AWS::ApiGatewayV2::Route', routeTable(3).length);
    // Every endpoint group's function (the upload sweeper serves no route).
    for (const group of FUNCTION_GROUPS) {
      const fn = s.template.findResources('AWS::Lambda::Function')[functionId(s.stack, group)] as Json;
      expect([group, fn.Properties.Environment.Variables[ENV.maxNameDepth]]).toEqual([group, '3']);
    }
  });

  test('custom domain: domain name with the certificate, mapped at the root to the $default stage', () => {
    s.template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: DOMAIN.domainName,
      DomainNameConfigurations: [Match.objectLike({ CertificateArn: DOMAIN.certificateArn })],
    });
    s.template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
    const mapping = Object.values(s.template.findResources('AWS::ApiGatewayV2::ApiMapping'))[0] as Json;
    expect(mapping.Properties.ApiMappingKey).toBeUndefined();
    expect(mapping.Properties.Stage).toBe('$default');
    // Mapped by name, so the stage must exist first.
    const stageId = Object.keys(s.template.findResources('AWS::ApiGatewayV2::Stage'))[0];
    expect(mapping.DependsOn).toContain(stageId);
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: true });
    s.template.hasOutput('RegistryUrl', { Value: `https://${DOMAIN.domainName}` });
    s.template.hasOutput('RegistryHost', { Value: DOMAIN.domainName });
    s.template.hasOutput('DomainTarget', Match.anyValue());
  });

  test('lifetimes, lifecycle, throttling and removal policy follow the props', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ENV.redirectTtl]: '600', [ENV.uploadTtl]: '3600' }) },
    });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'uploads/', ExpirationInDays: 5 }),
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 5 } }),
        ]),
      },
    });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingBurstLimit: 50, ThrottlingRateLimit: 20 },
    });
    s.template.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Delete' });
  });
});

describe('RegistryStack prop validation', () => {
  test('refuses staging that expires before an upload session does', () => {
    expect(() => synthRegistry({ uploadTtlSeconds: 3 * 86_400, uploadStagingExpirationDays: 2 })).toThrow(
      /uploadStagingExpirationDays \(2\) must be .* longer than uploadTtlSeconds/,
    );
  });

  test('refuses a name depth the route table cannot serve', () => {
    expect(() => synthRegistry({ maxNameDepth: 0 })).toThrow(/maxNameDepth must be an integer/);
  });
});

describe('a stack deployed without an auth choice', () => {
  test('is in token mode, so nobody pushes anonymously', () => {
    const s = synthRegistry({ auth: undefined });
    try {
      const functions = s.template.findResources('AWS::Lambda::Function');
      const modes = Object.values(functions)
        .map((f) => (f as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties)
        .filter((p) => p.Environment?.Variables?.REGISTRY_MAX_NAME_DEPTH !== undefined)
        .map((p) => p.Environment?.Variables?.REGISTRY_AUTH_MODE);
      expect(modes.length).toBe(5);
      expect(new Set(modes)).toEqual(new Set(['token']));
      s.template.resourceCountIs('AWS::KMS::Key', 1);
    } finally {
      s.dispose();
    }
  });
});

describe('RegistryStack under a path prefix', () => {
  test('every endpoint function and the uploader are told the prefix; none is told it by default', () => {
    const s = synthRegistry({ pathPrefix: '/registry', uploadDataPath: true });
    try {
      for (const group of FUNCTION_GROUPS) {
        const fn = s.template.findResources('AWS::Lambda::Function')[functionId(s.stack, group)] as Json;
        expect([group, fn.Properties.Environment.Variables[ENV.pathPrefix]]).toEqual([group, '/registry']);
      }
      s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: [
          Match.objectLike({
            Environment: Match.arrayWith([{ Name: ENV.pathPrefix, Value: '/registry' }]),
          }),
        ],
      });
    } finally {
      s.dispose();
    }
  });

  test('a prefix that is no path is refused at synth', () => {
    expect(() => synthRegistry({ pathPrefix: 'registry/' })).toThrow(/pathPrefix must be a path/);
  });
});
