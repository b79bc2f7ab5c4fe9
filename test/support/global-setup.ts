import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulators } from '../../tools/local/emulators';
import { ensureTools } from '../../tools/local/tools';

/**
 * Starts the real S3 and DynamoDB servers once for the whole run, unless REGISTRY_EXTERNAL_ENDPOINTS
 * says to use the environment's endpoints (AWS_ENDPOINT_URL, e.g. LocalStack) instead.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1') return;
  const tools = ensureTools((line) => process.stdout.write(`${line}\n`));
  const emulators = await startEmulators(tools, mkdtempSync(join(tmpdir(), 'registry-test-')));
  process.env.REGISTRY_TEST_S3_ENDPOINT = emulators.s3Endpoint;
  process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT = emulators.dynamodbEndpoint;
  (globalThis as { __registryEmulators?: typeof emulators }).__registryEmulators = emulators;
}
