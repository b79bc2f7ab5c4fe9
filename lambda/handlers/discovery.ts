import { createDynamoDbClient } from '../adapters/dynamodb/dynamodb-client';
import { DynamoDbMetadata } from '../adapters/dynamodb/dynamodb-metadata';
import type { RetrySettings } from '../adapters/retry-policy';
import type { RegistryConfig } from '../config/config';
import { DiscoveryService } from '../core/services/discovery-service';
import { discoveryEndpoint } from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import type { DiscoveryServices } from '../http/services';
import { accessServices } from './wiring/access';
import { fromEnv } from './wiring/environment';
import { kmsTokenKeysOnFirstUse } from './wiring/token-keys';

/** Tags lists, the catalog and referrers: queries of the metadata table, nothing else. */
export function composeDiscovery(config: RegistryConfig, retry?: RetrySettings): DiscoveryServices {
  const dynamodb = createDynamoDbClient({ ...(retry ? { retry } : {}) });
  return {
    ...accessServices(config, dynamodb, kmsTokenKeysOnFirstUse(config.auth.tokenKeyArns)),
    discovery: new DiscoveryService(new DynamoDbMetadata(dynamodb, config.table)),
  };
}

/** Lambda entry point of the discovery endpoint group. */
export const handler = lambdaHandler(discoveryEndpoint, fromEnv(composeDiscovery), { group: 'discovery' });
