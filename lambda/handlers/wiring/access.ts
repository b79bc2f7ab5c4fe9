import type { AwsClients } from '../../adapters/aws-clients';
import { DynamoDbAccounts } from '../../adapters/dynamodb/dynamodb-accounts';
import type { RegistryConfig } from '../../config/config';
import type { AccountStore } from '../../core/ports/accounts';
import { systemClock } from '../../core/ports/clock';
import type { TokenKeys } from '../../core/ports/token-keys';
import { AuthService } from '../../core/services/auth-service';
import type { AccessServices } from '../../http/services';

/**
 * What every endpoint group needs to check its callers: the auth service over the accounts table
 * (when one is configured, or `accounts` in its stead) and the token keys it is given, the routes'
 * name depth and the public origin.
 */
export function accessServices(
  config: Pick<RegistryConfig, 'auth' | 'maxNameDepth' | 'pathPrefix'>,
  dynamodb: AwsClients['dynamodb'],
  keys: TokenKeys | undefined,
  accounts?: AccountStore,
): AccessServices {
  const { auth } = config;
  return {
    maxNameDepth: config.maxNameDepth,
    auth: new AuthService(
      accounts ?? (auth.accountsTable ? new DynamoDbAccounts(dynamodb, auth.accountsTable) : undefined),
      keys,
      systemClock,
      {
        mode: auth.mode,
        service: auth.service,
        issuer: auth.issuer,
        tokenTtlSeconds: auth.tokenTtlSeconds,
        refreshTtlSeconds: auth.refreshTtlSeconds,
        anonymousPull: auth.anonymousPull,
        maxFailures: auth.maxFailures,
        failureWindowSeconds: auth.failureWindowSeconds,
      },
    ),
    ...(auth.publicUrl ? { publicUrl: auth.publicUrl } : {}),
    ...(config.pathPrefix ? { pathPrefix: config.pathPrefix } : {}),
  };
}
