import { Annotations, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { UPLOAD_EXPIRY_INDEX, UPLOAD_SESSION_PARTITION_PREFIX } from '../../lambda/config/table-schema';
import { jobFunction } from './functions';
import type { RegistryStorage } from './storage';

/** Seconds past expiry before the sweeper takes a session (UploadSweeper's default grace). */
const SWEEP_GRACE_SECONDS = 900;

/** Where the sweeper deletes: staged chunks, and the multipart uploads of `keys.assembled`. */
const STAGING_OBJECTS = 'uploads/*';
const MULTIPART_OBJECTS = 'blobs/assembled/*';

export interface RegistryMaintenanceProps {
  readonly storage: RegistryStorage;
  /**
   * How often the upload sweeper runs. An expired session is removed at most this long (plus 15
   * minutes' grace) after it expired.
   * @default Duration.hours(1)
   */
  readonly sweepInterval?: Duration;
  /**
   * How long the sweeper's logs are kept.
   * @default FUNCTION_DEFAULTS.logRetention (one month)
   */
  readonly logRetention?: RetentionDays;
}

/**
 * Scheduled housekeeping that is no endpoint: the upload sweeper (`lambda/handlers/sweeper.ts`), run
 * by an EventBridge schedule, removes expired upload sessions with their staged chunks and multipart
 * uploads (docs/storage.md, "Upload expiry"). Its role may only query the upload expiry index,
 * delete table items, delete staged objects and abort multipart uploads: it can never delete a
 * stored blob.
 */
export class RegistryMaintenance extends Construct {
  readonly uploadSweeper: NodejsFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: RegistryMaintenanceProps) {
    super(scope, id);
    const { storage } = props;
    const interval = props.sweepInterval ?? Duration.hours(1);
    const sweptWithin = storage.uploadSessionTtlSeconds + SWEEP_GRACE_SECONDS + interval.toSeconds();
    if (storage.uploadStagingExpirationDays * 86_400 <= sweptWithin) {
      Annotations.of(this).addWarningV2(
        'registry:sweepAfterLifecycle',
        `uploadStagingExpirationDays (${storage.uploadStagingExpirationDays}) is not longer than an upload session's TTL plus the sweep interval and grace (${sweptWithin} s): the lifecycle rules, not the sweeper, will remove most abandoned uploads`,
      );
    }

    const { fn, role } = jobFunction(new Construct(this, 'UploadSweeper'), {
      handler: 'sweeper',
      description: 'OCI registry: removes expired upload sessions and their staged data',
      roleDescription:
        'Registry upload sweeper: its own log group, the upload expiry index, session items, upload leftovers',
      // I/O bound: one Query per shard and page, one DeleteItem and S3 call or two per session.
      memorySize: 256,
      // The sweep stops taking sessions 30 s before this; the next run goes on.
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
    });
    this.uploadSweeper = fn;
    storage.bind(this.uploadSweeper);

    // Exactly the calls UploadSweeper makes through DynamoDbMetadata and S3BlobStore.
    const { table, bucket } = storage;
    role.addToPolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${table.tableArn}/index/${UPLOAD_EXPIRY_INDEX.name}`],
      }),
    );
    role.addToPolicy(new PolicyStatement({ actions: ['dynamodb:DeleteItem'], resources: [table.tableArn] }));
    role.addToPolicy(
      new PolicyStatement({ actions: ['s3:DeleteObject'], resources: [bucket.arnForObjects(STAGING_OBJECTS)] }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:AbortMultipartUpload'],
        resources: [bucket.arnForObjects(MULTIPART_OBJECTS)],
      }),
    );
    // Leftovers no session names any more (core/services/upload-orphans.ts): the multipart uploads in
    // progress and the staged objects are listed, and each one's session looked up by its key alone.
    role.addToPolicy(
      new PolicyStatement({ actions: ['s3:ListBucketMultipartUploads'], resources: [bucket.bucketArn] }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [STAGING_OBJECTS] } },
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem'],
        resources: [table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${UPLOAD_SESSION_PARTITION_PREFIX}*`] } },
      }),
    );
    const bucketId = Stack.of(this).getLogicalId(bucket.node.defaultChild as CfnBucket);
    for (const prefix of [STAGING_OBJECTS, MULTIPART_OBJECTS]) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}]`,
        reason: `Object keys under ${prefix} are upload ids chosen at run time; the grant is limited to that prefix of the registry bucket.`,
      });
    }

    this.schedule = new Rule(this, 'UploadSweepSchedule', {
      description: 'Runs the registry upload sweeper',
      schedule: Schedule.rate(interval),
      targets: [
        new LambdaFunction(this.uploadSweeper, {
          retryAttempts: 2,
          // A run held back longer is pointless: the next one is due.
          maxEventAge: Duration.seconds(Math.min(Math.max(interval.toSeconds(), 60), 86_400)),
        }),
      ],
    });
  }
}
