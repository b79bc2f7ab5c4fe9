import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsClients, type AwsClients } from '../../lambda/adapters/aws-clients';
import type { RetrySettings } from '../../lambda/adapters/retry-policy';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../tools/local/emulators';
import { startLocalRegistry, type LocalRegistry } from '../../tools/local/registry';
import { freshStorage, testClients } from './aws';
import { startFaultProxy, type FaultProxy, type SeenRequest } from './fault-proxy';
import type { Backend } from './fault-scenarios';
import { RegistryClient } from './http-client';

/** Local mode in one process whose S3 and DynamoDB clients go through fault proxies. */
export interface Rig {
  readonly root: AwsClients;
  readonly proxies: Record<Backend, FaultProxy>;
  readonly clients: AwsClients;
  readonly registry: LocalRegistry;
  readonly client: RegistryClient;
  readonly storage: { readonly bucket: string; readonly table: string };
  stop(): Promise<void>;
}

/** A registry whose every S3 and DynamoDB call passes a fault proxy; fresh clients, fresh storage. */
export async function startRig(retry: RetrySettings): Promise<Rig> {
  const root = testClients();
  const storage = await freshStorage(root);
  const proxies = {
    s3: await startFaultProxy(process.env.REGISTRY_TEST_S3_ENDPOINT as string),
    dynamodb: await startFaultProxy(process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT as string),
  };
  const clients = createAwsClients({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    s3Endpoint: proxies.s3.url,
    dynamodbEndpoint: proxies.dynamodb.url,
    forcePathStyle: true,
    retry,
  });
  const registry = await startLocalRegistry({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'registry-faults-')),
    clients,
    ...storage,
    logLevel: 'SILENT',
  });
  return {
    root,
    proxies,
    clients,
    registry,
    client: new RegistryClient(registry.url),
    storage,
    stop: async () => {
      await registry.stop();
      await Promise.all([proxies.s3.close(), proxies.dynamodb.close()]);
      for (const c of [clients, root]) {
        c.s3.destroy();
        c.dynamodb.destroy();
      }
    },
  };
}

/** Status, OCI error code and Retry-After of an answer. */
export async function answerOf(res: Response): Promise<{ status: number; code: string; retryAfter: string | null }> {
  const text = await res.text();
  let code = '';
  try {
    code = (JSON.parse(text) as { errors?: { code: string }[] }).errors?.[0]?.code ?? '';
  } catch {
    code = text ? 'non-JSON' : '';
  }
  return { status: res.status, code, retryAfter: res.headers.get('retry-after') };
}

/** A line of the fault table. */
export interface Row {
  fault: string;
  operation: string;
  got: string;
  stored: string;
  after: string;
}

/** Prints the fault table (markdown) to stdout, past jest's console capture. */
export function printTable(rows: Row[]): void {
  const header: Row = {
    fault: 'fault',
    operation: 'operation',
    got: 'client got',
    stored: 'left stored',
    after: 'after clearing',
  };
  const keys = Object.keys(header) as (keyof Row)[];
  const width = Object.fromEntries(keys.map((k) => [k, Math.max(...[header, ...rows].map((r) => r[k].length))]));
  const line = (r: Row) => `| ${keys.map((k) => r[k].padEnd(width[k] as number)).join(' | ')} |`;
  const rule = `|${keys.map((k) => '-'.repeat((width[k] as number) + 2)).join('|')}|`;
  process.stdout.write(`\n${[line(header), rule, ...rows.map(line)].join('\n')}\n\n`);
}

/** A call of the registry's SDK clients, not a client following a presigned URL (which signs its query). */
export const registryCall = (req: SeenRequest) => req.headers.authorization !== undefined;
