/**
 * Parses OCI Distribution paths. The function behind a route re-parses the raw path itself, because
 * API Gateway's per-depth routes only narrow down which function gets the request.
 */

export type OciRoute =
  | { readonly kind: 'base' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: string }
  | { readonly kind: 'upload-start'; readonly name: string }
  | { readonly kind: 'upload'; readonly name: string; readonly id: string }
  | { readonly kind: 'manifest'; readonly name: string; readonly reference: string }
  | { readonly kind: 'tags'; readonly name: string }
  | { readonly kind: 'referrers'; readonly name: string; readonly digest: string };

const ROUTE =
  /^\/v2\/(.+?)\/(?:blobs\/uploads\/?([^/]*)|blobs\/([^/]+)|manifests\/([^/]+)|tags\/list|referrers\/([^/]+))$/;

/**
 * Maps a raw (still percent-encoded) path to a route, or undefined when it is not an OCI endpoint.
 * Names are matched non-greedily: the first `/blobs/`, `/manifests/`, … ends the name, as in the
 * reference registry. Nothing is percent-decoded, so an encoded `/` can never smuggle a name segment.
 */
export function parseOciPath(rawPath: string): OciRoute | undefined {
  if (rawPath === '/v2' || rawPath === '/v2/') return { kind: 'base' };
  if (rawPath === '/v2/_catalog') return { kind: 'catalog' };
  const m = ROUTE.exec(rawPath);
  if (!m) return undefined;
  const name = m[1] as string;
  const [, , uploadId, blobDigest, reference, referrersDigest] = m;
  if (uploadId !== undefined)
    return uploadId === '' ? { kind: 'upload-start', name } : { kind: 'upload', name, id: uploadId };
  if (blobDigest !== undefined) return { kind: 'blob', name, digest: blobDigest };
  if (reference !== undefined) return { kind: 'manifest', name, reference };
  if (referrersDigest !== undefined) return { kind: 'referrers', name, digest: referrersDigest };
  return { kind: 'tags', name };
}
