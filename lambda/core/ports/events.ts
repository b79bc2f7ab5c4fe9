import type { RegistryEvent, RegistryEventFacts, RegistryEventType } from '../events';

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

/**
 * Where a service tells what it just did (docs/events.md): the facts, as the service knows them the
 * moment its write (or read) succeeded. The request's context (its id, its caller, the time) is
 * added where the events are published, once the request's outcome is known.
 */
export interface EventRecorder {
  /**
   * Whether events of `type` are wanted for the current request: a service skips what only an
   * event needs (reading where a tag pointed before it moves) when nobody will publish it.
   */
  wants(type: RegistryEventType): boolean;
  record(type: RegistryEventType, facts: RegistryEventFacts): void;
}
