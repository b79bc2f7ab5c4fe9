import type { ModeStore, RegistryMode } from '../../core/ports/mode';

/** The mode in memory (tests): read-write until written; `fail` makes reads throw it. */
export class MemoryModeStore implements ModeStore {
  mode: RegistryMode = 'read-write';
  /** When set, `read` throws this (a store that is down). */
  fail?: Error;
  /** Reads so far, to check what the cache saves. */
  reads = 0;

  async read(): Promise<RegistryMode> {
    this.reads++;
    if (this.fail) throw this.fail;
    return this.mode;
  }

  async write(mode: RegistryMode): Promise<void> {
    this.mode = mode;
  }
}
