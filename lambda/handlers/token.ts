import { createDynamoDbClient } from '../adapters/dynamodb/dynamodb-client';
import type { RetrySettings } from '../adapters/retry-policy';
import type { RegistryConfig } from '../config/config';
import { lambdaHandler } from '../http/lambda-handler';
import type { TokenServices } from '../http/services';
import { tokenEndpoint } from '../http/token-endpoint';
import { accessServices } from './wiring/access';
import { fromEnv } from './wiring/environment';
import { kmsSigningKeysOnFirstUse } from './wiring/token-keys';

/** The token service: the accounts table, and the KMS keys that sign the tokens it issues. */
export function composeToken(config: RegistryConfig, retry?: RetrySettings): TokenServices {
  const dynamodb = createDynamoDbClient({ ...(retry ? { retry } : {}) });
  return accessServices(config, dynamodb, kmsSigningKeysOnFirstUse(config.auth.tokenKeyArns));
}

/** Lambda entry point of the token service. */
export const handler = lambdaHandler(tokenEndpoint, fromEnv(composeToken), { group: 'token' });
