import { Duration } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { ENV } from '../../lambda/config/env';
import { UPLOAD_EXPIRY_INDEX } from '../../lambda/config/table-schema';
import { acknowledgements, disposingSynth, grantsOfRole, type Synthesized, violations, logicalId } from './stacks';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Exactly the calls UploadSweeper makes: the index, conditional deletes, staged objects, multipart uploads. */
const SWEEPER_GRANTS = [
  'dynamodb:DeleteItem table',
  // Point reads of session items only (dynamodb:LeadingKeys upload#*), to tell leftovers from live uploads.
  'dynamodb:GetItem table',
  `dynamodb:Query table/index/${UPLOAD_EXPIRY_INDEX.name}`,
  'logs:CreateLogStream logs',
  'logs:PutLogEvents logs',
  's3:AbortMultipartUpload bucket:blobs/assembled/*',
  's3:DeleteObject bucket:uploads/*',
  // Listing what no session names any more: the staging prefix only (s3:prefix), and uploads in progress.
  's3:ListBucket {"Fn::GetAtt":["StorageBlobs31FE9BCB","Arn"]}',
  's3:ListBucketMultipartUploads {"Fn::GetAtt":["StorageBlobs31FE9BCB","Arn"]}',
];

describe('RegistryMaintenance: the upload sweeper', () => {
  const synth = disposingSynth();
  const sweeperId = (s: Synthesized) => logicalId(s.stack.maintenance.uploadSweeper);
  const roleId = (s: Synthesized) => logicalId(s.stack.maintenance.uploadSweeper.role!);

  let s: Synthesized;
  beforeAll(() => {
    s = synth({}, { nag: true });
  });

  test('runs every hour from an EventBridge schedule, which alone may invoke it', () => {
    // The sweeper's rule (the garbage collector has its own: test/infra/garbage-collection.test.ts).
    const rules = (Object.values(s.template.findResources('AWS::Events::Rule')) as Json[]).filter(
      (r) => r.Properties.Targets[0].Arn['Fn::GetAtt'][0] === sweeperId(s),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties).toMatchObject({
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [sweeperId(s), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        },
      ],
    });
    const permissions = (Object.values(s.template.findResources('AWS::Lambda::Permission')) as Json[]).filter(
      (p) => p.Properties.FunctionName['Fn::GetAtt']?.[0] === sweeperId(s),
    );
    expect(permissions.map((p) => p.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [sweeperId(s), 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: {
          'Fn::GetAtt': [
            Object.entries(s.template.findResources('AWS::Events::Rule')).find(
              ([, r]) => (r as Json).Properties.Targets[0].Arn['Fn::GetAtt'][0] === sweeperId(s),
            )![0],
            'Arn',
          ],
        },
      },
    ]);
  });

  test('an arm64 function with its own log group, told only the bucket and the table', () => {
    const fn = s.template.findResources('AWS::Lambda::Function')[sweeperId(s)] as Json;
    expect(fn.Properties).toMatchObject({
      Architectures: ['arm64'],
      Runtime: expect.stringMatching(/^nodejs2[24]\.x$/),
      Handler: 'index.handler',
      Timeout: 300,
      MemorySize: 256,
      LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
    });
    expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual(
      [ENV.bucket, ENV.table, 'NODE_OPTIONS'].sort(),
    );
    const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
    expect(s.template.findResources('AWS::Logs::LogGroup')[logGroupId]?.Properties.RetentionInDays).toBe(30);
  });

  test('is granted exactly what a sweep calls: it can delete no blob and read no object', () => {
    expect(grantsOfRole(s.stack, s.template, roleId(s))).toEqual([...SWEEPER_GRANTS].sort());
    const role = s.template.findResources('AWS::IAM::Role')[roleId(s)] as Json;
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  test('the metadata table has the sparse expiry index the sweeper queries', () => {
    const tables = Object.values(s.template.findResources('AWS::DynamoDB::GlobalTable')) as Json[];
    expect(tables).toHaveLength(1);
    expect(tables[0]!.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: UPLOAD_EXPIRY_INDEX.name,
        KeySchema: [
          { AttributeName: UPLOAD_EXPIRY_INDEX.partitionKey, KeyType: 'HASH' },
          { AttributeName: UPLOAD_EXPIRY_INDEX.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['version', 'createdAt'] },
      },
    ]);
    expect(tables[0]!.Properties.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: UPLOAD_EXPIRY_INDEX.partitionKey, AttributeType: 'S' },
        { AttributeName: UPLOAD_EXPIRY_INDEX.sortKey, AttributeType: 'N' },
      ]),
    );
  });

  test('the lifecycle rules (the backstop) act only after the sweeper had its chance', () => {
    const bucket = s.template.findResources('AWS::S3::Bucket')[logicalId(s.stack.storage.bucket)] as Json;
    const rules = bucket.Properties.LifecycleConfiguration.Rules as Json[];
    const staging = rules.find((r) => r.Prefix === 'uploads/')!;
    const multipart = rules.find((r) => r.AbortIncompleteMultipartUpload)!;
    // Session TTL (1 day) + grace (15 min) + sweep interval (1 h) < 2 days.
    const sweptWithin = 86_400 + 900 + 3600;
    expect(staging.ExpirationInDays * 86_400).toBeGreaterThan(sweptWithin);
    expect(multipart.AbortIncompleteMultipartUpload.DaysAfterInitiation * 86_400).toBeGreaterThan(sweptWithin);
    Annotations.fromStack(s.stack).hasNoWarning('*', Match.stringLikeRegexp('lifecycle rules'));
  });

  test('cdk-nag reports nothing, and only the per-prefix object wildcards are acknowledged on its role', () => {
    expect(violations(s.app)).toEqual([]);
    const bucket = logicalId(s.stack.storage.bucket);
    expect(acknowledgements(s).filter((a) => a.includes('/Maintenance/'))).toEqual(
      [
        `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/blobs/assembled/*] @ Registry/Maintenance/UploadSweeper/Role`,
        `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/uploads/*] @ Registry/Maintenance/UploadSweeper/Role`,
      ].sort(),
    );
  });

  test('uploadSweepInterval sets the schedule; a lifecycle shorter than TTL + interval is warned about', () => {
    const custom = synth({ uploadSweepInterval: Duration.minutes(15) });
    custom.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 900 } })],
    });
    Annotations.fromStack(custom.stack).hasNoWarning('*', Match.stringLikeRegexp('lifecycle rules'));

    const tight = synth({ uploadTtlSeconds: 170_000, uploadStagingExpirationDays: 2 });
    Annotations.fromStack(tight.stack).hasWarning(
      '/Registry/Maintenance',
      Match.stringLikeRegexp('the lifecycle rules, not the sweeper'),
    );
  });
});
