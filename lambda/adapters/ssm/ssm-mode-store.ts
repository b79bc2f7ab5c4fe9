import { GetParameterCommand, PutParameterCommand, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { UnavailableError } from '../../core/errors';
import { isRegistryMode, type ModeStore, type RegistryMode } from '../../core/ports/mode';

const BUSY = new Set(['ThrottlingException', 'TooManyUpdates', 'InternalServerError']);

export interface SsmModeStoreOptions {
  /**
   * Deadline of one read, retries included: a slow SSM must not hold a push for long (the mode
   * service then keeps the last known mode).
   * @default 1000
   */
  readonly readTimeoutMs?: number;
}

/**
 * The mode in an SSM String parameter (`read-write` | `read-only`) that the stack creates with an
 * allowed pattern, so SSM itself refuses any other value. Reading needs `ssm:GetParameter` on that
 * parameter only. Standard parameters cost nothing to read at standard throughput.
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-throughput.html
 */
export class SsmModeStore implements ModeStore {
  private readonly readTimeoutMs: number;

  constructor(
    private readonly client: SSMClient,
    private readonly parameter: string,
    options: SsmModeStoreOptions = {},
  ) {
    this.readTimeoutMs = options.readTimeoutMs ?? 1000;
  }

  async read(): Promise<RegistryMode> {
    const out = await this.call(() =>
      this.client.send(new GetParameterCommand({ Name: this.parameter }), {
        abortSignal: AbortSignal.timeout(this.readTimeoutMs),
      }),
    );
    const value = out.Parameter?.Value;
    if (!isRegistryMode(value)) {
      throw new Error(`SSM parameter ${this.parameter} holds "${value ?? ''}", not read-write or read-only`);
    }
    return value;
  }

  async write(mode: RegistryMode): Promise<void> {
    // Never creates the parameter: a mistyped name must be an error, not a new parameter nobody
    // reads. Reading first says so by name (SSM itself also refuses a new parameter without a Type).
    await this.read();
    await this.call(() =>
      this.client.send(new PutParameterCommand({ Name: this.parameter, Value: mode, Overwrite: true })),
    );
  }

  /** Translates SSM's errors: a missing parameter is named, a busy or slow SSM is UnavailableError. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const name = err instanceof Error ? err.name : '';
      if (name === 'ParameterNotFound') {
        throw new Error(`SSM parameter ${this.parameter} does not exist (check its name and the region)`);
      }
      if (name === 'AbortError' || name === 'TimeoutError') {
        throw new UnavailableError('the mode parameter did not answer in time', 1);
      }
      if (err instanceof SSMServiceException && BUSY.has(err.name)) {
        throw new UnavailableError('the mode parameter is busy; retry shortly', 1);
      }
      throw err;
    }
  }
}

/** The mode parameter through a client configured from the environment (region, credentials). */
export function ssmModeStore(
  parameter: string,
  options?: SsmModeStoreOptions,
  client: ConstructorParameters<typeof SSMClient>[0] = {},
): SsmModeStore {
  return new SsmModeStore(new SSMClient(client), parameter, options);
}
