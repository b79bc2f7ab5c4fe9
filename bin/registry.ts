import { App, Duration, SecretValue, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RegistryStack, type AuthMode, type RegistryAuthProps, type RegistryEventsProps } from '../lib';

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

new RegistryStack(app, 'ServerlessRegistry', {
  description: 'Serverless OCI container registry (API Gateway HTTP API, Lambda, S3, DynamoDB)',
  // `cdk deploy -c uploadDataPath=true` adds the upload data path (CloudFront, Fargate); it costs
  // money when idle, see RegistryStackProps.uploadDataPath.
  uploadDataPath: ['true', true].includes(context('uploadDataPath') as string | boolean),
  // Unset options stay unset, so the stack's defaults (and its checks of mode-specific options) apply.
  auth: Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined)) as RegistryAuthProps,
  events,
  // Level of the functions' JSON logs, e.g. `-c logLevel=WARN` (local mode's default, which prints a line per request of its own).
  ...(context('logLevel') !== undefined ? { logLevel: String(context('logLevel')) } : {}),
  // `-c pathPrefix=/registry`: served under that path behind a reverse proxy that strips it.
  ...(context('pathPrefix') ? { pathPrefix: String(context('pathPrefix')) } : {}),
});
// cdk-nag 3 runs as a policy validation plugin: an unacknowledged finding fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
