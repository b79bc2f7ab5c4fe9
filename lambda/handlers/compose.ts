import { createAwsClients, type AwsClients } from '../adapters/aws-clients';
import { DynamoDbAccounts } from '../adapters/dynamodb/dynamodb-accounts';
import { DynamoDbMetadata } from '../adapters/dynamodb/dynamodb-metadata';
import { kmsTokenKeys } from '../adapters/kms/kms-token-keys';
import { S3BlobStore } from '../adapters/s3/s3-blob-store';
import { loadConfig, type RegistryConfig } from '../config/config';
import { systemClock } from '../core/ports/clock';
import type { AccountStore } from '../core/ports/accounts';
import type { TokenKeys } from '../core/ports/token-keys';
import { AuthService } from '../core/services/auth-service';
import { BlobService } from '../core/services/blob-service';
import { DiscoveryService } from '../core/services/discovery-service';
import { ManifestService } from '../core/services/manifest-service';
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
): Services {
  const { s3, dynamodb, presign } =
    clients ?? createAwsClients({ forcePathStyle: config.s3ForcePathStyle, s3PublicEndpoint: config.s3PublicEndpoint });
  const store = new S3BlobStore({ client: s3, bucket: config.bucket, presignClient: presign });
  const metadata = new DynamoDbMetadata(dynamodb, config.table);
  return {
    blobs: new BlobService(store, metadata, config.redirectTtlSeconds),
    uploads: new UploadService(store, metadata, metadata, systemClock, {
      minPartSize: MIN_PART_SIZE,
      partSize: PART_SIZE,
      concurrency: PART_CONCURRENCY,
      maxParts: 10_000,
      sessionTtlSeconds: config.uploadTtlSeconds,
      maxRereadSize: MAX_REREAD_SIZE,
    }),
    manifests: new ManifestService(store, metadata, metadata, {
      maxManifestSize: MAX_MANIFEST_SIZE,
      inlineLimit: INLINE_MANIFEST_LIMIT,
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
  };
}

let cached: Services | undefined;

/** Services built once per execution environment from `process.env`; a bad config fails the cold start. */
export function servicesFromEnv(): Services {
  cached ??= compose(loadConfig(process.env));
  return cached;
}

export type { RegistryConfig };
