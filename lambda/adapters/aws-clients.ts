import type { DeserializeMiddleware, MetadataBearer } from '@smithy/types';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AwsClientOptions } from './client-options';
import { createDynamoDbClient } from './dynamodb/dynamodb-client';
import { observeReads } from './dynamodb/dynamodb-reads';
import { createS3Clients, type S3Clients } from './s3/s3-clients';

export type { AwsClientOptions } from './client-options';

export interface AwsClients extends S3Clients {
  readonly dynamodb: DynamoDBClient;
}

/**
 * SDK clients. Whatever is not given comes from the environment the way the SDK reads it (region,
 * credentials, `AWS_ENDPOINT_URL`), so the same code runs in Lambda, locally and against LocalStack.
 * S3 and DynamoDB calls retry transient faults within `options.retry` (see retry-policy.ts); what
 * is left the adapters translate (outage.ts). A function that calls only one store creates only its
 * client (`createDynamoDbClient`, `createS3Clients`), so it bundles no other.
 */
export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  return { ...createS3Clients(options), dynamodb: createDynamoDbClient(options) };
}

const observed = new WeakSet<AwsClients>();

/**
 * Reports every AWS call that reaches the wire as `service.Operation`. The hook sits at the
 * deserialize step, which presigning never reaches and every retry does, and in the lean read path
 * before each attempt.
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
  // Reads that go beside the SDK's pipeline (dynamodb-reads.ts) are reported by that path.
  observeReads(clients.dynamodb, onCall);
  // The DynamoDB client resolves its middleware once per command class (dynamodb-client.ts): calls
  // made before the hook was added would keep a stack without it. Observed clients (local mode in
  // one process, tests) resolve it on every call again.
  clients.dynamodb.config.cacheMiddleware = false;
}
