import type { BlobStore } from '../ports/blob-store';
import type { Clock } from '../ports/clock';
import type { ExpiredUploadSessions, ExpiringUpload, UploadSession } from '../ports/metadata';
import type { ObjectLister } from '../ports/gc';
import { sweepOrphans } from './upload-orphans';
import { heldBy } from './uploads/held-storage';

export interface UploadSweeperOptions {
  /**
   * Seconds past `expiresAt` before a session is swept. The registry treats a session as unknown
   * from `expiresAt` on, but a request that passed that check just before may still be writing; the
   * grace lets it finish (functions stop after 30 s; the uploader streams for minutes).
   * @default 900
   */
  readonly graceSeconds?: number;
  /** Sessions listed per page. @default 100 */
  readonly pageSize?: number;
  /** Sessions freed at once. @default 8 */
  readonly concurrency?: number;
  /**
   * Seconds a multipart upload or staged object no session names must be old before it goes
   * (`uploads purge --older-than` uses its own age instead).
   * @default 3600
   */
  readonly orphanGraceSeconds?: number;
}

export interface SweepOptions {
  /** Only count what a sweep would remove; nothing is changed. */
  readonly dryRun?: boolean;
  /** Most sessions to remove (or count) in this run; the next run goes on. @default no limit */
  readonly limit?: number;
  /**
   * Also remove sessions opened at least this many seconds ago, expired or not (the admin CLI's
   * `uploads purge --older-than`). Lists every open session, not only expired ones.
   */
  readonly olderThanSeconds?: number;
  /** Epoch milliseconds after which no further session is started (a Lambda's remaining time). */
  readonly deadline?: number;
}

export interface SweepResult {
  /** Sessions removed (or, in a dry run, that would be). */
  sessions: number;
  /** Staged objects deleted (`uploads/…`). */
  objects: number;
  /** Multipart uploads aborted, with all their parts. */
  multipartAborted: number;
  /** Bytes those objects and parts held. */
  bytes: number;
  /** Listed sessions a request changed since (extended): left alone. */
  skipped: number;
  /** Sessions removed whose bytes could not all be freed; the bucket's lifecycle rules will. */
  failed: number;
  /** The first few failures, for the log. */
  errors: string[];
  /** False when `limit` or `deadline` stopped the run before every dead session was seen. */
  complete: boolean;
  /**
   * Multipart uploads and staged objects that no session named any more (a crash between removing
   * a session and freeing its bytes); also counted in `objects`, `multipartAborted` and `bytes`.
   */
  orphans: number;
}

/** Called after every session, with the totals so far. */
export type SweepProgress = (totals: Readonly<SweepResult>) => void | Promise<void>;

const DEFAULTS = { graceSeconds: 900, pageSize: 100, concurrency: 8, orphanGraceSeconds: 3600 } as const;
const MAX_ERRORS = 5;

/**
 * Removes upload sessions that clients abandoned, and everything they hold: the multipart upload
 * (aborted, which frees its parts) and the staged chunks under `uploads/`. DynamoDB's TTL deletes
 * session items only lazily and frees nothing in S3; the bucket's lifecycle rules remain the
 * backstop for anything a sweep misses (docs/storage.md, "Upload expiry").
 *
 * The session item goes first, on condition that its version is still the one listed: a request
 * that extended the session meanwhile wins and the session is left alone, and once the item is gone
 * no request can commit to it, so freeing its bytes cannot take them from a live upload. Sweeping
 * twice is harmless: a removed session is no longer listed, and objects already gone are not an error.
 */
export class UploadSweeper {
  private readonly options: Required<UploadSweeperOptions>;

  constructor(
    private readonly store: BlobStore & Pick<ObjectLister, 'list'>,
    private readonly sessions: ExpiredUploadSessions,
    private readonly clock: Clock,
    options: UploadSweeperOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  async sweep(options: SweepOptions = {}, onProgress?: SweepProgress): Promise<SweepResult> {
    const totals: SweepResult = {
      sessions: 0,
      objects: 0,
      multipartAborted: 0,
      bytes: 0,
      skipped: 0,
      failed: 0,
      errors: [],
      complete: true,
      orphans: 0,
    };
    const nowMs = this.clock.now();
    const cutoff = Math.floor(nowMs / 1000) - this.options.graceSeconds;
    const openedBefore = options.olderThanSeconds !== undefined ? nowMs - options.olderThanSeconds * 1000 : undefined;
    const dead = (u: Pick<ExpiringUpload, 'expiresAt' | 'createdAt'>) =>
      u.expiresAt <= cutoff || (openedBefore !== undefined && u.createdAt <= openedBefore);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    let seen = 0;
    const stopped = () => seen >= limit || (options.deadline !== undefined && this.clock.now() >= options.deadline);
    let cursor: string | undefined;
    do {
      if (stopped()) {
        totals.complete = false;
        break;
      }
      const page = await this.sessions.listExpired(
        openedBefore !== undefined ? Number.MAX_SAFE_INTEGER : cutoff,
        this.options.pageSize,
        cursor,
      );
      const due = page.items.filter(dead);
      await forEach(due, this.options.concurrency, async (listed) => {
        if (stopped()) {
          totals.complete = false;
          return;
        }
        seen += 1;
        await (options.dryRun ? this.count(listed, dead, totals) : this.remove(listed, totals));
        await onProgress?.({ ...totals, errors: [...totals.errors] });
      });
      cursor = page.cursor;
    } while (cursor !== undefined);
    if (totals.complete) await this.sweepOrphans(options, stopped, totals);
    return totals;
  }

  /** What no session names any more, once every session was seen (./upload-orphans). */
  private async sweepOrphans(options: SweepOptions, stopped: () => boolean, totals: SweepResult): Promise<void> {
    try {
      const found = await sweepOrphans(
        this.store,
        async (id) => (await this.sessions.get(id)) !== undefined,
        this.clock,
        {
          graceSeconds: options.olderThanSeconds ?? this.options.orphanGraceSeconds,
          ...(options.dryRun ? { dryRun: true } : {}),
          stopped,
        },
      );
      totals.orphans += found.orphans;
      totals.objects += found.objects;
      totals.multipartAborted += found.multipartAborted;
      totals.bytes += found.bytes;
      if (!found.complete) totals.complete = false;
    } catch (err) {
      this.fail(totals, 'leftovers', err);
    }
  }

  /** Dry run: what removing `listed` would free, read strongly consistently. */
  private async count(listed: ExpiringUpload, dead: (u: UploadSession) => boolean, totals: SweepResult): Promise<void> {
    const session = await this.sessions.get(listed.id);
    if (!session || !dead(session)) {
      totals.skipped += 1;
      return;
    }
    this.add(totals, session);
  }

  private async remove(listed: ExpiringUpload, totals: SweepResult): Promise<void> {
    let session: UploadSession | undefined;
    try {
      session = await this.sessions.deleteIfUnchanged(listed.id, listed.version);
    } catch (err) {
      // Nothing was removed: the next sweep tries again.
      this.fail(totals, listed.id, err);
      return;
    }
    if (!session) {
      totals.skipped += 1;
      return;
    }
    const held = heldBy(session);
    try {
      if (held.multipart) await this.store.abortMultipart(held.multipart.key, held.multipart.id);
      await this.store.delete(held.objects.map((o) => o.key));
    } catch (err) {
      totals.sessions += 1;
      this.fail(totals, listed.id, err);
      return;
    }
    this.add(totals, session);
  }

  private add(totals: SweepResult, session: UploadSession): void {
    const held = heldBy(session);
    totals.sessions += 1;
    totals.objects += held.objects.length;
    if (held.multipart) totals.multipartAborted += 1;
    totals.bytes += held.bytes;
  }

  private fail(totals: SweepResult, id: string, err: unknown): void {
    totals.failed += 1;
    if (totals.errors.length < MAX_ERRORS) totals.errors.push(`upload ${id}: ${String(err)}`);
  }
}

/** Runs `fn` over `items`, at most `concurrency` at a time, in order of start. */
async function forEach<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
