import { API_RETRY, clientRetryConfig, type RetrySettings } from './retry-policy';

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

/** Region and credentials when given; otherwise the SDK reads them from the environment. */
export function commonClientConfig(options: AwsClientOptions) {
  return {
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
  };
}

/** One strategy per client: its retry quota then tracks that service's health alone. */
export function retryConfig(options: AwsClientOptions) {
  return clientRetryConfig(options.retry ?? API_RETRY);
}
