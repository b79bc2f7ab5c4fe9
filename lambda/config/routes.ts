/**
 * The API's route table, shared by the CDK stack (which creates these HTTP API routes) and local
 * mode (which dispatches to handlers the same way API Gateway does). Kept free of imports so `lib/`
 * may use it.
 *
 * API Gateway path variables match one segment and a greedy variable must come last, but repository
 * names contain `/`. So each route exists once per name depth, up to `maxNameDepth`; anything else
 * falls to `$default` (the base function), which answers NAME_INVALID for deeper names.
 */

/**
 * The Lambda functions, one per endpoint group. Blob reads and uploads share the `blobs` function
 * because they share a path prefix that only a greedy route can claim without relying on how API
 * Gateway breaks ties between literal and variable segments (which it does not document).
 */
export const FUNCTION_GROUPS = ['base', 'blobs', 'manifests', 'discovery', 'token'] as const;
export type FunctionGroup = (typeof FUNCTION_GROUPS)[number];

export interface RouteSpec {
  /** HTTP API route key path, e.g. `/v2/{n1}/blobs/{digest}`; `$default` for the catch-all. */
  readonly path: string;
  readonly group: FunctionGroup;
}

/** Default deepest repository name served (segments separated by `/`). */
export const DEFAULT_MAX_NAME_DEPTH = 8;

/**
 * A path prefix the registry may be served under behind a reverse proxy (`REGISTRY_PATH_PREFIX`):
 * one or more `/segment`s of URL-safe characters, no trailing `/`.
 */
export const PATH_PREFIX = /^(\/[A-Za-z0-9._~-]+)+$/;

/** The health check's path (`GET /health`, no auth), served by the base function. */
export const HEALTH_PATH = '/health';

/** Each depth adds this many routes; HTTP APIs allow 300 routes by default. */
const ROUTES_PER_DEPTH = 4;
/** Routes that do not depend on the name depth: /v2, /v2/_catalog, $default, /token, /health. */
const FIXED_ROUTES = 5;
export const MAX_SUPPORTED_NAME_DEPTH = Math.floor((300 - FIXED_ROUTES) / ROUTES_PER_DEPTH);

export function routeTable(maxNameDepth: number = DEFAULT_MAX_NAME_DEPTH): RouteSpec[] {
  if (!Number.isInteger(maxNameDepth) || maxNameDepth < 1 || maxNameDepth > MAX_SUPPORTED_NAME_DEPTH) {
    throw new Error(`maxNameDepth must be an integer from 1 to ${MAX_SUPPORTED_NAME_DEPTH}`);
  }
  const routes: RouteSpec[] = [
    { path: '/v2', group: 'base' },
    { path: '/v2/_catalog', group: 'discovery' },
    { path: '$default', group: 'base' },
    // The token service (token auth): Docker's GET form and the OAuth2 POST form.
    { path: '/token', group: 'token' },
    // Health check for monitors (no auth). `$default` would reach base too; a route of its own
    // gives it its own line in API Gateway's per-route metrics and access logs.
    { path: HEALTH_PATH, group: 'base' },
  ];
  for (let depth = 1; depth <= maxNameDepth; depth++) {
    const name = Array.from({ length: depth }, (_, i) => `{n${i + 1}}`).join('/');
    routes.push(
      // Greedy: `<digest>`, `uploads`, `uploads/` and `uploads/<id>` alike, whatever API Gateway does
      // with trailing slashes. Deeper names' exact routes (path variables) outrank it.
      { path: `/v2/${name}/blobs/{proxy+}`, group: 'blobs' },
      { path: `/v2/${name}/manifests/{reference}`, group: 'manifests' },
      { path: `/v2/${name}/tags/list`, group: 'discovery' },
      { path: `/v2/${name}/referrers/{digest}`, group: 'discovery' },
    );
  }
  return routes;
}

/**
 * Requests the upload data path serves instead of the functions, as a CloudFront path pattern (`*`
 * matches any characters, `/` included): every upload endpoint, whose bodies may be any size.
 */
export const UPLOADER_PATH_PATTERN = '/v2/*/blobs/uploads*';

/**
 * Where a pull-through cache's large blobs are filled from the upstream and streamed to the client
 * at once (`/v2/<name>/blobs/_fill/<digest>`), served by the upload data path, which has no time
 * limit: the blobs function redirects a first pull there (docs/pull-through-cache.md). No repository
 * name component starts with `_`, so no blob or upload path matches it.
 */
export const FILL_PATH_PATTERN = '/v2/*/blobs/_fill/*';
