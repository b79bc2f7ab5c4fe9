/**
 * The blob store's key layout. Blobs written in one request live at their digest; blobs assembled
 * from parts live at their upload session's key, because a multipart upload must name its key before
 * the digest is known and S3 cannot rename. The blob index maps each digest to its one object.
 */
export const keys = {
  blob: (digest: string): string => `blobs/${digest.replace(':', '/')}`,
  assembled: (uploadId: string, nonce: string): string => `blobs/assembled/${uploadId}-${nonce}`,
  manifest: (digest: string): string => `manifests/${digest.replace(':', '/')}`,
  /** Staged chunk bytes; the bucket's lifecycle rule expires this prefix. */
  staged: (uploadId: string, offset: number, nonce: string): string => `uploads/${uploadId}/${offset}-${nonce}`,
  stagingPrefix: 'uploads/',
} as const;
