/**
 * Our registry for `bench:large`, in a process of its own, as docker-registry runs in its own and as
 * the deployed uploader runs apart from its clients: local mode's registry (the function handlers
 * behind the local gateway, the streaming uploader on) on S3 and DynamoDB servers started elsewhere.
 * It prints `listening <port>` once it answers and stops on SIGTERM. Its process is named `registry`,
 * so the benchmark can count its CPU seconds apart from its own.
 *
 *   tsx scripts/bench-registry.ts <s3 endpoint> <dynamodb endpoint> <data dir> <bucket and table name>
 */
import { createAwsClients } from '../lambda/adapters/aws-clients';
import { BACKGROUND_RETRY } from '../lambda/adapters/retry-policy';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../tools/local/emulators';
import { startLocalRegistry } from '../tools/local/registry';

async function main(): Promise<void> {
  const [s3Endpoint, dynamodbEndpoint, dataDir, name] = process.argv.slice(2);
  if (!s3Endpoint || !dynamodbEndpoint || !dataDir || !name) {
    throw new Error('usage: bench-registry.ts <s3 endpoint> <dynamodb endpoint> <data dir> <bucket and table name>');
  }
  process.title = 'registry';
  // The uploader's retry settings, as deployed (lambda/handlers/wiring/environment.ts): the API's
  // 3 s to the response headers would cut off versitygw's CompleteMultipartUpload of a 1 GiB object,
  // which joins the parts before it answers; its retry is then answered before the object exists.
  const clients = createAwsClients({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    s3Endpoint,
    dynamodbEndpoint,
    forcePathStyle: true,
    retry: BACKGROUND_RETRY,
  });
  const registry = await startLocalRegistry({ port: 0, dataDir, clients, bucket: name, table: name, uploader: true });
  const stop = () => {
    void registry.stop().finally(() => {
      clients.s3.destroy();
      clients.dynamodb.destroy();
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  console.log(`listening ${registry.port}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
