import type { RegistryEvent } from '../../core/events';
import type { EventPublisher } from '../../core/ports/events';

/** Keeps published events in order: a test double for the EventBridge publisher, held to the same contract. */
export class MemoryEventPublisher implements EventPublisher {
  readonly events: RegistryEvent[] = [];

  async publish(events: readonly RegistryEvent[]): Promise<void> {
    this.events.push(...events);
  }

  /** Returns the events published so far and forgets them. */
  take(): RegistryEvent[] {
    return this.events.splice(0);
  }
}
