import { API_RETRY, BACKGROUND_RETRY, type RetrySettings } from '../../adapters/retry-policy';
import { loadConfig, type RegistryConfig } from '../../config/config';

/**
 * Services composed once per execution environment from `process.env`, on first use; a bad config
 * fails that first request (and every later one) with the config's message. In Lambda (which sets
 * `AWS_LAMBDA_FUNCTION_NAME`) calls retry within the API's 30 s; the uploader, the other user of
 * this, has no such limit and retries longer (adapters/retry-policy.ts).
 */
export function fromEnv<S>(compose: (config: RegistryConfig, retry: RetrySettings) => S): () => S {
  let cached: S | undefined;
  return () => {
    const retry = process.env.AWS_LAMBDA_FUNCTION_NAME ? API_RETRY : BACKGROUND_RETRY;
    cached ??= compose(loadConfig(process.env), retry);
    return cached;
  };
}
