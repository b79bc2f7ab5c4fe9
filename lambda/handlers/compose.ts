import { createAwsClients, type AwsClients } from '../adapters/aws-clients';
import { DynamoDbHealthCheck } from '../adapters/dynamodb/dynamodb-health-check';
import { API_RETRY, type RetrySettings } from '../adapters/retry-policy';
import type { RegistryConfig } from '../config/config';
import type { AccountStore } from '../core/ports/accounts';
import type { TokenKeys } from '../core/ports/token-keys';
import { DiscoveryService } from '../core/services/discovery-service';
import type { Services } from '../http/services';
import { accessServices } from './wiring/access';
import { fromEnv } from './wiring/environment';
import { registryEvents } from './wiring/events';
import { registryMode } from './wiring/mode';
import { registryMirrors } from './wiring/mirrors';
import { blobServices, manifestServices, registryStorage } from './wiring/storage';
import { kmsSigningKeysOnFirstUse } from './wiring/token-keys';

export * from './wiring/limits';
export { composeGarbageCollector, composeUploadSweeper } from './wiring/maintenance';

/**
 * Every service of the registry in one process: local mode (tools/local) and the uploader serve all
 * endpoint groups from it. The functions do not use it: each handler composes only what its group's
 * routes call (lambda/handlers/<group>.ts), from the same parts. Region, credentials and
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
  const storage = registryStorage(config, { s3, presign, dynamodb });
  return {
    ...accessServices(config, dynamodb, auth.keys ?? kmsSigningKeysOnFirstUse(config.auth.tokenKeyArns), auth.accounts),
    ...blobServices(config, storage),
    ...manifestServices(config, storage, dynamodb),
    discovery: new DiscoveryService(storage.metadata),
    ...registryEvents(config),
    health: new DynamoDbHealthCheck(dynamodb, config.table),
    ...registryMode(config, dynamodb),
    ...registryMirrors(config),
  };
}

/** `compose` from `process.env`, once per process (the uploader). */
export const servicesFromEnv: () => Services = fromEnv((config, retry) => compose(config, undefined, {}, retry));

export type { RegistryConfig };
