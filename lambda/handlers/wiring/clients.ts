import { createAwsClients, type AwsClients } from '../../adapters/aws-clients';
import type { RetrySettings } from '../../adapters/retry-policy';
import type { RegistryConfig } from '../../config/config';

/** The S3 and DynamoDB clients of a function that serves blobs or manifests, as its config says. */
export function registryClients(
  config: Pick<RegistryConfig, 's3ForcePathStyle' | 's3PublicEndpoint'>,
  retry?: RetrySettings,
): AwsClients {
  return createAwsClients({
    forcePathStyle: config.s3ForcePathStyle,
    s3PublicEndpoint: config.s3PublicEndpoint,
    ...(retry ? { retry } : {}),
  });
}
