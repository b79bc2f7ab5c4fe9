import type { AttributeValue, DynamoDBClient, GetItemCommandInput, QueryCommandInput } from '@aws-sdk/client-dynamodb';
import type { RetryErrorInfo, RetryErrorType, RetryStrategyV2 } from '@smithy/types';
import { JsonRequestSigner } from '../aws-json/json-signer';
import { configuredEndpoint, postJson, serviceError } from '../aws-json/json-transport';
import { API_RETRY, type RetrySettings } from '../retry-policy';
import { classifyOutage } from '../outage';

type Item = Record<string, AttributeValue>;

export interface GetItemResult {
  readonly Item?: Item;
}

export interface QueryResult {
  readonly Items?: Item[];
  readonly LastEvaluatedKey?: Item;
}

/** What the SDK's client config holds that a call needs, resolved as the SDK resolves it. */
interface ResolvedConfig {
  readonly region: () => Promise<string>;
  readonly credentials: () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;
  readonly retryStrategy: () => Promise<RetryStrategyV2>;
  readonly endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number; path: string }>;
  readonly endpointProvider: (params: Record<string, unknown>) => { url: URL };
  readonly useFipsEndpoint: () => Promise<boolean>;
  readonly useDualstackEndpoint: () => Promise<boolean>;
}

/** Where the calls go and how they are signed: resolved on the first call, then kept. */
interface Target {
  readonly url: URL;
  readonly signer: JsonRequestSigner;
}

const observers = new WeakMap<DynamoDBClient, (operation: string) => void>();
const readers = new WeakMap<DynamoDBClient, DynamoDbReads>();

/**
 * The lean reads of `client` (one per client), whose attempts each end within the settings'
 * `requestTimeoutMs` (the client's own, when `createDynamoDbClient` made it).
 */
export function dynamoDbReads(client: DynamoDBClient, settings: RetrySettings = API_RETRY): DynamoDbReads {
  let reads = readers.get(client);
  if (!reads) readers.set(client, (reads = new DynamoDbReads(client, settings)));
  return reads;
}

/** Reports every read of `client`'s lean path that reaches the wire, as `observeCalls` does for the SDK's. */
export function observeReads(client: DynamoDBClient, onCall: (operation: string) => void): void {
  observers.set(client, onCall);
}

/**
 * The table reads every pull makes (GetItem, Query), sent on a short path beside the SDK's command
 * pipeline. Measured with the V8 profiler in a manifests function, the pipeline costs about 0.4 ms
 * of CPU per call (endpoint rules, middleware, schema-driven serde, user agent), most of a read;
 * this path costs a fraction of that. What a call relies on is the client's own: its credentials,
 * region and endpoint, its retry strategy (the budgeted standard strategy, with its quota shared
 * with the SDK's calls); requests are signed by JsonRequestSigner and sent by `postJson`, each
 * attempt within the client's request timeout.
 * Errors are AwsServiceError named as the SDK names them, so `ddb()` and `classifyOutage` translate
 * them alike. Writes stay on the SDK: conditional puts rely on its middleware (own-write.ts) and
 * transactions on its idempotency tokens.
 */
export class DynamoDbReads {
  private target?: Promise<Target>;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly settings: RetrySettings,
  ) {}

  getItem(input: GetItemCommandInput): Promise<GetItemResult> {
    return this.call('GetItem', { ...input, Key: toWire(input.Key) });
  }

  query(input: QueryCommandInput): Promise<QueryResult> {
    return this.call('Query', {
      ...input,
      ...(input.ExpressionAttributeValues
        ? { ExpressionAttributeValues: toWire(input.ExpressionAttributeValues) }
        : {}),
      ...(input.ExclusiveStartKey ? { ExclusiveStartKey: toWire(input.ExclusiveStartKey) } : {}),
    });
  }

  private get config(): ResolvedConfig {
    return this.client.config as unknown as ResolvedConfig;
  }

  private async call<T>(operation: string, input: unknown): Promise<T> {
    const body = JSON.stringify(input);
    const strategy = await this.config.retryStrategy();
    let token = await strategy.acquireInitialRetryToken('');
    for (;;) {
      try {
        observers.get(this.client)?.(`dynamodb.${operation}`);
        const output = (await this.attempt(operation, body)) as T;
        strategy.recordSuccess(token);
        return output;
      } catch (err) {
        const errorType = retryErrorType(err);
        if (!errorType) throw err;
        try {
          // The strategy decides (attempts, quota, the call's budget) and waits out the backoff.
          token = await strategy.refreshRetryTokenForRetry(token, { errorType, error: err as RetryErrorInfo['error'] });
        } catch {
          throw err;
        }
        const delay = token.getRetryDelay();
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async attempt(operation: string, body: string): Promise<unknown> {
    const target = await (this.target ??= this.resolveTarget().catch((err: unknown) => {
      this.target = undefined;
      throw err;
    }));
    const { url, signer } = target;
    const headers = signer.sign({
      host: url.host,
      path: url.pathname,
      contentType: 'application/x-amz-json-1.0',
      target: `DynamoDB_20120810.${operation}`,
      body,
      credentials: await this.config.credentials(),
    });
    const answer = await postJson(url, headers, body, { timeoutMs: this.settings.requestTimeoutMs });
    if (answer.status >= 200 && answer.status < 300) return fromWire(JSON.parse(answer.text));
    throw serviceError(answer);
  }

  private async resolveTarget(): Promise<Target> {
    const config = this.config;
    const region = await config.region();
    return { url: await this.endpointUrl(region), signer: new JsonRequestSigner('dynamodb', region) };
  }

  /** The client's endpoint as the SDK picks it: given, configured by the environment, else the region's. */
  private async endpointUrl(region: string): Promise<URL> {
    const config = this.config;
    if (config.endpoint) {
      const e = await config.endpoint();
      return new URL(`${e.protocol}//${e.hostname}${e.port ? `:${e.port}` : ''}${e.path}`);
    }
    const configured = configuredEndpoint('DYNAMODB');
    if (configured) return new URL(configured);
    return new URL(
      config.endpointProvider({
        Region: region,
        UseFIPS: await config.useFipsEndpoint(),
        UseDualStack: await config.useDualstackEndpoint(),
        AccountIdEndpointMode: 'disabled',
      }).url.href,
    );
  }
}

/**
 * How the SDK's retry strategy classes an error (its getRetryErrorType), for those it retries:
 * throttling, and transient faults (500, 502, 503, 504, timeouts, broken or refused connections).
 * Other 5xx answers are server errors, which the standard strategy does not retry; client errors
 * are never retried.
 */
function retryErrorType(err: unknown): RetryErrorType | undefined {
  const outage = classifyOutage(err);
  if (!outage) return undefined;
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (outage === 'unreachable') return 'TRANSIENT';
  if (status === undefined || status === 429 || status < 500) return 'THROTTLING';
  return [500, 502, 503, 504].includes(status) ? 'TRANSIENT' : 'SERVER_ERROR';
}

/** Attribute values as the wire has them: binary as base64. */
function toWire(item: Item | undefined): Item | undefined {
  if (!item) return item;
  let copy: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(item)) {
    if (value.B !== undefined || value.BS !== undefined || value.M !== undefined || value.L !== undefined) {
      copy ??= { ...item };
      copy[name] = encodeValue(value);
    }
  }
  return (copy as Item | undefined) ?? item;
}

function encodeValue(value: AttributeValue): unknown {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((v) => Buffer.from(v).toString('base64')) };
  if (value.M !== undefined) return { M: toWire(value.M) };
  if (value.L !== undefined) return { L: value.L.map(encodeValue) };
  return value;
}

/** An output as the SDK gives it: binary attribute values as bytes (Uint8Array), the rest as sent. */
function fromWire(output: Record<string, unknown>): unknown {
  const decodeItem = (item: Record<string, Record<string, unknown>>) => {
    for (const name in item) item[name] = decodeValue(item[name]!);
    return item;
  };
  const decodeValue = (value: Record<string, unknown>): Record<string, unknown> => {
    if (typeof value.B === 'string') return { B: new Uint8Array(Buffer.from(value.B, 'base64')) };
    if (Array.isArray(value.BS)) return { BS: value.BS.map((v: string) => new Uint8Array(Buffer.from(v, 'base64'))) };
    if (value.M) return { M: decodeItem(value.M as Record<string, Record<string, unknown>>) };
    if (Array.isArray(value.L)) return { L: value.L.map(decodeValue) };
    return value;
  };
  for (const field of ['Item', 'LastEvaluatedKey'] as const) {
    if (output[field]) decodeItem(output[field] as Record<string, Record<string, unknown>>);
  }
  if (Array.isArray(output.Items)) output.Items.forEach(decodeItem);
  return output;
}
