import type { AwsClients } from '../../adapters/aws-clients';
import { createDynamoDbClient } from '../../adapters/dynamodb/dynamodb-client';
import { DynamoDbModeStore } from '../../adapters/dynamodb/dynamodb-mode-store';
import { systemClock } from '../../core/ports/clock';
import { ModeService } from '../../core/services/mode-service';
import type { RegistryConfig } from '../../config/config';
import type { Services } from '../../http/services';
import { ModeStoreOnFirstUse } from './on-first-use';

/**
 * Maintenance mode, where the function is told to follow it (those that serve writes, and base for
 * /health: lib/oci-registry.ts): the mode item of the metadata table, read with the function's own
 * DynamoDB client when it is given, else with one created for the first read of the mode (the first
 * write or /health of an execution environment). Either way no other SDK client is bundled.
 */
export function registryMode(
  config: Pick<RegistryConfig, 'modeInTable' | 'table'>,
  dynamodb?: AwsClients['dynamodb'],
): Pick<Services, 'mode'> {
  if (!config.modeInTable) return {};
  const { table } = config;
  const store = new ModeStoreOnFirstUse(() => new DynamoDbModeStore(dynamodb ?? createDynamoDbClient(), table));
  return { mode: new ModeService(store, systemClock) };
}
