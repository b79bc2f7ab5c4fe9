/**
 * The registry's operating mode: `read-write`, or `read-only` for maintenance, when every write
 * (uploads, manifest PUT, deletes) is refused with 503 and reads keep working. Kept outside the
 * code so an operator switches it without a deployment: an item of the metadata table, a file in the
 * data directory in local mode.
 */
export type RegistryMode = 'read-write' | 'read-only';

export const REGISTRY_MODES: readonly RegistryMode[] = ['read-write', 'read-only'];

export function isRegistryMode(value: unknown): value is RegistryMode {
  return (REGISTRY_MODES as readonly unknown[]).includes(value);
}

/** Where the mode is kept. */
export interface ModeStore {
  /**
   * The mode as stored now. Throws UnavailableError when the store is busy or does not answer in
   * time, and an Error naming the problem when the mode cannot be read (no such table, a value
   * that is no mode).
   */
  read(): Promise<RegistryMode>;
  /**
   * Stores the mode. Never creates the store itself where there was none to begin with, as that
   * would hide a typo (a metadata table that does not exist is an error).
   */
  write(mode: RegistryMode): Promise<void>;
}
