import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { AwsJsonClient } from '../../lambda/adapters/aws-json/aws-json-client';
import {
  EVENTBRIDGE_SERVICE,
  EventBridgePublisher,
  type PutEventsCaller,
  type PutEventsEntry,
  type PutEventsOutput,
} from '../../lambda/adapters/eventbridge/eventbridge-publisher';
import { MemoryEventPublisher } from '../../lambda/adapters/memory/memory-event-publisher';
import { DEFAULT_EVENT_SOURCE } from '../../lambda/config/events';
import type { RegistryEvent, RegistryEventType } from '../../lambda/core/events';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../tools/local/emulators';
import { startMoto, type RunningMoto } from '../../tools/local/moto-server';
import { ensureMoto } from '../../tools/local/tools';
import { eventPublisherContract, sampleEvent, type EventPublisherSubject } from './events.contract';

// EventBridge: moto's server, started for this file only, or the environment's endpoint (e.g.
// LocalStack) when REGISTRY_EXTERNAL_ENDPOINTS=1. Events are read back from an SQS queue that a rule
// on the bus delivers to, so what is asserted is what a consumer receives.
const external = process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1';
let moto: RunningMoto | undefined;
let endpoint: string;
let client: EventBridgeClient;
/** What the publisher calls PutEvents with: the client the functions use, wrapped to count and refuse. */
let putEvents: PutEventsCaller;
/** Every PutEvents call, by the number of entries it carried. */
const calls: number[] = [];
/** Entries the next calls should report as failed, by position, without sending them. */
let failures: ((entry: number, call: number) => string | undefined) | undefined;

interface Bus {
  readonly name: string;
  readonly arn: string;
  readonly queueUrl: string;
}

/** A bus of its own with a rule sending everything from `source` to a queue of its own. */
async function busWithQueue(source = DEFAULT_EVENT_SOURCE): Promise<Bus> {
  const name = `registry-${randomUUID().slice(0, 8)}`;
  const { EventBusArn } = await client.send(new CreateEventBusCommand({ Name: name }));
  const { QueueUrl } = await sqs<{ QueueUrl: string }>('CreateQueue', { QueueName: name });
  const { Attributes } = await sqs<{ Attributes: { QueueArn: string } }>('GetQueueAttributes', {
    QueueUrl,
    AttributeNames: ['QueueArn'],
  });
  await client.send(
    new PutRuleCommand({ Name: 'all', EventBusName: name, EventPattern: JSON.stringify({ source: [source] }) }),
  );
  await client.send(
    new PutTargetsCommand({ Rule: 'all', EventBusName: name, Targets: [{ Id: 'queue', Arn: Attributes.QueueArn }] }),
  );
  return { name, arn: EventBusArn as string, queueUrl: QueueUrl };
}

/**
 * SQS's JSON protocol over fetch: the tests need three calls, which do not justify another SDK
 * client in the project's dependencies. The emulators do not check signatures.
 */
async function sqs<T>(action: string, body: object): Promise<T> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': `AmazonSQS.${action}`,
      Authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_CREDENTIALS.accessKeyId}/20300101/${LOCAL_REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`SQS ${action}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** An EventBridge event as a rule target receives it. */
interface Envelope {
  readonly source: string;
  readonly 'detail-type': string;
  readonly time: string;
  readonly detail: RegistryEvent['detail'];
}

/** Reads and deletes what the queue holds until `count` envelopes came (or a few seconds passed). */
async function receive(queueUrl: string, count: number): Promise<Envelope[]> {
  const envelopes: Envelope[] = [];
  const deadline = Date.now() + 5000;
  // One more empty read after the count is reached: extra deliveries must show up too.
  for (let drained = false; !drained && Date.now() < deadline;) {
    const { Messages = [] } = await sqs<{ Messages?: { Body: string; ReceiptHandle: string }[] }>('ReceiveMessage', {
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
    });
    for (const m of Messages) {
      envelopes.push(JSON.parse(m.Body) as Envelope);
      await sqs('DeleteMessage', { QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle });
    }
    if (Messages.length === 0) {
      if (envelopes.length >= count) drained = true;
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  return envelopes;
}

const asEvent = (e: Envelope): RegistryEvent => ({ type: e['detail-type'] as RegistryEventType, detail: e.detail });

/** Log lines the publisher wrote. */
let logged: { message: string; fields: Record<string, unknown> }[] = [];
const log = (message: string, fields: Record<string, unknown>) => logged.push({ message, fields });
const instant = async () => {};

beforeAll(async () => {
  if (external) {
    endpoint = process.env.AWS_ENDPOINT_URL as string;
    client = new EventBridgeClient({});
  } else {
    moto = await startMoto(ensureMoto((line) => process.stdout.write(`${line}\n`)));
    endpoint = moto.endpoint;
    client = new EventBridgeClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  }
  // moto delivers each event to the rule's queue before it answers (about half a second an event), so
  // an attempt may take seconds here where EventBridge answers in milliseconds.
  const json = new AwsJsonClient(EVENTBRIDGE_SERVICE, {
    attemptTimeoutMs: 30_000,
    ...(external ? {} : { endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
  });
  // Counts PutEvents calls and, when a test asks for it, answers some entries as EventBridge does
  // when it refuses them within a call that succeeded (no emulator can be made to do that): those
  // entries are never sent, the others are, and the results line up with the request.
  putEvents = {
    call: async <T>(operation: 'PutEvents', input: { Entries: PutEventsEntry[] }): Promise<T> => {
      const entries = input.Entries;
      const call = calls.push(entries.length);
      const refused = entries.map((_, i) => failures?.(i, call));
      if (!refused.some(Boolean)) return json.call<T>(operation, input);
      const sent = entries.filter((_, i) => !refused[i]);
      const out: PutEventsOutput = sent.length ? await json.call(operation, { Entries: sent }) : { Entries: [] };
      const results = [...(out.Entries ?? [])];
      const merged = refused.map((code) =>
        code ? { ErrorCode: code, ErrorMessage: 'refused by the test' } : results.shift(),
      );
      return { FailedEntryCount: refused.filter(Boolean).length, Entries: merged } as T;
    },
  };
}, 300_000); // the first run installs moto with pip (about half a minute)
afterAll(async () => {
  client?.destroy();
  await moto?.stop();
});
beforeEach(() => {
  calls.length = 0;
  failures = undefined;
  logged = [];
});

// The memory double and EventBridge, held to the same contract.
const memory = new MemoryEventPublisher();
eventPublisherContract('memory', () => ({ publisher: memory, delivered: async () => memory.take() }));

let eventBridge: EventPublisherSubject;
beforeAll(async () => {
  const bus = await busWithQueue();
  eventBridge = {
    publisher: new EventBridgePublisher(putEvents, { bus: bus.arn, source: DEFAULT_EVENT_SOURCE, log, sleep: instant }),
    delivered: async (count) => (await receive(bus.queueUrl, count)).map(asEvent),
  };
});
eventPublisherContract('eventbridge', () => eventBridge);

describe('EventBridgePublisher', () => {
  let bus: Bus;
  beforeAll(async () => {
    bus = await busWithQueue('team.registry');
  });
  const publisher = (options: { bus?: string; retries?: number } = {}) =>
    new EventBridgePublisher(putEvents, {
      bus: options.bus ?? bus.name,
      source: 'team.registry',
      log,
      sleep: instant,
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
    });

  test('an event is an EventBridge event of the configured source, its type as detail-type, its time as time', async () => {
    const event = sampleEvent('Manifest Deleted');
    await publisher().publish([event]);
    const [envelope, ...more] = await receive(bus.queueUrl, 1);
    expect(more).toEqual([]);
    expect(envelope).toMatchObject({
      source: 'team.registry',
      'detail-type': 'Manifest Deleted',
      detail: event.detail,
    });
    expect(new Date(envelope!.time).getTime()).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
    expect(envelope!.detail).toMatchObject({ version: 1, actor: 'alice', requestId: event.detail.requestId });
  });

  test('the bus may be named by name or by ARN', async () => {
    const [byArn, byName] = [sampleEvent('Blob Deleted'), sampleEvent('Blob Deleted')];
    await publisher({ bus: bus.arn }).publish([byArn!]);
    await publisher({ bus: bus.name }).publish([byName!]);
    const received = (await receive(bus.queueUrl, 2)).map((e) => e.detail.requestId).sort();
    expect(received).toEqual([byArn!.detail.requestId, byName!.detail.requestId].sort());
  });

  test('PutEvents carries at most ten entries, calls in order', async () => {
    // A bus without rules: nothing is delivered, which moto does slowly (about half a second an event).
    const { EventBusArn } = await client.send(new CreateEventBusCommand({ Name: `quiet-${randomUUID().slice(0, 8)}` }));
    await publisher({ bus: EventBusArn }).publish(Array.from({ length: 21 }, () => sampleEvent('Blob Pushed')));
    expect(calls).toEqual([10, 10, 1]);
    expect(logged).toEqual([]);
  });

  test('entries refused within a call are sent again, only they, and arrive once', async () => {
    const events = Array.from({ length: 4 }, () => sampleEvent('Blob Pushed'));
    // The first call refuses entries 1 and 3, the second (their retry) refuses the first of them again.
    failures = (entry, call) =>
      (call === 1 && (entry === 1 || entry === 3)) || (call === 2 && entry === 0) ? 'ThrottlingException' : undefined;
    await publisher().publish(events);
    expect(calls).toEqual([4, 2, 1]);
    const received = (await receive(bus.queueUrl, 4)).map((e) => e.detail.requestId).sort();
    expect(received).toEqual(events.map((e) => e.detail.requestId).sort());
    expect(logged).toEqual([]);
  });

  test('entries still refused after the retries are logged with their events and the reasons; publish resolves', async () => {
    const events = [sampleEvent('Manifest Pushed'), sampleEvent('Tag Changed')];
    failures = (entry) => (entry === events.length - 1 || entry === 0 ? 'InternalFailure' : undefined);
    await expect(publisher({ retries: 2 }).publish(events)).resolves.toBeUndefined();
    expect(calls).toEqual([2, 2, 2]);
    expect(logged).toEqual([
      {
        message: 'registry events were not published',
        fields: expect.objectContaining({
          bus: bus.name,
          source: 'team.registry',
          errors: ['InternalFailure: refused by the test'],
          events,
        }),
      },
    ]);
    expect(await receive(bus.queueUrl, 0)).toEqual([]);
  });

  test('a call that fails outright (a bus that does not exist) is logged, not thrown, and not retried by hand', async () => {
    const event = sampleEvent('Blob Deleted');
    await expect(publisher({ bus: 'no-such-bus' }).publish([event])).resolves.toBeUndefined();
    expect(calls).toEqual([1]);
    expect(logged).toHaveLength(1);
    expect(logged[0]?.fields).toMatchObject({ bus: 'no-such-bus', events: [event] });
    expect(String((logged[0]?.fields.errors as string[])[0])).toMatch(/^ResourceNotFoundException/);
  });

  test('EventBridge out of reach: publish resolves within seconds and logs the events', async () => {
    // A port nothing listens on (fetch refuses the discard port 9 itself, before connecting).
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', () => ok()));
    const port = (closed.address() as { port: number }).port;
    await new Promise((ok) => closed.close(ok));
    const unreachable = new AwsJsonClient(EVENTBRIDGE_SERVICE, {
      endpoint: `http://127.0.0.1:${port}`,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 2,
      attemptTimeoutMs: 1000,
    });
    const event = sampleEvent('Manifest Pushed');
    const started = Date.now();
    await new EventBridgePublisher(unreachable, {
      bus: 'default',
      source: 'team.registry',
      log,
      sleep: instant,
    }).publish([event]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(logged).toHaveLength(1);
    expect(logged[0]?.fields.events).toEqual([event]);
  });

  test("moto's PutEvents reports success per entry, as the publisher expects", async () => {
    const out = await client.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: bus.name, Source: 'team.registry', DetailType: 'Blob Pushed', Detail: '{}' }],
      }),
    );
    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries?.[0]?.EventId).toEqual(expect.any(String));
    await receive(bus.queueUrl, 1);
  });
});
