import { Bucket } from 'aws-cdk-lib/aws-s3';
import { acknowledgements, disposingSynth, violations, logicalId } from './stacks';

const DOMAIN = {
  domainName: 'registry.example.com',
  certificateArn: 'arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000',
};
/** CloudFront takes certificates from us-east-1 only. */
const CLOUDFRONT_DOMAIN = { ...DOMAIN, certificateArn: DOMAIN.certificateArn.replace('eu-west-1', 'us-east-1') };

describe('cdk-nag AwsSolutions', () => {
  const synth = disposingSynth();

  test.each([
    ['default props', {}],
    ['a custom domain', { customDomain: DOMAIN }],
    ['the upload data path', { uploadDataPath: true }],
    ['the upload data path and a custom domain', { uploadDataPath: true, customDomain: CLOUDFRONT_DOMAIN }],
  ])('reports nothing unacknowledged for a stack with %s', (_name, props) => {
    const s = synth(props, { nag: true });
    expect(violations(s.app)).toEqual([]);
  });

  test('acknowledges only the authorization rule and per-prefix object wildcards, on the constructs concerned', () => {
    const s = synth({}, { nag: true });
    const bucket = logicalId(s.stack.storage.bucket);
    const iam5 = (prefix: string, group: string) =>
      `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/${prefix}] @ Registry/Functions/${group}/Role`;
    expect([...new Set(acknowledgements(s))]).toEqual(
      [
        'AwsSolutions-APIG4 @ Registry/Api/HttpApi',
        iam5('blobs/*', 'Blobs'),
        iam5('uploads/*', 'Blobs'),
        iam5('blobs/assembled/*', 'Blobs'),
        iam5('manifests/*', 'Manifests'),
        // The upload sweeper deletes staged chunks and aborts multipart uploads, by upload id.
        `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/uploads/*] @ Registry/Maintenance/UploadSweeper/Role`,
        `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/blobs/assembled/*] @ Registry/Maintenance/UploadSweeper/Role`,
        // The garbage collector deletes unreferenced blobs and large manifests, by digest.
        `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/blobs/*] @ Registry/GarbageCollection/Collector/Role`,
        `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/manifests/*] @ Registry/GarbageCollection/Collector/Role`,
      ].sort(),
    );
  });

  test.each([
    ['its default domain', {}, ['AwsSolutions-CFR4 @ Registry/FrontDoor/Distribution']],
    ['a custom domain (TLS 1.2 at least, so no CFR4)', { customDomain: CLOUDFRONT_DOMAIN }, []],
  ])(
    'the upload data path with %s adds only its own acknowledgements, each on its construct',
    (_name, props, extra) => {
      const s = synth({ uploadDataPath: true, ...props }, { nag: true });
      const bucket = logicalId(s.stack.storage.bucket);
      const iam5 = (prefix: string, role: string) =>
        `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/${prefix}] @ Registry/${role}`;
      // Only cdk-nag's rules: aws-cdk-lib acknowledges cfn-lint findings of its own VPC and flow log
      // constructs (CloudFormation-Validate::*), which are none of this stack's decisions.
      // Logging is turned on rather than acknowledged: no CFR3, ELB2, VPC7 or S1 below.
      const ours = acknowledgements(s).filter((a) => a.startsWith('AwsSolutions-'));
      expect([...new Set(ours)]).toEqual(
        [
          'AwsSolutions-APIG4 @ Registry/Api/HttpApi',
          iam5('blobs/*', 'Functions/Blobs/Role'),
          iam5('uploads/*', 'Functions/Blobs/Role'),
          iam5('blobs/assembled/*', 'Functions/Blobs/Role'),
          iam5('manifests/*', 'Functions/Manifests/Role'),
          iam5('uploads/*', 'Maintenance/UploadSweeper/Role'),
          iam5('blobs/assembled/*', 'Maintenance/UploadSweeper/Role'),
          iam5('blobs/*', 'GarbageCollection/Collector/Role'),
          iam5('manifests/*', 'GarbageCollection/Collector/Role'),
          // The uploader's task role gets the blobs function's upload grants, acknowledged the same way.
          iam5('blobs/*', 'Uploader/TaskDefinition/TaskRole'),
          iam5('uploads/*', 'Uploader/TaskDefinition/TaskRole'),
          iam5('blobs/assembled/*', 'Uploader/TaskDefinition/TaskRole'),
          // ecr:GetAuthorizationToken has no resource-level permissions.
          'AwsSolutions-IAM5[Resource::*] @ Registry/Uploader/TaskDefinition/ExecutionRole',
          // Environment variables carry names and settings, no secrets.
          'AwsSolutions-ECS2 @ Registry/Uploader/TaskDefinition',
          // Container Insights would be a fixed monthly charge.
          'AwsSolutions-ECS4 @ Registry/Uploader/Cluster',
          // The internal load balancer's listener is open; the VPC placement is the boundary.
          'AwsSolutions-EC23 @ Registry/Uploader/LoadBalancer/SecurityGroup',
          // No geo restriction, no WAF (uploads are bodies far beyond its inspection limit).
          'AwsSolutions-CFR1 @ Registry/FrontDoor/Distribution',
          'AwsSolutions-CFR2 @ Registry/FrontDoor/Distribution',
          ...extra,
        ].sort(),
      );
    },
  );

  test('does report what nobody acknowledged (the check itself is live)', () => {
    let thrown: unknown;
    try {
      synth({}, { nag: true, extend: (stack) => new Bucket(stack, 'Unlogged') });
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).toMatch(/AwsSolutions-S1/);
    expect(String(thrown)).toMatch(/Registry\/Unlogged/);
  });
});
