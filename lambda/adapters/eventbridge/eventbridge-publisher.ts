import type { RegistryEvent } from '../../core/events';
import type { EventPublisher } from '../../core/ports/events';
import { AwsJsonClient } from '../aws-json/aws-json-client';

/** EventBridge as the JSON protocol names it. */
export const EVENTBRIDGE_SERVICE = {
  signingName: 'events',
  targetPrefix: 'AWSEvents',
  jsonVersion: '1.1',
  endpointEnvId: 'EVENTBRIDGE',
} as const;

/** One entry of PutEvents, as the JSON protocol sends it (`Time` in epoch seconds). */
export interface PutEventsEntry {
  readonly EventBusName: string;
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly Time: number;
}

/** PutEvents' answer: one result per entry, in order; a refused one has an ErrorCode and no EventId. */
export interface PutEventsOutput {
  readonly FailedEntryCount?: number;
  readonly Entries?: readonly {
    readonly EventId?: string;
    readonly ErrorCode?: string;
    readonly ErrorMessage?: string;
  }[];
}

/** What the publisher calls EventBridge with: AwsJsonClient, so no EventBridge client is bundled. */
export interface PutEventsCaller {
  call<T>(operation: 'PutEvents', input: { Entries: PutEventsEntry[] }): Promise<T>;
}

/** PutEvents takes at most this many entries per call. */
export const MAX_ENTRIES_PER_CALL = 10;

export interface EventBridgePublisherOptions {
  /** Event bus name or ARN (`default` is the account's default bus). */
  readonly bus: string;
  /** The events' `source`. */
  readonly source: string;
  /** Reports events that could not be delivered (a structured log line), with the reason. */
  readonly log: (message: string, fields: Record<string, unknown>) => void;
  /**
   * How often the failed entries of a partly failed call are sent again. The client already retries
   * whole calls that were throttled, failed on the server or went unanswered.
   * @default 2
   */
  readonly retries?: number;
  /** Waits before retry number `attempt` (0, 1, …); tests make it instant. @default 50 ms × 4^attempt */
  readonly sleep?: (attempt: number) => Promise<void>;
}

/**
 * Publishes registry events to an EventBridge bus with PutEvents, up to ten entries per call. An
 * entry EventBridge refuses within a call that succeeded (throttling, an internal failure) is sent
 * again a couple of times; what still fails, or a call that fails outright (permissions, a bus that
 * does not exist, EventBridge unreachable), is logged with the events themselves and never thrown:
 * the registry operation the events report already happened.
 * @see https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
 */
export class EventBridgePublisher implements EventPublisher {
  private readonly retries: number;
  private readonly sleep: (attempt: number) => Promise<void>;

  constructor(
    private readonly client: PutEventsCaller,
    private readonly options: EventBridgePublisherOptions,
  ) {
    this.retries = options.retries ?? 2;
    this.sleep = options.sleep ?? ((attempt) => new Promise((resolve) => setTimeout(resolve, 50 * 4 ** attempt)));
  }

  async publish(events: readonly RegistryEvent[]): Promise<void> {
    // One call after another, so a consumer that sees the calls in order sees the events in order.
    for (let i = 0; i < events.length; i += MAX_ENTRIES_PER_CALL) {
      await this.putBatch(events.slice(i, i + MAX_ENTRIES_PER_CALL));
    }
  }

  private async putBatch(events: readonly RegistryEvent[]): Promise<void> {
    let pending = [...events];
    for (let attempt = 0; ; attempt++) {
      let results: NonNullable<PutEventsOutput['Entries']>;
      try {
        const out = await this.client.call<PutEventsOutput>('PutEvents', {
          Entries: pending.map((e) => this.entry(e)),
        });
        if (!out.FailedEntryCount) return;
        results = out.Entries ?? [];
      } catch (err) {
        // The client retried what is worth retrying (throttling, 5xx); the rest will not pass on a retry.
        this.report(pending, [`${(err as Error).name}: ${(err as Error).message}`]);
        return;
      }
      // Result entries line up with request entries; a failed one has an ErrorCode and no EventId.
      const failed = pending
        .map((event, i) => ({ event, result: results[i] }))
        .filter(({ result }) => !result?.EventId || !!result.ErrorCode);
      pending = failed.map((f) => f.event);
      if (pending.length === 0) return;
      if (attempt >= this.retries) {
        this.report(
          pending,
          failed.map(({ result }) => `${result?.ErrorCode ?? 'NoResult'}: ${result?.ErrorMessage ?? ''}`),
        );
        return;
      }
      await this.sleep(attempt);
    }
  }

  private entry(event: RegistryEvent): PutEventsEntry {
    return {
      EventBusName: this.options.bus,
      Source: this.options.source,
      DetailType: event.type,
      Detail: JSON.stringify(event.detail),
      Time: Date.parse(event.detail.time) / 1000,
    };
  }

  private report(events: readonly RegistryEvent[], errors: readonly string[]): void {
    this.options.log('registry events were not published', {
      bus: this.options.bus,
      source: this.options.source,
      errors: [...new Set(errors.map((e) => e.trim()))],
      // Small by design (docs/events.md): the log line is enough to publish them again by hand.
      events,
    });
  }
}

export interface EventBridgeSettings {
  readonly bus: string;
  readonly source: string;
}

/**
 * A publisher through a client configured from the environment (credentials, `AWS_ENDPOINT_URL`),
 * in the bus's own region when an ARN names it. Tight timeouts: EventBridge trouble may cost a
 * registry request a few seconds, never its answer. PutEvents is the one call, so it goes as a signed
 * JSON request of its own (AwsJsonClient) rather than through the SDK's EventBridge client, which
 * was 16 KB of the blobs and manifests bundles.
 */
export function eventBridgePublisher(
  settings: EventBridgeSettings,
  log: EventBridgePublisherOptions['log'],
): EventBridgePublisher {
  const region = /^arn:[^:]+:events:([^:]+):/.exec(settings.bus)?.[1];
  const client = new AwsJsonClient(EVENTBRIDGE_SERVICE, {
    ...(region ? { region } : {}),
    maxAttempts: 3,
    attemptTimeoutMs: 2000,
  });
  return new EventBridgePublisher(client, { ...settings, log });
}
