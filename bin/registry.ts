import { App, Duration, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  RegistryStack,
  type AuthMode,
  type PullThroughCacheRule,
  type RegistryAuthProps,
  type RegistryEventsProps,
} from '../lib';

const app = new App();
const context = (name: string): unknown => app.node.tryGetContext(name);
/** A comma-separated `-c` value, or a list from cdk.json. */
const list = (name: string): string[] | undefined => {
  const value = context(name);
  if (value === undefined) return undefined;
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
  return items.map((v) => v.trim()).filter(Boolean);
};
/** A `-c` number, or one from cdk.json. */
const number = (name: string): number | undefined => {
  const value = context(name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (String(value).trim() === '' || !Number.isFinite(n))
    throw new Error(`-c ${name} must be a number, got "${value}"`);
  return n;
};
const seconds = (name: string): Duration | undefined => {
  const n = number(name);
  return n === undefined ? undefined : Duration.seconds(n);
};

// Access control: token mode unless `-c authMode=basic` or `-c authMode=none` (an open registry) says
// otherwise, e.g. `cdk deploy -c anonymousPull=public/*,library/*`; see
// docs/access-control-infra.md for the others (authService, maxFailedSignIns, tokenTtlSeconds,
// refreshTtlSeconds, signingKeyGenerations).
const auth: RegistryAuthProps = {
  mode: context('authMode') as AuthMode | undefined,
  anonymousPull: list('anonymousPull'),
  service: context('authService') as string | undefined,
  maxFailedSignIns: number('maxFailedSignIns'),
  tokenTtl: seconds('tokenTtlSeconds'),
  refreshTokenTtl: seconds('refreshTtlSeconds'),
  signingKeyGenerations: list('signingKeyGenerations'),
};

// Registry events on the default bus (docs/events.md): `cdk deploy -c events=true [-c eventPulls=true]
// [-c eventWebhookUrl=https://… -c eventWebhookSecretArn=arn:…]`; another bus through the `events.bus` prop.
const flag = (name: string): boolean => ['true', true].includes(context(name) as string | boolean);
const webhookUrl = context('eventWebhookUrl') as string | undefined;
const events: RegistryEventsProps | undefined = flag('events')
  ? {
      pulls: flag('eventPulls'),
      ...(webhookUrl
        ? {
            webhook: {
              url: webhookUrl,
              apiKey: SecretValue.secretsManager(String(context('eventWebhookSecretArn') ?? '')),
            },
          }
        : {}),
    }
  : undefined;

// A pull-through cache (docs/pull-through-cache.md): `-c pullThroughCache='[{"prefix":"hub",
// "upstream":"https://registry-1.docker.io","credentialsSecretArn":"arn:…","allow":["library/*"],
// "tagTtlSeconds":3600}]'` (JSON, or the list itself in cdk.json); the stack checks each rule.
const pullThroughCache = pullThroughRules(context('pullThroughCache'));

new RegistryStack(app, 'ServerlessRegistry', {
  description: 'Serverless OCI container registry (API Gateway HTTP API, Lambda, S3, DynamoDB)',
  // `cdk deploy -c uploadDataPath=true` adds the upload data path (CloudFront, Fargate); it costs
  // money when idle, see RegistryStackProps.uploadDataPath.
  uploadDataPath: ['true', true].includes(context('uploadDataPath') as string | boolean),
  // Unset options stay unset, so the stack's defaults (and its checks of mode-specific options) apply.
  auth: Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined)) as RegistryAuthProps,
  events,
  ...(pullThroughCache ? { pullThroughCache } : {}),
  // Level of the functions' JSON logs, e.g. `-c logLevel=WARN` (local mode's default, which prints a line per request of its own).
  ...(context('logLevel') !== undefined ? { logLevel: String(context('logLevel')) } : {}),
  // `-c pathPrefix=/registry`: served under that path behind a reverse proxy that strips it.
  ...(context('pathPrefix') ? { pathPrefix: String(context('pathPrefix')) } : {}),
});
// cdk-nag 3 runs as a policy validation plugin: an unacknowledged finding fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

/** `-c pullThroughCache` as the stack's rules; a secret is named by its complete ARN. */
function pullThroughRules(value: unknown): PullThroughCacheRule[] | undefined {
  if (value === undefined || value === '') return undefined;
  let entries: unknown = value;
  if (typeof value === 'string') {
    try {
      entries = JSON.parse(value);
    } catch {
      throw new Error(`-c pullThroughCache must be a JSON array of rules, got ${value}`);
    }
  }
  if (!Array.isArray(entries)) throw new Error('-c pullThroughCache must be a JSON array of rules');
  // An imported secret is its ARN and nothing else the registry uses, but it needs a stack to live in
  // before the registry's stack exists: this one is never synthesized.
  const imports = new Stack(new App({ autoSynth: false }), 'PullThroughCredentials');
  return entries.map((entry: unknown, i): PullThroughCacheRule => {
    if (typeof entry !== 'object' || entry === null) throw new Error(`-c pullThroughCache[${i}] must be an object`);
    const { prefix, upstream, credentialsSecretArn, allow, tagTtlSeconds, ...rest } = entry as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) {
      throw new Error(
        `-c pullThroughCache[${i}]: unknown ${unknown.join(', ')} (known: prefix, upstream, credentialsSecretArn, allow, tagTtlSeconds)`,
      );
    }
    if (credentialsSecretArn !== undefined && typeof credentialsSecretArn !== 'string') {
      throw new Error(`-c pullThroughCache[${i}]: credentialsSecretArn must be a secret's complete ARN`);
    }
    if (tagTtlSeconds !== undefined && typeof tagTtlSeconds !== 'number') {
      throw new Error(`-c pullThroughCache[${i}]: tagTtlSeconds must be a number`);
    }
    // The rest is checked by the stack, with the same words as the prop.
    return {
      prefix: prefix as string,
      upstream: upstream as string,
      ...(allow !== undefined ? { allow: allow as string[] } : {}),
      ...(tagTtlSeconds !== undefined ? { tagTtl: Duration.seconds(tagTtlSeconds) } : {}),
      ...(credentialsSecretArn
        ? { credentials: Secret.fromSecretCompleteArn(imports, `Credentials${i}`, credentialsSecretArn) }
        : {}),
    };
  });
}
