import { UnavailableError } from '../errors';
import type { Clock } from '../ports/clock';
import type { ModeStore, RegistryMode } from '../ports/mode';

export interface ModeServiceOptions {
  /**
   * How long a mode read from the store is used before it is read again: a switch takes effect
   * within this time, and each instance reads the store at most once per period.
   * @default 30_000
   */
  readonly cacheMs?: number;
  /** `Retry-After` of refused writes. @default 60 */
  readonly retryAfterSeconds?: number;
}

/** The mode in force, and why the store could not be read when it could not. */
export interface ModeReading {
  readonly mode: RegistryMode;
  /** Set when this reading is the last known mode (or read-write) because the store failed. */
  readonly storeError?: unknown;
}

export const DEFAULT_MODE_CACHE_MS = 30_000;

/**
 * The registry's mode, as one execution environment sees it: read from the store lazily, on the
 * first write after the cache expired, so reads never wait for it and an environment that serves
 * only pulls never reads the store at all. Concurrent requests share one store read.
 *
 * A store that fails (throttled, unreachable, deleted parameter) does not stop the registry: the
 * last known mode stays in force, read-write when none is known, and the failure is retried after
 * the cache period, not on every request.
 */
export class ModeService {
  private cached?: { readonly mode: RegistryMode; readonly until: number };
  private inflight?: Promise<ModeReading>;
  private readonly cacheMs: number;
  private readonly retryAfterSeconds: number;

  constructor(
    private readonly store: ModeStore,
    private readonly clock: Clock,
    options: ModeServiceOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? DEFAULT_MODE_CACHE_MS;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 60;
  }

  /** The mode in force; see the class comment for what happens when the store fails. */
  async current(): Promise<ModeReading> {
    const cached = this.cached;
    if (cached && this.clock.now() < cached.until) return { mode: cached.mode };
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * Resolves when writes are allowed; throws UnavailableError (503 UNAVAILABLE with Retry-After)
   * in read-only mode. The reading is returned so the caller can log a store failure.
   */
  async assertWritable(): Promise<ModeReading> {
    const reading = await this.current();
    if (reading.mode === 'read-only') {
      throw new UnavailableError(
        'the registry is in maintenance (read-only) mode: pushes and deletes are refused until it ends; pulls still work',
        this.retryAfterSeconds,
      );
    }
    return reading;
  }

  private async refresh(): Promise<ModeReading> {
    try {
      const mode = await this.store.read();
      this.cached = { mode, until: this.clock.now() + this.cacheMs };
      return { mode };
    } catch (storeError) {
      const mode = this.cached?.mode ?? 'read-write';
      this.cached = { mode, until: this.clock.now() + this.cacheMs };
      return { mode, storeError };
    }
  }
}
