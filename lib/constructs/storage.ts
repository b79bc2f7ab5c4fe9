import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AttributeType, Billing, ProjectionType, TableEncryptionV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, type IRole } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, CfnBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ENV } from '../../lambda/config/env';
import {
  MODE_ITEM_KEY,
  REPOSITORY_PARTITION_PREFIX,
  TABLE_SCHEMA,
  UPLOAD_EXPIRY_INDEX,
} from '../../lambda/config/table-schema';
import { HEALTH_CHECK_KEY } from '../../lambda/config/observability';

/**
 * The DynamoDB actions a function may be granted on the metadata table. `TransactWriteItems` is not
 * an IAM action: a transaction needs `PutItem`/`DeleteItem`/`ConditionCheckItem` for the items it
 * touches, so those are listed instead.
 */
export type MetadataAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'BatchGetItem' | 'Query';

/**
 * Whatever runs registry code with a role and an environment: a Lambda function satisfies it as is,
 * and the uploader's container adapts its task role and container definition to it. The grants below
 * are written once against this, so the functions and the uploader cannot drift apart.
 */
export interface StorageGrantee {
  /** The role the code runs as; cdk-nag acknowledgements of the grants' object wildcards go on it. */
  readonly role?: IRole;
  addEnvironment(name: string, value: string): unknown;
  addToRolePolicy(statement: PolicyStatement): void;
}

export interface RegistryStorageProps {
  /**
   * Days after which staged chunks under `uploads/` expire and incomplete multipart uploads are
   * aborted. Must be longer than an idle upload session lives, and bounds how long one chunked
   * upload may take from its first chunk to its last.
   * @default 2
   */
  readonly uploadStagingExpirationDays?: number;
  /**
   * Seconds an idle upload session lives (`REGISTRY_UPLOAD_TTL_SECONDS`).
   * @default 86400 (one day)
   */
  readonly uploadTtlSeconds?: number;
  /**
   * Seconds a presigned blob URL stays valid (`REGISTRY_REDIRECT_TTL_SECONDS`).
   * @default 900 (15 minutes)
   */
  readonly redirectTtlSeconds?: number;
  /**
   * What happens to the bucket, its access-log bucket and the table when they leave the stack.
   * A bucket is deleted only when empty.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Server access logs are for incident review, not an archive. */
const ACCESS_LOG_EXPIRATION = Duration.days(90);

/**
 * The blob bucket (key layout in `lambda/core/keys.ts`), its access-log bucket and the metadata
 * table (`docs/storage.md`). Each `grant*` method grants one capability on exact key prefixes and
 * sets the environment variables that go with it, so a function never has a name without the
 * permission or the permission without the name.
 */
export class RegistryStorage extends Construct {
  readonly bucket: Bucket;
  readonly accessLogBucket: Bucket;
  readonly table: TableV2;
  /** Days after which the lifecycle rules expire staged chunks and abort multipart uploads. */
  readonly uploadStagingExpirationDays: number;
  private readonly uploadTtlSeconds: number;
  private readonly redirectTtlSeconds: number;

  constructor(scope: Construct, id: string, props: RegistryStorageProps = {}) {
    super(scope, id);
    const stagingDays = props.uploadStagingExpirationDays ?? 2;
    this.uploadTtlSeconds = props.uploadTtlSeconds ?? 86_400;
    this.redirectTtlSeconds = props.redirectTtlSeconds ?? 900;
    if (!Number.isInteger(stagingDays) || stagingDays * 86_400 <= this.uploadTtlSeconds) {
      throw new Error(
        `uploadStagingExpirationDays (${stagingDays}) must be a whole number of days longer than uploadTtlSeconds (${this.uploadTtlSeconds} s), or open uploads lose their staged bytes`,
      );
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const privateBucket = {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      // Server access logs cannot be delivered to a KMS-encrypted bucket, and presigned GETs by
      // clients outside the account would need a key grant; SSE-S3 needs neither.
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
    };

    this.accessLogBucket = new Bucket(this, 'AccessLogs', {
      ...privateBucket,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: ACCESS_LOG_EXPIRATION }],
    });
    // No access logs of its own (AwsSolutions-S1): cdk-nag recognises it as the blob bucket's log target.

    this.bucket = new Bucket(this, 'Blobs', {
      ...privateBucket,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'blobs/',
      lifecycleRules: [
        // Abandoned sessions leave staged chunks behind; an idle session dies sooner (checked above).
        { id: 'ExpireUploadStaging', prefix: 'uploads/', expiration: Duration.days(stagingDays) },
        // Multipart uploads of abandoned sessions hold parts that cost storage but are invisible.
        { id: 'AbortIncompleteMultipart', abortIncompleteMultipartUploadAfter: Duration.days(stagingDays) },
      ],
    });

    // Upload sessions hold hash state that may contain bytes of the upload (docs/storage.md).
    this.table = singleTable(this, 'Metadata', removalPolicy);
    // Upload sessions by expiry, for the upload sweeper (lib/constructs/maintenance.ts). Sparse: only
    // session items carry the partition key.
    this.table.addGlobalSecondaryIndex({
      indexName: UPLOAD_EXPIRY_INDEX.name,
      partitionKey: { name: UPLOAD_EXPIRY_INDEX.partitionKey, type: AttributeType.STRING },
      sortKey: { name: UPLOAD_EXPIRY_INDEX.sortKey, type: AttributeType.NUMBER },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: [...UPLOAD_EXPIRY_INDEX.nonKeyAttributes],
    });
    this.uploadStagingExpirationDays = stagingDays;
  }

  /** Seconds an idle upload session lives. */
  get uploadSessionTtlSeconds(): number {
    return this.uploadTtlSeconds;
  }

  /** Sets the bucket and table names, which every function's config requires even without grants. */
  bind(fn: StorageGrantee): void {
    fn.addEnvironment(ENV.bucket, this.bucket.bucketName);
    fn.addEnvironment(ENV.table, this.table.tableName);
  }

  /**
   * Blob reads: `s3:GetObject` on `blobs/*`. The function itself reads no blob bytes, but the
   * presigned GET URLs it hands out act with its permissions.
   */
  grantBlobRead(fn: StorageGrantee): void {
    this.bind(fn);
    fn.addEnvironment(ENV.redirectTtl, String(this.redirectTtlSeconds));
    this.allow(fn, ['s3:GetObject'], ['blobs/*']);
  }

  /**
   * Upload sessions: staging chunks under `uploads/`, assembling multipart uploads under
   * `blobs/assembled/` (PutObject covers Create/UploadPart/Complete and the target of
   * UploadPartCopy, GetObject its source and read-backs), writing verified blobs under `blobs/`.
   * Deletes are limited to staging and assembled objects: no upload can remove a blob stored under
   * its digest. Direct uploads (the push helper) add listing the parts of an assembled object's
   * multipart upload; the part URLs they hand out are signed with this PutObject, but each names one
   * part of one multipart upload, whose bytes count only once read back and verified. A whole-blob
   * URL names one assembled object and carries its SHA-256 as a signed header, which S3 checks.
   */
  grantUploadWrite(fn: StorageGrantee): void {
    this.bind(fn);
    fn.addEnvironment(ENV.uploadTtl, String(this.uploadTtlSeconds));
    this.allow(fn, ['s3:PutObject'], ['uploads/*', 'blobs/*']);
    this.allow(fn, ['s3:GetObject', 's3:DeleteObject'], ['uploads/*', 'blobs/assembled/*']);
    this.allow(fn, ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], ['blobs/assembled/*']);
  }

  /**
   * Everything the upload endpoints call, and nothing else: upload sessions and their objects
   * (`grantUploadWrite`), plus point reads and (conditional) writes of sessions, blob records and
   * repository links, which a cross-repository mount also uses. The blobs function and the uploader
   * both get exactly this.
   */
  grantUploads(fn: StorageGrantee): void {
    this.grantUploadWrite(fn);
    // UpdateItem: a new link marks its blob record as linked now, in the same transaction.
    this.grantMetadata(fn, ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']);
  }

  /** Manifest bodies too large for their table item: `s3:GetObject` and `s3:PutObject` on `manifests/*`. */
  grantManifestObjects(fn: StorageGrantee): void {
    this.bind(fn);
    this.allow(fn, ['s3:GetObject', 's3:PutObject'], ['manifests/*']);
  }

  /** Exactly `actions` on the metadata table (no index exists, so none is granted). */
  grantMetadata(fn: StorageGrantee, actions: readonly MetadataAction[]): void {
    this.bind(fn);
    fn.addToRolePolicy(
      new PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [this.table.tableArn] }),
    );
  }

  /**
   * `dynamodb:UpdateItem` on repository items only (`dynamodb:LeadingKeys` `repo#*`): what the
   * manifests function updates, a push marking the links and manifests it references (`refAt`) and
   * a pull recording its day on the manifest (`pulledOn`). Blob records, sessions, the catalog and
   * the policy are out of its reach.
   */
  grantRepositoryUpdates(fn: StorageGrantee): void {
    this.bind(fn);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${REPOSITORY_PARTITION_PREFIX}*`] } },
      }),
    );
  }

  /**
   * The health check (`GET /health`): `dynamodb:GetItem` on the metadata table, limited by
   * `dynamodb:LeadingKeys` to the health check's own partition, which holds no registry data.
   */
  grantHealthCheck(fn: StorageGrantee): void {
    this.bind(fn);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [HEALTH_CHECK_KEY] } },
      }),
    );
  }

  /**
   * Lets registry code follow the registry's mode (maintenance mode: read-only), one item of the
   * metadata table (`MODE_ITEM_KEY`): `dynamodb:GetItem` limited by `dynamodb:LeadingKeys` to that
   * item's partition, and the variable that tells the code to read it. The functions that serve
   * writes and /health (base) read it through a cache of 30 s per execution environment;
   * `npx serverless-oci-registry maintenance on --metadata-table <table>` switches it, no deployment.
   */
  grantModeRead(fn: StorageGrantee): void {
    this.bind(fn);
    fn.addEnvironment(ENV.modeInTable, 'true');
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [MODE_ITEM_KEY.pk] } },
      }),
    );
  }

  private allow(fn: StorageGrantee, actions: string[], prefixes: string[]): void {
    fn.addToRolePolicy(new PolicyStatement({ actions, resources: prefixes.map((p) => this.bucket.arnForObjects(p)) }));
    if (!fn.role) return;
    for (const prefix of prefixes) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${this.bucketLogicalId()}.Arn>/${prefix}]`,
        reason: `Object keys under ${prefix} are content digests or upload ids chosen at run time; the grant is limited to that prefix of the registry bucket.`,
      });
    }
  }

  /** cdk-nag names a resource in its findings by logical id, so the suppression names exactly this bucket. */
  private bucketLogicalId(): string {
    return Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket);
  }
}

/**
 * A table with the registry's single-table key schema (lambda/config/table-schema.ts): on demand,
 * TTL, point-in-time recovery and encryption at rest.
 */
export function singleTable(scope: Construct, id: string, removalPolicy: RemovalPolicy): TableV2 {
  return new TableV2(scope, id, {
    partitionKey: { name: TABLE_SCHEMA.partitionKey, type: AttributeType.STRING },
    sortKey: { name: TABLE_SCHEMA.sortKey, type: AttributeType.STRING },
    billing: Billing.onDemand(),
    timeToLiveAttribute: TABLE_SCHEMA.ttlAttribute,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: TableEncryptionV2.awsManagedKey(),
    removalPolicy,
  });
}
