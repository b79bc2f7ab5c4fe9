import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsClients } from '../../lambda/adapters/aws-clients';
import { startEmulators } from '../../tools/local/emulators';
import { ensureTools, localS3Server } from '../../tools/local/tools';
import { endpointLacks, probeEndpoint } from './endpoint-strictness';

/**
 * Starts the real S3 and DynamoDB servers once for the whole run, unless REGISTRY_EXTERNAL_ENDPOINTS
 * says to use the environment's endpoints (AWS_ENDPOINT_URL, e.g. LocalStack or moto) instead; then
 * it probes which of S3's refusals the endpoint lacks, so that the tests depending on them skip.
 */
export default async function globalSetup(): Promise<void> {
  // Each tier (jest project) that needs servers runs this; the first starts them for the whole run.
  const state = globalThis as { __registryServersReady?: boolean };
  if (state.__registryServersReady) return;
  state.__registryServersReady = true;
  if (process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1') {
    const { s3, presign } = createAwsClients({ forcePathStyle: true });
    try {
      await probeEndpoint(s3, presign);
    } finally {
      s3.destroy();
      presign.destroy();
    }
    for (const reason of endpointLacks().values()) process.stdout.write(`tests depending on it skip: ${reason}\n`);
    return;
  }
  // The suite runs on versitygw unless REGISTRY_TEST_S3_SERVER names the other server.
  const tools = await ensureTools(
    (line) => process.stdout.write(`${line}\n`),
    localS3Server({ REGISTRY_S3_SERVER: process.env.REGISTRY_TEST_S3_SERVER ?? 'versitygw' }),
  );
  const dataDir = mkdtempSync(join(tmpdir(), 'registry-test-'));
  const emulators = await startEmulators(tools, dataDir);
  process.env.REGISTRY_TEST_S3_ENDPOINT = emulators.s3Endpoint;
  process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT = emulators.dynamodbEndpoint;
  const servers = globalThis as { __registryEmulators?: typeof emulators; __registryDataDir?: string };
  servers.__registryEmulators = emulators;
  servers.__registryDataDir = dataDir;
}
