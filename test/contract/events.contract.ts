import { registryEvent, type RegistryEvent, type RegistryEventType } from '../../lambda/core/events';
import type { EventPublisher } from '../../lambda/core/ports/events';

/** A publisher, and a way to see what reached the other side. */
export interface EventPublisherSubject {
  readonly publisher: EventPublisher;
  /** What was delivered since the last call, once `count` events arrived (or what arrived by a deadline). */
  delivered(count: number): Promise<RegistryEvent[]>;
}

let sequence = 0;

/** An event whose request id tells it apart from every other one in the run. */
export function sampleEvent(type: RegistryEventType = 'Manifest Pushed', extra: { tag?: string } = {}): RegistryEvent {
  sequence += 1;
  return registryEvent(
    type,
    {
      repository: 'team/app',
      digest: `sha256:${sequence.toString(16).padStart(64, '0')}`,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 1234 + sequence,
      ...extra,
    },
    { requestId: `request-${sequence}`, actor: 'alice', time: Date.UTC(2030, 0, 2, 3, 4, 5) },
  );
}

const byRequest = (events: RegistryEvent[]) =>
  [...events].sort((a, b) => a.detail.requestId.localeCompare(b.detail.requestId, 'en', { numeric: true }));

/** What every EventPublisher does, whatever carries the events. */
export function eventPublisherContract(label: string, subject: () => EventPublisherSubject): void {
  describe(`EventPublisher contract: ${label}`, () => {
    test('an event arrives once, with its type and every detail field intact', async () => {
      const { publisher, delivered } = subject();
      const event = sampleEvent('Tag Changed', { tag: 'v1' });
      await publisher.publish([event]);
      expect(await delivered(1)).toEqual([event]);
    });

    test('more events than one PutEvents call takes (11) all arrive, each once', async () => {
      const { publisher, delivered } = subject();
      const events = Array.from({ length: 11 }, () => sampleEvent('Blob Pushed'));
      await publisher.publish(events);
      expect(byRequest(await delivered(11))).toEqual(byRequest(events));
    });

    test('publishing nothing delivers nothing', async () => {
      const { publisher, delivered } = subject();
      await publisher.publish([]);
      await publisher.publish([sampleEvent()]);
      expect(await delivered(1)).toHaveLength(1);
    });
  });
}
