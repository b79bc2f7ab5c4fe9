import { Duration, Stack, Validations, type SecretValue } from 'aws-cdk-lib';
import {
  ApiDestination,
  Authorization,
  Connection,
  EventBus,
  HttpMethod,
  Rule,
  type IEventBus,
} from 'aws-cdk-lib/aws-events';
import { ApiDestination as ApiDestinationTarget } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../lambda/config/env';
import { DEFAULT_EVENT_SOURCE, eventSourceProblem } from '../../lambda/config/events';
import type { StorageGrantee } from './storage';

/** Registry events on EventBridge (`docs/events.md`). */
export interface RegistryEventsProps {
  /**
   * The bus the registry publishes to.
   * @default - the account's default event bus
   */
  readonly bus?: IEventBus;
  /**
   * The events' `source`, which rules match on and which the functions may publish as (and only as).
   * @default DEFAULT_EVENT_SOURCE ('serverless-oci-registry')
   */
  readonly source?: string;
  /**
   * Publish `Manifest Pulled` on every manifest GET too. Off by default: a pull of one image is one
   * or two events, $1 per million (plus what the rules' targets cost).
   * @default false
   */
  readonly pulls?: boolean;
  /**
   * POST every registry event to an HTTPS endpoint: a rule matching the source sends them to an
   * EventBridge API destination, retrying with backoff; what still cannot be delivered lands in an
   * encrypted SQS dead-letter queue (kept 14 days).
   * @default - no webhook
   */
  readonly webhook?: RegistryWebhookProps;
}

export interface RegistryWebhookProps {
  /** The endpoint, `https://…` (API destinations call HTTPS only). */
  readonly url: string;
  /**
   * The API key EventBridge sends in `apiKeyHeader` with every call, so the endpoint can tell the
   * registry's calls from anyone else's. EventBridge connections need an authorization; it is kept
   * in a secret EventBridge manages. Pass it from Secrets Manager (`SecretValue.secretsManager(…)`)
   * rather than as plain text, which would end up in the template.
   */
  readonly apiKey: SecretValue;
  /**
   * @default 'x-api-key'
   */
  readonly apiKeyHeader?: string;
  /**
   * Retries of a failed delivery (0 to 185), with EventBridge's exponential backoff.
   * @default 8
   */
  readonly retryAttempts?: number;
  /**
   * How long an event is retried before it goes to the dead-letter queue (1 minute to 24 hours).
   * @default Duration.hours(1)
   */
  readonly maxEventAge?: Duration;
  /**
   * Calls per second at most; EventBridge queues the rest.
   * @default 50
   */
  readonly rateLimitPerSecond?: number;
}

export const WEBHOOK_DEFAULTS = {
  apiKeyHeader: 'x-api-key',
  retryAttempts: 8,
  maxEventAge: Duration.hours(1),
  rateLimitPerSecond: 50,
  deadLetterRetention: Duration.days(14),
} as const;

/**
 * Where the registry's events go: a bus (the default one unless given), the right to publish to it
 * as the registry's source for the code that emits (`grantPublish`), and optionally a webhook.
 */
export class RegistryEvents extends Construct {
  readonly bus: IEventBus;
  readonly source: string;
  readonly pulls: boolean;
  /** With `webhook`: the rule, and the queue of events it could not deliver. */
  readonly webhookRule?: Rule;
  readonly deadLetterQueue?: Queue;

  constructor(scope: Construct, id: string, props: RegistryEventsProps = {}) {
    super(scope, id);
    this.source = props.source ?? DEFAULT_EVENT_SOURCE;
    const problem = eventSourceProblem(this.source);
    if (problem) throw new Error(`events.source: ${problem}`);
    this.bus = props.bus ?? EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    this.pulls = props.pulls ?? false;
    if (props.webhook) {
      const { rule, queue } = this.webhook(props.webhook);
      this.webhookRule = rule;
      this.deadLetterQueue = queue;
    }
  }

  /**
   * Code that emits events (the blobs and manifests functions, the uploader): `events:PutEvents`
   * on this bus only, for this source only, and the environment that names them.
   */
  grantPublish(fn: StorageGrantee): void {
    fn.addEnvironment(ENV.eventBus, this.bus.eventBusArn);
    fn.addEnvironment(ENV.eventSource, this.source);
    fn.addEnvironment(ENV.eventPulls, String(this.pulls));
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
        conditions: { StringEquals: { 'events:source': this.source } },
      }),
    );
  }

  private webhook(props: RegistryWebhookProps): { rule: Rule; queue: Queue } {
    if (!/^https:\/\/[^/\s]+/.test(props.url))
      throw new Error(`events.webhook.url must be https://…, got "${props.url}"`);
    const retryAttempts = props.retryAttempts ?? WEBHOOK_DEFAULTS.retryAttempts;
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 185) {
      throw new Error(`events.webhook.retryAttempts must be an integer from 0 to 185, got ${retryAttempts}`);
    }
    const maxEventAge = props.maxEventAge ?? WEBHOOK_DEFAULTS.maxEventAge;
    const connection = new Connection(this, 'WebhookConnection', {
      description: `Registry ${Stack.of(this).stackName}: the API key sent with registry events`,
      authorization: Authorization.apiKey(props.apiKeyHeader ?? WEBHOOK_DEFAULTS.apiKeyHeader, props.apiKey),
    });
    const destination = new ApiDestination(this, 'Webhook', {
      description: `Registry ${Stack.of(this).stackName}: registry events`,
      connection,
      endpoint: props.url,
      httpMethod: HttpMethod.POST,
      rateLimitPerSecond: props.rateLimitPerSecond ?? WEBHOOK_DEFAULTS.rateLimitPerSecond,
    });
    const queue = new Queue(this, 'WebhookDeadLetters', {
      // EventBridge can write to queues with SQS-managed keys without a key policy of ours.
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: WEBHOOK_DEFAULTS.deadLetterRetention,
    });
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue: the one of the webhook rule target. EventBridge names its dead-letter queue in the target, not through an SQS redrive policy, so the check cannot see it.',
    });
    const rule = new Rule(this, 'WebhookRule', {
      description: `Registry ${Stack.of(this).stackName}: registry events to the webhook`,
      eventBus: this.bus,
      eventPattern: { source: [this.source] },
      targets: [new ApiDestinationTarget(destination, { retryAttempts, maxEventAge, deadLetterQueue: queue })],
    });
    return { rule, queue };
  }
}
