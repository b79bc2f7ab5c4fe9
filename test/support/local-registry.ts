import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestRecord } from '../../tools/local/gateway';
import { startLocalRegistry, type LocalRegistry, type LocalRegistryOptions } from '../../tools/local/registry';
import type { AwsClients } from '../../lambda/adapters/aws-clients';
import type { AccountStore } from '../../lambda/core/ports/accounts';
import type { AwsCall } from '../../tools/local/stack/aws-endpoint';
import { functionLogFilter } from '../../tools/local/stack/log-filter';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../tools/local/stack/local-stack';
import { freshStorage, testClients } from './aws';

export interface TestRegistry extends LocalRegistry {
  /** `localhost:<port>`, as image references name it. */
  readonly host: string;
  /** Every request served so far, with the AWS calls it made. */
  readonly requests: RequestRecord[];
  /** Its data directory (the token signing key lives here in token mode). */
  readonly dataDir: string;
}

/** Local mode on the run's servers, with its own bucket and table, on a free port. */
export async function startTestRegistry(
  options: Pick<
    LocalRegistryOptions,
    'uploader' | 'auth' | 'events' | 'publishPulls' | 'directVerifyBudget' | 'uploaderAdmission'
  > = {},
): Promise<TestRegistry> {
  const clients = testClients();
  const { bucket, table } = await freshStorage(clients);
  const requests: RequestRecord[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'registry-test-'));
  const registry = await startLocalRegistry({
    port: 0,
    dataDir,
    clients,
    bucket,
    table,
    uploader: options.uploader,
    ...(options.uploaderAdmission ? { uploaderAdmission: options.uploaderAdmission } : {}),
    ...(options.directVerifyBudget ? { directVerifyBudget: options.directVerifyBudget } : {}),
    ...(options.auth ? { auth: options.auth } : {}),
    ...(options.events ? { events: options.events, publishPulls: options.publishPulls } : {}),
    onRequest: (r) => requests.push(r),
  });
  return {
    ...registry,
    host: `localhost:${registry.port}`,
    requests,
    dataDir,
    stop: async () => {
      await registry.stop();
      clients.s3.destroy();
      clients.dynamodb.destroy();
    },
  };
}

export interface TestStack extends Omit<LocalStack, 'accounts'> {
  /** The accounts table's store; only a stack with access control has one. */
  readonly accounts: AccountStore;
  /** `localhost:<port>`, as image references name it. */
  readonly host: string;
  /** Every request served so far, with the function (logical id) that served it. */
  readonly requests: RequestRecord[];
  /** Every AWS call the functions, the uploader and presigned URLs made, refusals included. */
  readonly calls: AwsCall[];
  /** The functions' and the uploader's log lines. */
  readonly logs: string[];
  readonly dataDir: string;
  /** Root clients of the run's servers, and the stack's bucket and table (for `inventory`). */
  readonly clients: AwsClients;
  readonly config: { readonly bucket: string; readonly table: string };
}

/**
 * How long a hook may take to start stacks: the first start of each configuration synthesizes the
 * app (bundling every function), which takes minutes on a busy 2-core machine.
 */
export const STACK_START_TIMEOUT_MS = 300_000;

/**
 * The synthesized stack (tools/local/stack) on the run's servers, with names of its own, on a free
 * port: what the real-client and conformance tests drive, so that they test what `cdk deploy` ships.
 */
export async function startTestStack(
  options: Pick<LocalStackOptions, 'uploader' | 'auth' | 'events' | 'editTemplate' | 'pathPrefix' | 'pullThrough'> = {},
): Promise<TestStack> {
  const s3Endpoint = process.env.REGISTRY_TEST_S3_ENDPOINT;
  const dynamodbEndpoint = process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT;
  if (!s3Endpoint || !dynamodbEndpoint)
    throw new Error('test servers are not running: global setup did not start them');
  const requests: RequestRecord[] = [];
  const calls: AwsCall[] = [];
  const logs: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'registry-stack-'));
  const stack = await startLocalStack({
    port: 0,
    dataDir,
    servers: { s3Endpoint, dynamodbEndpoint },
    namePrefix: `t${randomUUID().slice(0, 8)}`,
    ...options,
    onRequest: (r) => requests.push(r),
    onCall: (c) => calls.push(c),
    onLog: functionLogFilter((line) => logs.push(line)),
  });
  const { accounts } = stack;
  const clients = testClients();
  return {
    ...stack,
    get accounts(): AccountStore {
      if (!accounts) throw new Error('this stack has no access control, so no accounts table');
      return accounts;
    },
    host: `localhost:${stack.port}`,
    requests,
    calls,
    logs,
    dataDir,
    clients,
    config: stack.names,
    stop: async () => {
      await stack.stop();
      clients.s3.destroy();
      clients.dynamodb.destroy();
    },
  };
}
