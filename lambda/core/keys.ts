/**
 * The blob store's key layout. Blobs written in one request live under their digest; blobs assembled
 * from parts live at their upload session's key, because a multipart upload must name its key before
 * the digest is known and S3 cannot rename. The blob index maps each digest to its one object.
 *
 * Every object written gets a key no earlier write used (the nonce): garbage collection removes
 * objects nothing references, and a new write can then never land on a key it is about to delete.
 */
export const keys = {
  blob: (digest: string, nonce: string): string => `blobs/${digest.replace(':', '/')}/${nonce}`,
  assembled: (uploadId: string, nonce: string): string => `blobs/assembled/${uploadId}-${nonce}`,
  assembledPrefix: 'blobs/assembled/',
  manifest: (digest: string, nonce: string): string => `manifests/${digest.replace(':', '/')}/${nonce}`,
  /** Staged chunk bytes; the bucket's lifecycle rule expires this prefix. */
  staged: (uploadId: string, offset: number, nonce: string): string => `uploads/${uploadId}/${offset}-${nonce}`,
  stagingPrefix: 'uploads/',
} as const;
