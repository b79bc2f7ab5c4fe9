import type { DeserializeMiddleware, MetadataBearer } from '@smithy/types';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

export interface AwsClients {
  readonly s3: S3Client;
  readonly dynamodb: DynamoDBClient;
  /** Signs blob GET URLs; differs from `s3` only when clients reach S3 at another address. */
  readonly presign: S3Client;
}

export interface AwsClientOptions {
  readonly region?: string;
  readonly s3Endpoint?: string;
  readonly dynamodbEndpoint?: string;
  readonly s3PublicEndpoint?: string;
  readonly forcePathStyle?: boolean;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/**
 * SDK clients. Whatever is not given comes from the environment the way the SDK reads it (region,
 * credentials, `AWS_ENDPOINT_URL`), so the same code runs in Lambda, locally and against LocalStack.
 */
export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const common = {
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
  };
  const s3 = new S3Client({
    ...common,
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.s3Endpoint ? { endpoint: options.s3Endpoint } : {}),
  });
  const dynamodb = new DynamoDBClient({
    ...common,
    ...(options.dynamodbEndpoint ? { endpoint: options.dynamodbEndpoint } : {}),
  });
  const presign = options.s3PublicEndpoint
    ? new S3Client({ ...common, forcePathStyle: options.forcePathStyle ?? false, endpoint: options.s3PublicEndpoint })
    : s3;
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
