import { resolve } from 'node:path';
import { DEFAULT_MODE_CACHE_MS } from '../../lambda/core/services/mode-service';
import type { ModeStore, RegistryMode } from '../../lambda/core/ports/mode';
import { CliError, readLocalEndpoints, UsageError, type CliValues } from './cli-support';
import { defaultDataDir } from '../local/endpoints-file';
import { LOCAL_CREDENTIALS } from '../local/emulators';

/**
 * The admin CLI's `maintenance on|off|status` (declared in admin-cli.ts, loaded only when it runs):
 * the registry's mode, the mode item of the metadata table of local mode (`--local`) or of a
 * deployed stack (`--metadata-table`, the stack's `MetadataTable` output); `npm run dev`, which runs
 * no table of the stack's, keeps it in a file of its data directory.
 */

export type MaintenanceAction = 'on' | 'off' | 'status';

interface ModeTarget {
  readonly store: ModeStore;
  /** For messages: `local mode, table …`, `table …`. */
  readonly where: string;
}

const str = (value: string | boolean | undefined) => (typeof value === 'string' ? value : undefined);

/** `--local [--data-dir]` or `--metadata-table` (admin-cli.ts checked the combination before loading this). */
function modeTargetOptions(
  values: CliValues,
  env: NodeJS.ProcessEnv,
): { kind: 'local'; dataDir: string } | { kind: 'table'; table: string } {
  if (values.local) return { kind: 'local', dataDir: String(values['data-dir'] ?? defaultDataDir()) };
  const table = str(values['metadata-table']) ?? env.REGISTRY_TABLE;
  if (!table) throw new UsageError("which registry? --local or --metadata-table <the stack's MetadataTable output>");
  return { kind: 'table', table };
}

/** The mode item of `table`, through a client for `endpoint` or the environment's. */
async function tableModeStore(table: string, local?: { endpoint: string; region: string }): Promise<ModeStore> {
  const [{ createDynamoDbClient }, { DynamoDbModeStore }] = await Promise.all([
    import('../../lambda/adapters/dynamodb/dynamodb-client'),
    import('../../lambda/adapters/dynamodb/dynamodb-mode-store'),
  ]);
  const client = createDynamoDbClient(
    local ? { dynamodbEndpoint: local.endpoint, region: local.region, credentials: LOCAL_CREDENTIALS } : {},
  );
  // An operator waits a little longer than a push would.
  return new DynamoDbModeStore(client, table, { readTimeoutMs: 10_000 });
}

async function openModeTarget(values: CliValues, env = process.env): Promise<ModeTarget> {
  const target = modeTargetOptions(values, env);
  if (target.kind === 'table') return { store: await tableModeStore(target.table), where: `table ${target.table}` };
  // The synthesized stack (npm start) keeps its mode in its metadata table, on DynamoDB Local.
  const endpoints = await readLocalEndpoints(target.dataDir).catch(() => undefined);
  if (endpoints?.awsEndpoint && endpoints.modeInTable) {
    return {
      store: await tableModeStore(endpoints.table, { endpoint: endpoints.dynamodbEndpoint, region: endpoints.region }),
      where: `local mode, table ${endpoints.table}`,
    };
  }
  const { FileModeStore } = await import('../../lambda/adapters/modefile/file-mode-store');
  const store = new FileModeStore(resolve(target.dataDir));
  return { store, where: `local mode, file ${store.path}` };
}

const SECONDS = DEFAULT_MODE_CACHE_MS / 1000;

/** Runs one maintenance action and prints what it did; failures become one-line CliErrors. */
export async function runMaintenance(action: MaintenanceAction, values: CliValues): Promise<void> {
  const { store, where } = await openModeTarget(values);
  try {
    if (action === 'status') {
      const mode = await store.read();
      if (values.json) console.log(JSON.stringify({ mode, maintenance: mode === 'read-only', target: where }));
      else console.log(`${describe(mode)} (${where})`);
      return;
    }
    const mode: RegistryMode = action === 'on' ? 'read-only' : 'read-write';
    await store.write(mode);
    console.log(
      action === 'on'
        ? `maintenance mode on (${where}): within ${SECONDS} s every push and delete answers 503 with Retry-After; pulls keep working`
        : `maintenance mode off (${where}): within ${SECONDS} s pushes and deletes work again`,
    );
  } catch (err) {
    throw explain(err, where);
  }
}

function describe(mode: RegistryMode): string {
  return mode === 'read-only' ? 'read-only: maintenance mode is on' : 'read-write: maintenance mode is off';
}

function explain(err: unknown, where: string): unknown {
  if (err instanceof UsageError || err instanceof CliError) return err;
  const text = String(err);
  if (/region is missing/i.test(text))
    return new CliError('no AWS region: set AWS_REGION (or a profile with a region)');
  if (err instanceof Error && err.name === 'ResourceNotFoundException') {
    return new CliError(
      `${where} does not exist (check --metadata-table, the stack's MetadataTable output, and the region)`,
    );
  }
  if (err instanceof Error && err.name === 'Error') return new CliError(err.message);
  if (err instanceof Error && err.name === 'UnavailableError') return new CliError(`${where}: ${err.message}`);
  return err;
}
