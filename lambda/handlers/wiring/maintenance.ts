import { createAwsClients, type AwsClients } from '../../adapters/aws-clients';
import { DynamoDbGcStore } from '../../adapters/dynamodb/dynamodb-gc-store';
import { DynamoDbMetadata } from '../../adapters/dynamodb/dynamodb-metadata';
import { BACKGROUND_RETRY } from '../../adapters/retry-policy';
import { S3BlobStore } from '../../adapters/s3/s3-blob-store';
import type { RegistryConfig } from '../../config/config';
import { LIFECYCLE_DEFAULTS } from '../../config/lifecycle';
import { systemClock, type Clock } from '../../core/ports/clock';
import { GarbageCollector } from '../../core/services/garbage-collector';
import { UploadSweeper, type UploadSweeperOptions } from '../../core/services/upload-sweeper';
import { policySource } from './storage';

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
  const policy = await policySource(config, dynamodb).get();
  const lifecycle = config.lifecycle ?? LIFECYCLE_DEFAULTS;
  return new GarbageCollector(new DynamoDbGcStore(dynamodb, config.table), store, store, clock, {
    graceSeconds: lifecycle.gcGraceSeconds,
    ...(policy.untaggedRetentionDays !== null
      ? { untaggedRetentionSeconds: policy.untaggedRetentionDays * 86_400 }
      : {}),
    tagRules: policy.tagRetention,
    immutableTags: policy.immutableTags,
    ...(policy.notPulledForDays !== null ? { notPulledForDays: policy.notPulledForDays } : {}),
  });
}
