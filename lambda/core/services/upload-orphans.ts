import type { Clock } from '../ports/clock';
import type { ObjectLister } from '../ports/gc';
import type { BlobStore, MultipartListing } from '../ports/blob-store';
import { keys } from '../keys';

/** What the orphan pass reads and frees. */
export type OrphanStore = Pick<BlobStore, 'delete' | 'abortMultipart' | 'listMultipartUploads'> &
  Pick<ObjectLister, 'list'>;

export interface OrphanCounts {
  /** Multipart uploads and staged objects that no session named any more. */
  orphans: number;
  objects: number;
  multipartAborted: number;
  bytes: number;
}

/**
 * Upload leftovers that no session names any more: a crash between removing a session and freeing
 * what it held (a killed function, a lost connection to S3) leaves multipart uploads under
 * `blobs/assembled/` and staged chunks under `uploads/` that the session sweep can never find, since
 * it walks sessions. This pass walks the bucket instead: whatever belongs to a session id that has no
 * session, and is older than `graceSeconds` (so that no request still writing for a session being
 * created or finished is raced), is aborted or deleted. Only incomplete multipart uploads are
 * aborted; objects under `blobs/` are the blobs themselves and stay.
 */
export async function sweepOrphans(
  store: OrphanStore,
  sessionExists: (id: string) => Promise<boolean>,
  clock: Clock,
  options: { graceSeconds: number; dryRun?: boolean; stopped?: () => boolean },
): Promise<OrphanCounts & { complete: boolean }> {
  const counts = { orphans: 0, objects: 0, multipartAborted: 0, bytes: 0 };
  const before = clock.now() - options.graceSeconds * 1000;
  const known = new Map<string, boolean>();
  const orphaned = async (id: string | undefined): Promise<boolean> => {
    if (!id) return false;
    let exists = known.get(id);
    if (exists === undefined) {
      exists = await sessionExists(id);
      known.set(id, exists);
    }
    return !exists;
  };
  for await (const upload of store.listMultipartUploads(keys.assembledPrefix)) {
    if (options.stopped?.()) return { ...counts, complete: false };
    if (upload.initiated > before || !(await orphaned(sessionOfAssembled(upload)))) continue;
    counts.orphans += 1;
    counts.multipartAborted += 1;
    if (!options.dryRun) await store.abortMultipart(upload.key, upload.multipartId);
  }
  const staged: string[] = [];
  for await (const object of store.list(keys.stagingPrefix)) {
    if (options.stopped?.()) return { ...counts, complete: false };
    const id = object.key.slice(keys.stagingPrefix.length).split('/')[0];
    if (object.lastModified > before || !(await orphaned(id))) continue;
    counts.orphans += 1;
    counts.objects += 1;
    counts.bytes += object.size;
    staged.push(object.key);
  }
  if (!options.dryRun && staged.length > 0) await store.delete(staged);
  return { ...counts, complete: true };
}

/** `blobs/assembled/<session id>-<nonce>`: the session id is all but the last dash-separated part. */
function sessionOfAssembled(upload: MultipartListing): string | undefined {
  const name = upload.key.slice(keys.assembledPrefix.length);
  const dash = name.lastIndexOf('-');
  return dash > 0 ? name.slice(0, dash) : undefined;
}
