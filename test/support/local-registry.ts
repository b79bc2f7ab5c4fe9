import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestRecord } from '../../lambda/local/gateway';
import { startLocalRegistry, type LocalRegistry } from '../../lambda/local/registry';
import { freshStorage, testClients } from './aws';

export interface TestRegistry extends LocalRegistry {
  /** `localhost:<port>`, as image references name it. */
  readonly host: string;
  /** Every request served so far, with the AWS calls it made. */
  readonly requests: RequestRecord[];
}

/** Local mode on the run's servers, with its own bucket and table, on a free port. */
export async function startTestRegistry(options: { uploader?: boolean } = {}): Promise<TestRegistry> {
  const clients = testClients();
  const { bucket, table } = await freshStorage(clients);
  const requests: RequestRecord[] = [];
  const registry = await startLocalRegistry({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'registry-unused-')),
    clients,
    bucket,
    table,
    uploader: options.uploader,
    onRequest: (r) => requests.push(r),
  });
  return {
    ...registry,
    host: `localhost:${registry.port}`,
    requests,
    stop: async () => {
      await registry.stop();
      clients.s3.destroy();
      clients.dynamodb.destroy();
    },
  };
}
