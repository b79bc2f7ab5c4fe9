import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRegistryMode, type ModeStore, type RegistryMode } from '../../core/ports/mode';

/** The file in local mode's data directory that holds the mode; absent means read-write. */
export const MODE_FILE = 'maintenance-mode';

/**
 * `npm run dev`'s stand-in for the mode item of the metadata table: a file `maintenance-mode` in the
 * data directory holding `read-write` or `read-only`. No file is read-write, so a fresh data
 * directory serves writes. The admin CLI's `maintenance on|off --local` writes it (when no local
 * stack runs there); editing it by hand works too.
 */
export class FileModeStore implements ModeStore {
  constructor(private readonly dir: string) {}

  get path(): string {
    return join(this.dir, MODE_FILE);
  }

  async read(): Promise<RegistryMode> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'read-write';
      throw err;
    }
    const value = text.trim();
    if (!isRegistryMode(value)) throw new Error(`${this.path} holds "${value}", not read-write or read-only`);
    return value;
  }

  async write(mode: RegistryMode): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Written aside and renamed, so a reader never sees half a word.
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${mode}\n`);
    await rename(tmp, this.path);
  }
}
