import { ssmModeStore } from '../../adapters/ssm/ssm-mode-store';
import { systemClock } from '../../core/ports/clock';
import { ModeService } from '../../core/services/mode-service';
import type { RegistryConfig } from '../../config/config';
import type { Services } from '../../http/services';
import { ModeStoreOnFirstUse } from './on-first-use';

/**
 * Maintenance mode, where the function is told the parameter (those that serve writes, and base for
 * /health: lib/registry-stack.ts). The SSM client is created for the first read of the mode: the
 * first write or /health of an execution environment.
 */
export function registryMode(config: Pick<RegistryConfig, 'modeParameter'>): Pick<Services, 'mode'> {
  const parameter = config.modeParameter;
  if (!parameter) return {};
  const store = new ModeStoreOnFirstUse(() => ssmModeStore(parameter));
  return { mode: new ModeService(store, systemClock) };
}
