import type { RetrySettings } from '../adapters/retry-policy';
import type { RegistryConfig } from '../config/config';
import { manifestsEndpoint } from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import type { ManifestsServices } from '../http/services';
import { accessServices } from './wiring/access';
import { registryClients } from './wiring/clients';
import { fromEnv } from './wiring/environment';
import { registryEvents } from './wiring/events';
import { registryMode } from './wiring/mode';
import { manifestServices, registryStorage } from './wiring/storage';
import { kmsTokenKeysOnFirstUse } from './wiring/token-keys';

/** Manifest reads, pushes and deletes: the bucket and the table, events, the mode for writes. */
export function composeManifests(config: RegistryConfig, retry?: RetrySettings): ManifestsServices {
  const clients = registryClients(config, retry);
  return {
    ...accessServices(config, clients.dynamodb, kmsTokenKeysOnFirstUse(config.auth.tokenKeyArns)),
    ...manifestServices(config, registryStorage(config, clients), clients.dynamodb),
    ...registryEvents(config),
    ...registryMode(config, clients.dynamodb),
  };
}

/** Lambda entry point of the manifests endpoint group. */
export const handler = lambdaHandler(manifestsEndpoint, fromEnv(composeManifests), { group: 'manifests' });
