import { Duration, SecretValue, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { ENV } from '../../lambda/config/env';
import { DEFAULT_EVENT_SOURCE } from '../../lambda/config/events';
import { FUNCTION_GROUPS, type FunctionGroup } from '../../lambda/config/routes';
import type { RegistryStackProps } from '../../lib/registry-stack';
import {
  acknowledgements,
  allowStatements,
  disposingSynth,
  functionId,
  grantsOf,
  grantsOfRole,
  type Synthesized,
  violations,
  logicalId,
} from './stacks';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The account's default bus in the test environment, as the template names it. */
const DEFAULT_BUS_ARN = 'arn:aws:events:eu-west-1:111111111111:event-bus/default';
const CUSTOM_BUS_ARN = 'arn:aws:events:eu-west-1:111111111111:event-bus/platform';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:registry-webhook-AbCdEf';
const WEBHOOK = { url: 'https://hooks.example.com/registry', apiKey: SecretValue.secretsManager(SECRET_ARN) };
/** The groups whose endpoints emit events. */
const EMITTERS: FunctionGroup[] = ['blobs', 'manifests'];

const synth = disposingSynth();

const resources = (s: Synthesized, type: string): Json => s.template.findResources(type);
const environment = (s: Synthesized, group: FunctionGroup): Record<string, string> =>
  resources(s, 'AWS::Lambda::Function')[functionId(s.stack, group)].Properties.Environment.Variables;
const uploaderRoleId = (s: Synthesized): string =>
  (Object.values(resources(s, 'AWS::ECS::TaskDefinition'))[0] as Json).Properties.TaskRoleArn['Fn::GetAtt'][0];
const uploaderEnvironment = (s: Synthesized): Record<string, string> =>
  Object.fromEntries(
    (
      (Object.values(resources(s, 'AWS::ECS::TaskDefinition'))[0] as Json).Properties.ContainerDefinitions[0]
        .Environment as { Name: string; Value: string }[]
    ).map((e) => [e.Name, e.Value]),
  );
const putEvents = (bus: unknown) => `events:PutEvents ${JSON.stringify(bus)}`;

describe('registry events: the stack without them', () => {
  test('no event resources, no event grants, no event environment', () => {
    const s = synth({});
    for (const type of ['AWS::Events::Connection', 'AWS::Events::ApiDestination', 'AWS::SQS::Queue']) {
      s.template.resourceCountIs(type, 0);
    }
    const statements = allowStatements(s.template).flatMap((st) => ([] as string[]).concat(st.Action));
    expect(statements.filter((a) => a.startsWith('events:'))).toEqual([]);
    for (const group of FUNCTION_GROUPS) {
      expect(Object.keys(environment(s, group)).filter((k) => k.startsWith('REGISTRY_EVENT_'))).toEqual([]);
    }
  });
});

describe('registry events on the default bus', () => {
  let plain: Synthesized;
  let s: Synthesized;
  beforeAll(() => {
    plain = synth({});
    s = synth({ events: {} });
  });

  test.each(FUNCTION_GROUPS)(
    '%s: events:PutEvents on the default bus if it emits, and nothing else changes',
    (group) => {
      const added = grantsOf(s.stack, s.template, group).filter(
        (g) => !grantsOf(plain.stack, plain.template, group).includes(g),
      );
      expect(added).toEqual(EMITTERS.includes(group) ? [putEvents(DEFAULT_BUS_ARN)] : []);
    },
  );

  test('PutEvents is granted for the registry source only, on the bus only, and nothing else on EventBridge', () => {
    const statements = allowStatements(s.template).filter((st) =>
      ([] as string[]).concat(st.Action).some((a) => a.startsWith('events:')),
    );
    expect(statements).toHaveLength(EMITTERS.length);
    for (const statement of statements) {
      expect(statement).toEqual({
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Resource: DEFAULT_BUS_ARN,
        Condition: { StringEquals: { 'events:source': DEFAULT_EVENT_SOURCE } },
      });
    }
  });

  test('the emitting functions get the bus, the source and pulls off; the others nothing', () => {
    for (const group of FUNCTION_GROUPS) {
      const events = Object.fromEntries(
        Object.entries(environment(s, group)).filter(([k]) => k.startsWith('REGISTRY_EVENT_')),
      );
      expect([group, events]).toEqual([
        group,
        EMITTERS.includes(group)
          ? { [ENV.eventBus]: DEFAULT_BUS_ARN, [ENV.eventSource]: DEFAULT_EVENT_SOURCE, [ENV.eventPulls]: 'false' }
          : {},
      ]);
    }
  });

  test('no rule, connection or queue without a webhook', () => {
    expect(
      Object.values(resources(s, 'AWS::Events::Rule')).filter((r: Json) => r.Properties.EventPattern !== undefined),
    ).toEqual([]);
    s.template.resourceCountIs('AWS::Events::Connection', 0);
    s.template.resourceCountIs('AWS::SQS::Queue', 0);
  });
});

describe('registry events on a bus of your own, with pulls and another source', () => {
  test('the grant and the environment name that bus and source', () => {
    const bus = EventBus.fromEventBusArn(new Stack(), 'Bus', CUSTOM_BUS_ARN);
    const s = synth({ events: { bus, pulls: true, source: 'platform.registry' } });
    for (const group of EMITTERS) {
      expect(grantsOf(s.stack, s.template, group)).toContain(putEvents(CUSTOM_BUS_ARN));
      expect(environment(s, group)).toMatchObject({
        [ENV.eventBus]: CUSTOM_BUS_ARN,
        [ENV.eventSource]: 'platform.registry',
        [ENV.eventPulls]: 'true',
      });
    }
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'events:PutEvents',
            Resource: CUSTOM_BUS_ARN,
            Condition: { StringEquals: { 'events:source': 'platform.registry' } },
          }),
        ]),
      },
    });
  });

  test.each([
    [{ source: 'aws.ecr' }, 'reserved for AWS services'],
    [{ source: 'has space' }, '1-256 characters'],
    [{ webhook: { ...WEBHOOK, url: 'http://hooks.example.com' } }, 'must be https://'],
    [{ webhook: { ...WEBHOOK, retryAttempts: 186 } }, 'from 0 to 185'],
  ])('refuses %p', (events, message) => {
    expect(() => synth({ events })).toThrow(message);
  });
});

describe('registry events with the upload data path', () => {
  test('the uploader task publishes like the blobs function', () => {
    const s = synth({ uploadDataPath: true, events: {} });
    const plain = synth({ uploadDataPath: true });
    const added = grantsOfRole(s.stack, s.template, uploaderRoleId(s)).filter(
      (g) => !grantsOfRole(plain.stack, plain.template, uploaderRoleId(plain)).includes(g),
    );
    expect(added).toEqual([putEvents(DEFAULT_BUS_ARN)]);
    expect(uploaderEnvironment(s)).toMatchObject({
      [ENV.eventBus]: expect.anything(),
      [ENV.eventSource]: DEFAULT_EVENT_SOURCE,
      [ENV.eventPulls]: 'false',
    });
  });
});

describe('registry events with a webhook', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ events: { webhook: { ...WEBHOOK, retryAttempts: 20, maxEventAge: Duration.hours(6) } } });
  });
  const queueId = () => logicalId(s.stack.events!.deadLetterQueue!);

  test('a rule on the bus matching the registry source sends every event to the API destination', () => {
    const [ruleId, rule] = Object.entries(resources(s, 'AWS::Events::Rule')).find(
      ([, r]) => (r as Json).Properties.EventPattern,
    ) as [string, Json];
    expect(rule.Properties).toMatchObject({
      EventBusName: 'default',
      EventPattern: { source: [DEFAULT_EVENT_SOURCE] },
      State: 'ENABLED',
    });
    expect(rule.Properties.Targets).toHaveLength(1);
    const [destinationId] = Object.keys(resources(s, 'AWS::Events::ApiDestination'));
    expect(rule.Properties.Targets[0]).toMatchObject({
      Arn: { 'Fn::GetAtt': [destinationId, 'Arn'] },
      RetryPolicy: { MaximumRetryAttempts: 20, MaximumEventAgeInSeconds: 6 * 3600 },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId(), 'Arn'] } },
    });
    // The dead-letter queue takes messages from this rule only.
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'sqs:SendMessage',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  test('the API destination POSTs to the URL through an API-key connection whose key comes from the secret', () => {
    s.template.hasResourceProperties('AWS::Events::ApiDestination', {
      HttpMethod: 'POST',
      InvocationEndpoint: WEBHOOK.url,
      InvocationRateLimitPerSecond: 50,
    });
    s.template.hasResourceProperties('AWS::Events::Connection', {
      AuthorizationType: 'API_KEY',
      AuthParameters: {
        ApiKeyAuthParameters: {
          ApiKeyName: 'x-api-key',
          ApiKeyValue: `{{resolve:secretsmanager:${SECRET_ARN}:SecretString:::}}`,
        },
      },
    });
  });

  test('the rule may invoke this destination and nothing else', () => {
    const [destinationId] = Object.keys(resources(s, 'AWS::Events::ApiDestination'));
    const invoke = allowStatements(s.template).filter((st) =>
      ([] as string[]).concat(st.Action).includes('events:InvokeApiDestination'),
    );
    expect(invoke).toEqual([
      { Effect: 'Allow', Action: 'events:InvokeApiDestination', Resource: { 'Fn::GetAtt': [destinationId, 'Arn'] } },
    ]);
  });

  test('the dead-letter queue: SSE, TLS only, 14 days', () => {
    const queue = resources(s, 'AWS::SQS::Queue')[queueId()];
    expect(queue.Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86_400 });
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    s.template.hasOutput('WebhookDeadLetterQueue', { Value: { Ref: queueId() } });
  });

  test('retries and event age default to 8 and one hour', () => {
    const d = synth({ events: { webhook: WEBHOOK } });
    d.template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 } })],
    });
  });
});

describe('registry events under cdk-nag', () => {
  test.each([
    ['events on the default bus', { events: {} }],
    ['events with a webhook', { events: { webhook: WEBHOOK, pulls: true } }],
    ['events with the upload data path', { uploadDataPath: true, events: {} }],
  ])('reports nothing unacknowledged for a stack with %s', (_name, props) => {
    expect(violations(synth(props as RegistryStackProps, { nag: true }).app)).toEqual([]);
  });

  test('events add one acknowledgement, on the dead-letter queue (SQS3: it is a DLQ cdk-nag cannot see)', () => {
    const plain = acknowledgements(synth({}, { nag: true }));
    const withEvents = acknowledgements(synth({ events: { webhook: WEBHOOK } }, { nag: true }));
    expect(withEvents.filter((a) => !plain.includes(a))).toEqual([
      'AwsSolutions-SQS3 @ Registry/Events/WebhookDeadLetters',
    ]);
    expect(acknowledgements(synth({ events: {} }, { nag: true }))).toEqual(plain);
  });
});
