import { version } from '../../package.json';
import { UnsupportedError } from '../core/errors';
import type { RegistryRequest } from './request';
import type { BaseServices } from './services';
import { json, type HttpResponse } from './response';

/** The registry metadata document's path: the root of the registry's host. */
export const ROOT_PATH = '/';

/**
 * `GET /` (and HEAD): a JSON document saying what this host is, for people and tools that land on
 * it: the registry's software and version, where its OCI Distribution API is (`/v2/`, relative to
 * this document, so it holds behind a reverse proxy too), which version of the distribution spec it
 * speaks, and the upstream registries it mirrors (the pull-through cache's rules,
 * docs/pull-through-cache.md: which of our repositories each serves, from which upstream, and what
 * it may fetch; never its credentials). No credentials are asked: nothing in it is about the
 * registry's contents.
 */
export function rootEndpoint(req: RegistryRequest, services: Pick<BaseServices, 'mirrors'> = {}): HttpResponse {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new UnsupportedError(`${req.method} is not supported here; allowed: GET, HEAD`, ['GET', 'HEAD']);
  }
  return json(
    200,
    {
      registry: 'serverless-oci-registry',
      version,
      api: { 'oci-distribution': { url: 'v2/', version: 'v1.1' } },
      mirrors: services.mirrors ?? [],
    },
    { 'Cache-Control': 'no-cache' },
  );
}
