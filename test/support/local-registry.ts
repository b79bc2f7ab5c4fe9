import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestRecord } from '../../tools/local/gateway';
import { startLocalRegistry, type LocalRegistry, type LocalRegistryOptions } from '../../tools/local/registry';
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
  options: Pick<LocalRegistryOptions, 'uploader' | 'auth' | 'events' | 'publishPulls' | 'directVerifyBudget'> = {},
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
