import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Bytes gathered before they go to disk in one `writev`: few system calls and thread-pool trips. */
const BATCH_BYTES = 8 * 1024 * 1024;
/** At most this many pieces in one `writev` (well below the system's limit on one call). */
const BATCH_PIECES = 512;

/**
 * A blob kept on disk while the client sends it, in a directory of its own: the pieces are written in
 * batches, one batch on its way to disk while the next gathers, so receiving seldom waits for it.
 */
export class Spool {
  private batch: Uint8Array[] = [];
  private batchSize = 0;
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(
    /** The file the blob is in. */
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(dir: string): Promise<Spool> {
    const path = join(await mkdtemp(join(dir, 'push-helper-')), 'blob');
    return new Spool(path, await open(path, 'w'));
  }

  /** Keeps `piece` (which must not change afterwards); waits only while the previous batch is being written. */
  async append(piece: Uint8Array): Promise<void> {
    this.batch.push(piece);
    this.batchSize += piece.length;
    if (this.batchSize >= BATCH_BYTES || this.batch.length >= BATCH_PIECES) await this.flush();
  }

  /** Writes what is left and closes the file; the blob is then all in `path`. */
  async close(): Promise<void> {
    await this.flush();
    await this.writing;
    await this.handle.close();
  }

  /** Removes the file and its directory, whatever state they are in. */
  async remove(): Promise<void> {
    await this.writing.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    await rm(dirname(this.path), { recursive: true, force: true });
  }

  private async flush(): Promise<void> {
    await this.writing;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchSize = 0;
    this.writing = this.handle.writev(batch);
    // Its failure is thrown by the next call that waits for it, not as an unhandled rejection now.
    this.writing.catch(() => undefined);
  }
}
