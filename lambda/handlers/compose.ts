import { createAwsClients, type AwsClients } from '../adapters/aws-clients';
import { API_RETRY, BACKGROUND_RETRY, type RetrySettings } from '../adapters/retry-policy';
import { DynamoDbAccounts } from '../adapters/dynamodb/dynamodb-accounts';
import { DynamoDbMetadata } from '../adapters/dynamodb/dynamodb-metadata';
import { kmsTokenKeys } from '../adapters/kms/kms-token-keys';
import { S3BlobStore } from '../adapters/s3/s3-blob-store';
import { DynamoDbHealthCheck } from '../adapters/dynamodb/dynamodb-health-check';
import { ssmModeStore } from '../adapters/ssm/ssm-mode-store';
import { ModeService } from '../core/services/mode-service';
import { eventBridgePublisher } from '../adapters/eventbridge/eventbridge-publisher';
import { log } from '../http/log';
import { loadConfig, type RegistryConfig } from '../config/config';
import { systemClock, type Clock } from '../core/ports/clock';
import { UploadSweeper, type UploadSweeperOptions } from '../core/services/upload-sweeper';
import type { AccountStore } from '../core/ports/accounts';
import type { TokenKeys } from '../core/ports/token-keys';
import { AuthService } from '../core/services/auth-service';
import { BlobService } from '../core/services/blob-service';
import { DiscoveryService } from '../core/services/discovery-service';
import { ManifestService } from '../core/services/manifest-service';
import { DynamoDbGcStore } from '../adapters/dynamodb/dynamodb-gc-store';
import { DynamoDbPolicyStore } from '../adapters/dynamodb/dynamodb-policy-store';
import { LIFECYCLE_DEFAULTS } from '../config/lifecycle';
import { GarbageCollector } from '../core/services/garbage-collector';
import { PolicySource } from '../core/services/policy-source';
import { UploadService } from '../core/services/upload-service';
import type { Services } from '../http/services';

/** S3 refuses multipart parts below 5 MiB, except the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Chunked uploads with a non-sha256 digest are verified by reading them back, up to this size. */
export const MAX_REREAD_SIZE = 64 * 1024 * 1024;
/** Parts cut from streamed bodies: 10,000 of them hold 160 GiB. */
export const PART_SIZE = 16 * 1024 * 1024;
/** Parts in flight per streamed request, so S3 latency overlaps with receiving. */
export const PART_CONCURRENCY = 4;
/**
 * Direct uploads (the push helper): how long a part URL works, and how much verification one request
 * does (well within the API's 30 s; the helper repeats the request until it is done).
 */
export const DIRECT_UPLOAD_OPTIONS = { partUrlTtlSeconds: 900, verifyBudget: { milliseconds: 15_000 } } as const;
/** The spec asks registries to accept manifests of at least 4 MiB. */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
/** Manifests up to this size live inside their DynamoDB item (limit 400 KB including other attributes). */
export const INLINE_MANIFEST_LIMIT = 256 * 1024;

/**
 * The composition root: config → SDK clients → adapters → services. Region, credentials and
 * `AWS_ENDPOINT_URL` come from the environment as the SDK reads them, so the same code runs in
 * Lambda, in local mode and against LocalStack.
 */
export function compose(
  config: RegistryConfig,
  clients?: AwsClients,
  auth: { accounts?: AccountStore; keys?: TokenKeys } = {},
  retry: RetrySettings = API_RETRY,
): Services {
  const { s3, dynamodb, presign } =
    clients ??
    createAwsClients({ forcePathStyle: config.s3ForcePathStyle, s3PublicEndpoint: config.s3PublicEndpoint, retry });
  const store = new S3BlobStore({ client: s3, bucket: config.bucket, presignClient: presign });
  const metadata = new DynamoDbMetadata(dynamodb, config.table);
  const policy = policySource(config, dynamodb);
  return {
    blobs: new BlobService(store, metadata, config.redirectTtlSeconds),
    uploads: new UploadService(store, metadata, metadata, systemClock, {
      minPartSize: MIN_PART_SIZE,
      partSize: PART_SIZE,
      concurrency: PART_CONCURRENCY,
      maxParts: 10_000,
      sessionTtlSeconds: config.uploadTtlSeconds,
      maxRereadSize: MAX_REREAD_SIZE,
      ...DIRECT_UPLOAD_OPTIONS,
      verifyBudget: config.directVerifyBudget ?? DIRECT_UPLOAD_OPTIONS.verifyBudget,
    }),
    manifests: new ManifestService(store, metadata, metadata, {
      maxManifestSize: MAX_MANIFEST_SIZE,
      inlineLimit: INLINE_MANIFEST_LIMIT,
      policy: () => policy.get(),
    }),
    discovery: new DiscoveryService(metadata),
    maxNameDepth: config.maxNameDepth,
    auth: new AuthService(
      auth.accounts ??
        (config.auth.accountsTable ? new DynamoDbAccounts(dynamodb, config.auth.accountsTable) : undefined),
      auth.keys ?? (config.auth.tokenKeyArns.length > 0 ? kmsTokenKeys(config.auth.tokenKeyArns) : undefined),
      systemClock,
      {
        mode: config.auth.mode,
        service: config.auth.service,
        issuer: config.auth.issuer,
        tokenTtlSeconds: config.auth.tokenTtlSeconds,
        refreshTtlSeconds: config.auth.refreshTtlSeconds,
        anonymousPull: config.auth.anonymousPull,
        maxFailures: config.auth.maxFailures,
        failureWindowSeconds: config.auth.failureWindowSeconds,
      },
    ),
    ...(config.auth.publicUrl ? { publicUrl: config.auth.publicUrl } : {}),
    // Registry events (docs/events.md): off unless REGISTRY_EVENT_BUS names a bus.
    ...(config.events ? { events: eventBridgePublisher(config.events, log), publishPulls: config.events.pulls } : {}),
    tags: metadata,
    // GET /health reads one fixed key of the table (the base function's only table grant).
    health: new DynamoDbHealthCheck(dynamodb, config.table),
    // Maintenance mode: only functions that serve writes are told the parameter (lib/registry-stack.ts).
    ...(config.modeParameter ? { mode: new ModeService(ssmModeStore(config.modeParameter), systemClock) } : {}),
  };
}

let cached: Services | undefined;

/**
 * Services built once per execution environment from `process.env`; a bad config fails the cold start.
 * In Lambda (which sets `AWS_LAMBDA_FUNCTION_NAME`) calls retry within the API's 30 s; the uploader,
 * the other user of this, has no such limit and retries longer (adapters/retry-policy.ts).
 */
export function servicesFromEnv(): Services {
  const retry = process.env.AWS_LAMBDA_FUNCTION_NAME ? API_RETRY : BACKGROUND_RETRY;
  cached ??= compose(loadConfig(process.env), undefined, {}, retry);
  return cached;
}

/**
 * The upload sweeper (lambda/handlers/sweeper.ts, the admin CLI's `uploads purge`): the blob store
 * and the metadata table's upload expiry index, nothing else.
 */
export function composeUploadSweeper(
  config: Pick<RegistryConfig, 'bucket' | 'table' | 's3ForcePathStyle'>,
  clients?: Pick<AwsClients, 's3' | 'dynamodb'>,
  clock: Clock = systemClock,
  options?: UploadSweeperOptions,
): UploadSweeper {
  const { s3, dynamodb } =
    clients ?? createAwsClients({ forcePathStyle: config.s3ForcePathStyle, retry: BACKGROUND_RETRY });
  const store = new S3BlobStore({ client: s3, bucket: config.bucket });
  return new UploadSweeper(store, new DynamoDbMetadata(dynamodb, config.table), clock, options);
}

/** The lifecycle policy: configured defaults plus what the admin CLI stored in the table. */
function policySource(
  config: Pick<RegistryConfig, 'table' | 'lifecycle'>,
  dynamodb: AwsClients['dynamodb'],
): PolicySource {
  const lifecycle = config.lifecycle ?? LIFECYCLE_DEFAULTS;
  return new PolicySource(
    {
      immutableTags: lifecycle.immutableTags,
      tagRetention: lifecycle.tagRetention,
      untaggedRetentionDays: lifecycle.untaggedRetentionDays,
    },
    new DynamoDbPolicyStore(dynamodb, config.table),
    systemClock,
  );
}

/**
 * Garbage collection (lambda/handlers/gc.ts, the admin CLI's `gc`): the metadata table's snapshot
 * and conditional deletes, the blob store, and the lifecycle policy in force.
 */
export async function composeGarbageCollector(
  config: Pick<RegistryConfig, 'bucket' | 'table' | 's3ForcePathStyle' | 'lifecycle'>,
  clients?: Pick<AwsClients, 's3' | 'dynamodb'>,
  clock: Clock = systemClock,
): Promise<GarbageCollector> {
  const { s3, dynamodb } =
    clients ?? createAwsClients({ forcePathStyle: config.s3ForcePathStyle, retry: BACKGROUND_RETRY });
  const store = new S3BlobStore({ client: s3, bucket: config.bucket });
  const policy = await policySource(config, dynamodb as AwsClients['dynamodb']).get();
  const lifecycle = config.lifecycle ?? LIFECYCLE_DEFAULTS;
  return new GarbageCollector(new DynamoDbGcStore(dynamodb, config.table), store, store, clock, {
    graceSeconds: lifecycle.gcGraceSeconds,
    ...(policy.untaggedRetentionDays !== null
      ? { untaggedRetentionSeconds: policy.untaggedRetentionDays * 86_400 }
      : {}),
    tagRules: policy.tagRetention,
    immutableTags: policy.immutableTags,
  });
}

export type { RegistryConfig };
