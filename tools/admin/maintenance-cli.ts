import { resolve } from 'node:path';
import { DEFAULT_MODE_CACHE_MS } from '../../lambda/core/services/mode-service';
import type { ModeStore, RegistryMode } from '../../lambda/core/ports/mode';
import { CliError, readLocalEndpoints, UsageError, type CliValues } from './cli-support';
import { defaultDataDir } from '../local/endpoints-file';
import { LOCAL_CREDENTIALS } from '../local/emulators';

/**
 * The admin CLI's `maintenance on|off|status` (declared in admin-cli.ts, loaded only when it runs):
 * the registry's mode in local mode's data directory (`--local`) or in a deployed stack's SSM
 * parameter (`--parameter`, the stack's `ModeParameter` output).
 */

export type MaintenanceAction = 'on' | 'off' | 'status';

interface ModeTarget {
  readonly store: ModeStore;
  /** For messages: `the local registry's data directory …`, `SSM parameter …`. */
  readonly where: string;
}

const str = (value: string | boolean | undefined) => (typeof value === 'string' ? value : undefined);

/** `--local [--data-dir]` or `--parameter` (admin-cli.ts checked the combination before loading this). */
function modeTargetOptions(
  values: CliValues,
  env: NodeJS.ProcessEnv,
): { kind: 'local'; dataDir: string } | { kind: 'parameter'; parameter: string } {
  if (values.local) return { kind: 'local', dataDir: String(values['data-dir'] ?? defaultDataDir()) };
  const name = str(values.parameter) ?? env.REGISTRY_MODE_PARAMETER;
  if (!name) throw new UsageError("which registry? --local or --parameter <the stack's ModeParameter output>");
  return { kind: 'parameter', parameter: name };
}

async function openModeTarget(values: CliValues, env = process.env): Promise<ModeTarget> {
  const target = modeTargetOptions(values, env);
  if (target.kind === 'local') {
    // The synthesized stack keeps its mode in the template's SSM parameter, behind its local endpoint.
    const endpoints = await readLocalEndpoints(target.dataDir).catch(() => undefined);
    if (endpoints?.awsEndpoint && endpoints.modeParameter) {
      const { ssmModeStore } = await import('../../lambda/adapters/ssm/ssm-mode-store');
      return {
        store: ssmModeStore(
          endpoints.modeParameter,
          { readTimeoutMs: 10_000 },
          {
            endpoint: endpoints.awsEndpoint,
            region: endpoints.region,
            credentials: LOCAL_CREDENTIALS,
          },
        ),
        where: `local mode, SSM parameter ${endpoints.modeParameter}`,
      };
    }
    const { FileModeStore } = await import('../../lambda/adapters/modefile/file-mode-store');
    const store = new FileModeStore(resolve(target.dataDir));
    return { store, where: `local mode, file ${store.path}` };
  }
  const { ssmModeStore } = await import('../../lambda/adapters/ssm/ssm-mode-store');
  // An operator waits a little longer than a push would.
  return {
    store: ssmModeStore(target.parameter, { readTimeoutMs: 10_000 }),
    where: `SSM parameter ${target.parameter}`,
  };
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
  if (err instanceof Error && err.name === 'Error') return new CliError(err.message);
  if (err instanceof Error && err.name === 'UnavailableError') return new CliError(`${where}: ${err.message}`);
  return err;
}
