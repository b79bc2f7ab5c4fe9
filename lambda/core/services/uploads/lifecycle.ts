import { BlobUploadUnknownError, ConcurrentModificationError, RangeInvalidError } from '../../errors';
import { keys } from '../../keys';
import type { BlobRecord, MultipartUpload, UploadSession, UploadSessionBase } from '../../ports/metadata';
import { heldBy } from './held-storage';
import type { UploadContext } from './types';

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * What every kind of session goes through: being looked up, changed conditionally, closed once its
 * blob is recorded, or destroyed with everything it holds.
 */
export class SessionLifecycle {
  constructor(private readonly ctx: UploadContext) {}

  /**
   * The open session `id` of repository `name`.
   * @throws BlobUploadUnknownError when there is none, it belongs to another repository, or it expired.
   */
  async status(name: string, id: string): Promise<UploadSession> {
    if (!UPLOAD_ID.test(id)) throw new BlobUploadUnknownError(`upload ${id} is unknown`);
    const session = await this.ctx.sessions.get(id);
    if (!session || session.name !== name || session.expiresAt * 1000 <= this.ctx.clock.now()) {
      throw new BlobUploadUnknownError(`upload ${id} is unknown or has expired`);
    }
    return session;
  }

  /** When a session written at `nowMs` (by default now) expires, in epoch seconds. */
  expiry(nowMs = this.ctx.clock.now()): number {
    return Math.floor(nowMs / 1000) + this.ctx.options.sessionTtlSeconds;
  }

  /**
   * Commits a session change on condition that nothing changed it since `expectedVersion`; a lost
   * race runs `undo` (to remove what the request wrote) and is a 416 with the session's `Range`.
   * @throws RangeInvalidError when another request changed the session first.
   */
  async save(next: UploadSession, expectedVersion: number, undo?: () => Promise<void>): Promise<void> {
    try {
      await this.ctx.sessions.update(next, expectedVersion);
    } catch (err) {
      if (!(err instanceof ConcurrentModificationError)) throw err;
      await undo?.();
      const current = await this.status(next.name, next.id);
      throw new RangeInvalidError('another request changed this upload first', next.id, next.name, current.size);
    }
  }

  /**
   * Links the blob (stored once per digest) into the session's repository and closes the session.
   * `store` writes the verified bytes when no object exists for the digest yet. `known` is the blob's
   * record (null: none) when the caller looked it up already.
   */
  async commit(
    session: UploadSession,
    digest: string,
    store: () => Promise<BlobRecord>,
    known?: BlobRecord | null,
  ): Promise<BlobRecord> {
    let record = known === undefined ? await this.ctx.blobs.getBlob(digest) : known;
    const stored = !record;
    if (record) {
      // A direct session's object may be the blob already (a retry after a link that failed): keep it.
      const { key } = record;
      const held = heldBy(session);
      await this.discard(
        held.objects.map((o) => o.key).filter((k) => k !== key),
        held.multipart,
      );
    } else {
      record = await store();
    }
    await this.ctx.blobs.putLink(session.name, record);
    await this.ctx.sessions.delete(session.id);
    // Only now, with the session closed, are its staged chunks no longer needed by a retry. A failure
    // here costs nothing but storage: the upload sweeper frees what no session names.
    const staged = heldBy(session)
      .objects.map((o) => o.key)
      .filter((k) => k !== record.key && k.startsWith(keys.stagingPrefix));
    if (stored && staged.length > 0) await this.ctx.store.delete(staged).catch(() => undefined);
    return record;
  }

  /** Records a stored object as the blob of `digest`, unless another object won that digest first. */
  async record(digest: string, size: number, key: string): Promise<BlobRecord> {
    const record = await this.ctx.blobs.putBlobIfAbsent({ digest, size, key });
    // The loser of a race to store the same digest drops its copy: an assembled one at once (uploads
    // may delete there); one written under the digest is left to garbage collection, because no
    // upload may delete under `blobs/<algorithm>/`, where every stored blob lives.
    if (record.key !== key && key.startsWith(keys.assembledPrefix)) await this.ctx.store.delete([key]);
    return record;
  }

  /** Removes the session and frees everything it holds. */
  async destroy(session: UploadSession): Promise<void> {
    if (session.kind === 'direct') {
      // A direct session's assembled object becomes the blob once verified: free it only if nothing
      // changed the session since it was read (a request finishing it saves it first).
      const gone = await this.ctx.sessions.deleteIfUnchanged(session.id, session.version);
      if (gone) await this.free(gone);
      return;
    }
    await this.free(session);
    await this.ctx.sessions.delete(session.id);
  }

  /** Aborts `multipart` (freeing its parts) and deletes `objects`. */
  async discard(objects: readonly string[], multipart: MultipartUpload | undefined): Promise<void> {
    if (multipart) await this.ctx.store.abortMultipart(multipart.key, multipart.id);
    await this.ctx.store.delete(objects);
  }

  private async free(session: UploadSession): Promise<void> {
    const held = heldBy(session);
    await this.discard(
      held.objects.map((o) => o.key),
      held.multipart,
    );
  }
}

/** The fields a session keeps whatever it turns into. */
export function baseOf(session: UploadSessionBase): Pick<UploadSessionBase, 'id' | 'name' | 'createdAt'> {
  return { id: session.id, name: session.name, createdAt: session.createdAt };
}
