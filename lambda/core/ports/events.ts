import type { RegistryEvent } from '../events';

/**
 * Where registry events go (EventBridge deployed). Events report what already happened, so
 * publishing is best effort: an implementation delivers what it can, reports what it could not
 * through its own log, and resolves. Callers still guard against a rejection, as a registry
 * operation that succeeded must answer success whatever happens to its events.
 */
export interface EventPublisher {
  /** Publishes the events, in order as far as the transport keeps order; resolves once they were handed over. */
  publish(events: readonly RegistryEvent[]): Promise<void>;
}

/** Events off: publishes nothing. */
export const noEventPublisher: EventPublisher = { publish: async () => {} };
