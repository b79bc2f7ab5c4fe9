import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { classifyOutage } from '../outage';
import { JsonRequestSigner, type AwsCredentials } from './json-signer';
import { configuredEndpoint, postJson, serviceError } from './json-transport';

export type { AwsCredentials } from './json-signer';
export { AwsServiceError } from './json-transport';

/**
 * One AWS service speaking the JSON protocol (`awsJson1_0`/`awsJson1_1`): a POST of the input as
 * JSON, named by `X-Amz-Target`, answered with the output as JSON.
 */
export interface AwsJsonService {
  /** SigV4 signing name, also the endpoint's host prefix: `kms`, `events`. */
  readonly signingName: string;
  /** The `X-Amz-Target` prefix: `TrentService` (KMS), `AWSEvents` (EventBridge). */
  readonly targetPrefix: string;
  readonly jsonVersion: '1.0' | '1.1';
  /** The service's part of `AWS_ENDPOINT_URL_<ID>`, as the SDK names it: `KMS`, `EVENTBRIDGE`. */
  readonly endpointEnvId: string;
}

export interface AwsJsonClientOptions {
  /** @default AWS_REGION (or AWS_DEFAULT_REGION) */
  readonly region?: string;
  /**
   * @default AWS_ENDPOINT_URL_<ID>, AWS_ENDPOINT_URL, else the service's regional endpoint
   * (`https://<signing name>[-fips].<region>.<DNS suffix of the region's partition>`)
   */
  readonly endpoint?: string;
  /** @default the SDK's default chain (the environment first, as in Lambda) */
  readonly credentials?: AwsCredentials | (() => Promise<AwsCredentials>);
  /** Attempts of a call that fails for the service's load or an answer that did not come. @default 3 */
  readonly maxAttempts?: number;
  /** How long one attempt may take until the whole answer is read. @default 3000 */
  readonly attemptTimeoutMs?: number;
}

/**
 * A client for the one or two operations of a JSON-protocol service a function calls: each call is
 * signed by JsonRequestSigner and sent by `postJson` (Node's own HTTP client), so a function bundles none of
 * the service's SDK client, whose exception classes and schemas for every operation are most of its
 * size (the KMS client is 28 KB of a bundle, EventBridge's 16 KB). What the SDK would do besides is
 * kept to what these calls need: credentials from the SDK's own provider chain (bundled anyway with
 * the S3 and DynamoDB clients), the endpoint from the same variables, and retries with jittered
 * backoff of throttled, failed (5xx) and unanswered attempts, each attempt with a deadline.
 */
export class AwsJsonClient {
  private readonly credentials: () => Promise<AwsCredentials>;
  private readonly maxAttempts: number;
  private readonly attemptTimeoutMs: number;
  private readonly signers = new Map<string, JsonRequestSigner>();

  constructor(
    private readonly service: AwsJsonService,
    private readonly options: AwsJsonClientOptions = {},
  ) {
    const given = options.credentials;
    this.credentials =
      typeof given === 'function'
        ? given
        : given
          ? async () => given
          : (defaultProvider() as () => Promise<AwsCredentials>);
    this.maxAttempts = options.maxAttempts ?? 3;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 3000;
  }

  /** Calls `operation` with `input`; its output, or the service's error as AwsServiceError. */
  async call<T>(operation: string, input: unknown, options: { abortSignal?: AbortSignal } = {}): Promise<T> {
    const body = JSON.stringify(input);
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.attempt(operation, body, options.abortSignal)) as T;
      } catch (err) {
        if (attempt >= this.maxAttempts || options.abortSignal?.aborted || !classifyOutage(err)) throw err;
        // Full jitter over 100 ms, 200 ms, … as the SDK's standard strategy.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 100 * 2 ** (attempt - 1)));
      }
    }
  }

  private async attempt(operation: string, body: string, abortSignal: AbortSignal | undefined): Promise<unknown> {
    const region = this.region();
    const url = new URL(this.endpoint(region));
    let signer = this.signers.get(region);
    if (!signer) this.signers.set(region, (signer = new JsonRequestSigner(this.service.signingName, region)));
    const headers = signer.sign({
      host: url.host,
      path: url.pathname,
      contentType: `application/x-amz-json-${this.service.jsonVersion}`,
      target: `${this.service.targetPrefix}.${operation}`,
      body,
      credentials: await this.credentials(),
    });
    const answer = await postJson(url, headers, body, {
      timeoutMs: this.attemptTimeoutMs,
      ...(abortSignal ? { abortSignal } : {}),
    });
    if (answer.status >= 200 && answer.status < 300) return answer.text ? JSON.parse(answer.text) : {};
    throw serviceError(answer);
  }

  private region(): string {
    const region = this.options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (!region) throw new Error('Region is missing: set AWS_REGION');
    return region;
  }

  private endpoint(region: string): string {
    if (this.options.endpoint) return this.options.endpoint;
    const configured = configuredEndpoint(this.service.endpointEnvId);
    if (configured) return configured;
    const fips = process.env.AWS_USE_FIPS_ENDPOINT === 'true' ? '-fips' : '';
    return `https://${this.service.signingName}${fips}.${region}.${dnsSuffix(region)}`;
  }
}

/** The DNS suffix of a region's partition (the SDK's partitions.json, by region prefix). */
export function dnsSuffix(region: string): string {
  if (region.startsWith('cn-')) return 'amazonaws.com.cn';
  if (region.startsWith('us-isob-')) return 'sc2s.sgov.gov';
  if (region.startsWith('us-isof-')) return 'csp.hci.ic.gov';
  if (region.startsWith('us-iso-')) return 'c2s.ic.gov';
  if (region.startsWith('eu-isoe-')) return 'cloud.adc-e.uk';
  if (region.startsWith('eusc-')) return 'amazonaws.eu';
  return 'amazonaws.com';
}
