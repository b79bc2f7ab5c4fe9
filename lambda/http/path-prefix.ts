import type { HttpResponse } from './response';

/**
 * A response as clients behind a path prefix must see it: the registry's own paths in `Location`
 * (upload sessions, pushed blobs and manifests) and in pagination `Link` headers get the prefix the
 * reverse proxy (or API mapping) strips from requests. Absolute URLs (presigned S3 redirects) are
 * left alone; without a prefix the response is returned as it is.
 */
export function withPathPrefix(response: HttpResponse, prefix: string | undefined): HttpResponse {
  const headers = response.headers;
  if (!prefix || !headers) return response;
  const location = headers.Location;
  const link = headers.Link;
  const changed = { ...headers };
  if (typeof location === 'string' && location.startsWith('/')) changed.Location = `${prefix}${location}`;
  if (typeof link === 'string') changed.Link = link.replace(/<\//g, `<${prefix}/`);
  return { ...response, headers: changed };
}
