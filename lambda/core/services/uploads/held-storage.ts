import type { MultipartUpload, StoredObject, UploadSession } from '../../ports/metadata';

/** What a session holds in the blob store, and so what removing it must free. */
export interface HeldStorage {
  /** The multipart upload to abort, which frees every part. */
  readonly multipart?: MultipartUpload;
  /** Objects to delete: staged chunks, or a direct session's assembled object. */
  readonly objects: readonly StoredObject[];
  /** Bytes all of it holds. */
  readonly bytes: number;
}

/** What `session` holds in the blob store, in whatever kind and phase it is. */
export function heldBy(session: UploadSession): HeldStorage {
  if (session.kind === 'chunked') {
    const { multipart, tail } = session;
    if (!multipart) return { objects: tail, bytes: sizeOf(tail) };
    return { multipart, objects: tail, bytes: multipart.parts.size + sizeOf(tail) };
  }
  if (session.phase === 'receiving') return { multipart: session.multipart, objects: [], bytes: 0 };
  return { objects: [session.object], bytes: session.object.size };
}

function sizeOf(items: readonly { readonly size: number }[]): number {
  return items.reduce((sum, item) => sum + item.size, 0);
}
