import { randomUUID } from 'node:crypto';
import { createAwsClients, type AwsClients } from '../../lambda/adapters/aws-clients';
import { provision } from '../../lambda/adapters/provision';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../tools/local/emulators';

/**
 * SDK clients for the servers the run uses: the embedded ones started by global setup, or the
 * environment's (REGISTRY_EXTERNAL_ENDPOINTS=1 with AWS_ENDPOINT_URL, region and credentials).
 */
export function testClients(): AwsClients {
  if (process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1') return createAwsClients({ forcePathStyle: true });
  const s3Endpoint = process.env.REGISTRY_TEST_S3_ENDPOINT;
  const dynamodbEndpoint = process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT;
  if (!s3Endpoint || !dynamodbEndpoint)
    throw new Error('test servers are not running: global setup did not start them');
  return createAwsClients({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    s3Endpoint,
    dynamodbEndpoint,
    forcePathStyle: true,
  });
}

/** The address of the S3 server the run uses, as presigned URLs name it. */
export function testS3Endpoint(): string {
  const endpoint =
    process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1'
      ? (process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL)
      : process.env.REGISTRY_TEST_S3_ENDPOINT;
  if (!endpoint) throw new Error('no S3 endpoint: set AWS_ENDPOINT_URL, or let global setup start the servers');
  return new URL(endpoint).origin;
}

/**
 * The names of the checksum parameters in a presigned URL (`x-amz-checksum-*`,
 * `x-amz-sdk-checksum-algorithm`): a URL handed to clients should carry none.
 */
export function checksumParameters(url: string): string[] {
  return [...new URL(url).searchParams.keys()].filter((name) => /^x-amz-(sdk-)?checksum-/i.test(name));
}

/** A fresh bucket and table for one test file, so files never see each other's data. */
export async function freshStorage(clients: AwsClients): Promise<{ bucket: string; table: string }> {
  const id = randomUUID().slice(0, 8);
  const names = { bucket: `registry-test-${id}`, table: `registry-test-${id}` };
  await provision(clients, names.bucket, names.table);
  return names;
}
