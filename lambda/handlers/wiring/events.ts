import { eventBridgePublisher } from '../../adapters/eventbridge/eventbridge-publisher';
import type { RegistryConfig } from '../../config/config';
import { log } from '../../http/log';
import type { Services } from '../../http/services';
import { EventPublisherOnFirstUse } from './on-first-use';

/**
 * Registry events (docs/events.md): off unless REGISTRY_EVENT_BUS names a bus. The EventBridge
 * client is created for the first events an execution environment publishes.
 */
export function registryEvents(config: Pick<RegistryConfig, 'events'>): Pick<Services, 'events' | 'publishPulls'> {
  const settings = config.events;
  if (!settings) return {};
  const events = new EventPublisherOnFirstUse(() => eventBridgePublisher(settings, log));
  return { events, publishPulls: settings.pulls };
}
