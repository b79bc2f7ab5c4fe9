import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { commonClientConfig, retryConfig, type AwsClientOptions } from '../client-options';
import { API_RETRY } from '../retry-policy';
import { reuseSigner } from '../reused-signer';
import { dynamoDbReads } from './dynamodb-reads';
import { recogniseOwnConditionalPuts } from './own-write';

/**
 * The DynamoDB client of the metadata and accounts tables, on its own for the functions that call
 * no other store (`createAwsClients` for both stores). Calls retry within `options.retry`.
 *
 * Every registry read is one or two calls of this client, and the SDK's own work per call is most
 * of a read's CPU, so two parts of it that do nothing here are left out: resolving the middleware
 * stack again on every call (`cacheMiddleware`: once per command class; middleware is only added
 * right after the client is made, see `observeCalls` for the one exception), and the logger
 * middleware, which filters every input and output for the SDK's default logger, a no-op. Its
 * SigV4 signer is made once rather than for every call (`reuseSigner`).
 */
export function createDynamoDbClient(options: AwsClientOptions = {}): DynamoDBClient {
  const dynamodb = new DynamoDBClient({
    ...commonClientConfig(options),
    ...retryConfig(options),
    ...(options.dynamodbEndpoint ? { endpoint: options.dynamodbEndpoint } : {}),
    cacheMiddleware: true,
  });
  dynamodb.middlewareStack.remove('loggerMiddleware');
  reuseSigner(dynamodb);
  // A retried conditional put must not mistake its own first attempt for a concurrent writer.
  recogniseOwnConditionalPuts(dynamodb);
  // Its reads' short path, with the same timeouts.
  dynamoDbReads(dynamodb, options.retry ?? API_RETRY);
  return dynamodb;
}
