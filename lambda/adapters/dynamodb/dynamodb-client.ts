import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { commonClientConfig, retryConfig, type AwsClientOptions } from '../client-options';
import { recogniseOwnConditionalPuts } from './own-write';

/**
 * The DynamoDB client of the metadata and accounts tables, on its own for the functions that call
 * no other store (`createAwsClients` for both stores). Calls retry within `options.retry`.
 */
export function createDynamoDbClient(options: AwsClientOptions = {}): DynamoDBClient {
  const dynamodb = new DynamoDBClient({
    ...commonClientConfig(options),
    ...retryConfig(options),
    ...(options.dynamodbEndpoint ? { endpoint: options.dynamodbEndpoint } : {}),
  });
  // A retried conditional put must not mistake its own first attempt for a concurrent writer.
  recogniseOwnConditionalPuts(dynamodb);
  return dynamodb;
}
