import type { DeserializeMiddleware, MetadataBearer } from '@smithy/types';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { recogniseOwnConditionalPuts } from './dynamodb/own-write';
import { API_RETRY, clientRetryConfig, type RetrySettings } from './retry-policy';

export interface AwsClients {
  readonly s3: S3Client;
  readonly dynamodb: DynamoDBClient;
  /**
   * Signs the URLs handed to clients (blob GETs, direct upload parts), at the address clients reach
   * S3 by. It adds no checksum to what it signs: see `createAwsClients`.
   */
  readonly presign: S3Client;
}

export interface AwsClientOptions {
  readonly region?: string;
  readonly s3Endpoint?: string;
  readonly dynamodbEndpoint?: string;
  readonly s3PublicEndpoint?: string;
  readonly forcePathStyle?: boolean;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /**
   * Timeouts, attempts and the total budget of each S3 and DynamoDB call.
   * @default API_RETRY, for code behind the API's 30 s; BACKGROUND_RETRY for code without that limit
   */
  readonly retry?: RetrySettings;
}

/**
 * SDK clients. Whatever is not given comes from the environment the way the SDK reads it (region,
 * credentials, `AWS_ENDPOINT_URL`), so the same code runs in Lambda, locally and against LocalStack.
 * S3 and DynamoDB calls retry transient faults within `options.retry` (see retry-policy.ts); what
 * is left the adapters translate (outage.ts).
 */
export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const common = {
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
  };
  // One strategy per client: its retry quota then tracks that service's health alone.
  const retry = () => clientRetryConfig(options.retry ?? API_RETRY);
  const s3 = new S3Client({
    ...common,
    ...retry(),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.s3Endpoint ? { endpoint: options.s3Endpoint } : {}),
  });
  const dynamodb = new DynamoDBClient({
    ...common,
    ...retry(),
    ...(options.dynamodbEndpoint ? { endpoint: options.dynamodbEndpoint } : {}),
  });
  // A retried conditional put must not mistake its own first attempt for a concurrent writer.
  recogniseOwnConditionalPuts(dynamodb);
  // The presigning client computes and asks for checksums only where an operation requires them.
  // By default (since @aws-sdk/client-s3 3.729) it would sign the CRC32 of the empty body it has at
  // signing time into every part and object PUT URL (`x-amz-checksum-crc32=AAAAAA==` with
  // `x-amz-sdk-checksum-algorithm`), which several S3 implementations hold the real body to, and ask
  // for checksum headers in every GET URL (`x-amz-checksum-mode`). Who holds a URL sends or reads
  // bytes the registry verifies itself.
  const presign = new S3Client({
    ...common,
    forcePathStyle: options.forcePathStyle ?? false,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.s3PublicEndpoint || options.s3Endpoint
      ? { endpoint: options.s3PublicEndpoint ?? options.s3Endpoint }
      : {}),
  });
  return { s3, dynamodb, presign };
}

const observed = new WeakSet<AwsClients>();

/**
 * Reports every AWS call that reaches the wire as `service.Operation`. The hook sits at the
 * deserialize step, which presigning never reaches and every retry does.
 */
export function observeCalls(clients: AwsClients, onCall: (operation: string) => void): void {
  if (observed.has(clients)) return;
  observed.add(clients);
  const hook = (service: string) =>
    ((next, context) => async (args) => {
      onCall(`${service}.${(context.commandName ?? 'Unknown').replace(/Command$/, '')}`);
      return next(args);
    }) as DeserializeMiddleware<object, MetadataBearer>;
  clients.s3.middlewareStack.add(hook('s3'), { step: 'deserialize', name: 'registryCallObserver' });
  clients.dynamodb.middlewareStack.add(hook('dynamodb'), { step: 'deserialize', name: 'registryCallObserver' });
}
