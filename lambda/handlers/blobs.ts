import type { RetrySettings } from '../adapters/retry-policy';
import type { RegistryConfig } from '../config/config';
import { blobsEndpoint } from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import type { BlobsServices } from '../http/services';
import { accessServices } from './wiring/access';
import { registryClients } from './wiring/clients';
import { fromEnv } from './wiring/environment';
import { registryEvents } from './wiring/events';
import { registryMode } from './wiring/mode';
import { blobServices, registryStorage } from './wiring/storage';
import { kmsTokenKeysOnFirstUse } from './wiring/token-keys';

/** Blob reads, deletes, mounts and uploads: the bucket and the table, events, the mode for writes. */
export function composeBlobs(config: RegistryConfig, retry?: RetrySettings): BlobsServices {
  const clients = registryClients(config, retry);
  return {
    ...accessServices(config, clients.dynamodb, kmsTokenKeysOnFirstUse(config.auth.tokenKeyArns)),
    ...blobServices(config, registryStorage(config, clients)),
    ...registryEvents(config),
    ...registryMode(config, clients.dynamodb),
  };
}

/** Lambda entry point of the blobs endpoint group. */
export const handler = lambdaHandler(blobsEndpoint, fromEnv(composeBlobs), { group: 'blobs' });
