import type { AwsClients } from '../../adapters/aws-clients';
import { DynamoDbMetadata } from '../../adapters/dynamodb/dynamodb-metadata';
import { DynamoDbPolicyStore } from '../../adapters/dynamodb/dynamodb-policy-store';
import { S3BlobStore } from '../../adapters/s3/s3-blob-store';
import { DynamoDbFillClaims } from '../../adapters/dynamodb/dynamodb-fill-claims';
import type { RegistryConfig } from '../../config/config';
import { LIFECYCLE_DEFAULTS } from '../../config/lifecycle';
import { systemClock } from '../../core/ports/clock';
import { BlobService } from '../../core/services/blob-service';
import { ManifestService } from '../../core/services/manifest-service';
import { PolicySource } from '../../core/services/policy-source';
import { UploadService } from '../../core/services/upload-service';
import type { FillClaims } from '../../core/services/pull-through';
import { blobCache, cacheRules } from './pull-through';
import { requestEvents } from '../../http/event-scope';
import type { Services } from '../../http/services';
import {
  DIRECT_UPLOAD_OPTIONS,
  INLINE_MANIFEST_LIMIT,
  MAX_MANIFEST_SIZE,
  MAX_REREAD_SIZE,
  MIN_PART_SIZE,
  PART_CONCURRENCY,
  PART_SIZE,
} from './limits';

/** The bucket and the metadata table, as the services see them. */
export interface RegistryStorage {
  readonly store: S3BlobStore;
  readonly metadata: DynamoDbMetadata;
  /** Pull-through fill claims, in the same table. */
  readonly claims: FillClaims;
}

export function registryStorage(
  config: Pick<RegistryConfig, 'bucket' | 'table'>,
  clients: Pick<AwsClients, 's3' | 'presign' | 'dynamodb'>,
): RegistryStorage {
  return {
    store: new S3BlobStore({ client: clients.s3, bucket: config.bucket, presignClient: clients.presign }),
    metadata: new DynamoDbMetadata(clients.dynamodb, config.table),
    claims: new DynamoDbFillClaims(clients.dynamodb, config.table),
  };
}

/** Blob reads, deletes and mounts, and uploads. */
export function blobServices(
  config: Pick<RegistryConfig, 'redirectTtlSeconds' | 'uploadTtlSeconds' | 'directVerifyBudget' | 'pullThrough'>,
  { store, metadata, claims }: RegistryStorage,
): Pick<Services, 'blobs' | 'uploads'> {
  const uploads = new UploadService(
    store,
    metadata,
    metadata,
    systemClock,
    {
      minPartSize: MIN_PART_SIZE,
      partSize: PART_SIZE,
      concurrency: PART_CONCURRENCY,
      maxParts: 10_000,
      sessionTtlSeconds: config.uploadTtlSeconds,
      maxRereadSize: MAX_REREAD_SIZE,
      ...DIRECT_UPLOAD_OPTIONS,
      verifyBudget: config.directVerifyBudget ?? DIRECT_UPLOAD_OPTIONS.verifyBudget,
    },
    requestEvents,
  );
  const rules = cacheRules(config);
  const cache = rules && blobCache(config, rules, metadata, uploads, claims);
  return { blobs: new BlobService(store, metadata, config.redirectTtlSeconds, cache, requestEvents), uploads };
}

/** Manifests under the lifecycle policy in force, and the tag lookups of `Tag Changed` events. */
export function manifestServices(
  config: Pick<RegistryConfig, 'table' | 'lifecycle' | 'pullThrough'>,
  { store, metadata }: RegistryStorage,
  dynamodb: AwsClients['dynamodb'],
): Pick<Services, 'manifests'> {
  const policy = policySource(config, dynamodb);
  return {
    manifests: new ManifestService(store, metadata, metadata, {
      maxManifestSize: MAX_MANIFEST_SIZE,
      inlineLimit: INLINE_MANIFEST_LIMIT,
      policy: () => policy.get(),
      events: requestEvents,
      ...(config.pullThrough ? { cache: cacheRules(config) } : {}),
    }),
  };
}

/** The lifecycle policy: configured defaults plus what the admin CLI stored in the table. */
export function policySource(
  config: Pick<RegistryConfig, 'table' | 'lifecycle'>,
  dynamodb: AwsClients['dynamodb'],
): PolicySource {
  const lifecycle = config.lifecycle ?? LIFECYCLE_DEFAULTS;
  return new PolicySource(
    {
      immutableTags: lifecycle.immutableTags,
      tagRetention: lifecycle.tagRetention,
      untaggedRetentionDays: lifecycle.untaggedRetentionDays,
      notPulledForDays: lifecycle.notPulledForDays ?? null,
    },
    new DynamoDbPolicyStore(dynamodb, config.table),
    systemClock,
  );
}
