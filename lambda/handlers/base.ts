import { createDynamoDbClient } from '../adapters/dynamodb/dynamodb-client';
import { DynamoDbHealthCheck } from '../adapters/dynamodb/dynamodb-health-check';
import type { RetrySettings } from '../adapters/retry-policy';
import type { RegistryConfig } from '../config/config';
import { baseEndpoint } from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import type { BaseServices } from '../http/services';
import { accessServices } from './wiring/access';
import { fromEnv } from './wiring/environment';
import { registryMode } from './wiring/mode';
import { registryMirrors } from './wiring/mirrors';
import { kmsTokenKeysOnFirstUse } from './wiring/token-keys';

/** `/v2/`, `/health` and every unknown path: access checks, the health read, the mode /health reports. */
export function composeBase(config: RegistryConfig, retry?: RetrySettings): BaseServices {
  const dynamodb = createDynamoDbClient({ ...(retry ? { retry } : {}) });
  return {
    ...accessServices(config, dynamodb, kmsTokenKeysOnFirstUse(config.auth.tokenKeyArns)),
    // GET /health reads one fixed key of the table (the base function's only table grant).
    health: new DynamoDbHealthCheck(dynamodb, config.table),
    ...registryMode(config, dynamodb),
    ...registryMirrors(config),
  };
}

/** Lambda entry point of the base endpoint group. */
export const handler = lambdaHandler(baseEndpoint, fromEnv(composeBase), { group: 'base' });
