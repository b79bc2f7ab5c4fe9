import { createHash } from 'node:crypto';
import { METHODS, type Endpoint, type FuzzCase } from './requests';
import type { WireResponse } from './wire';

/** Status → the OCI codes a 4xx of that status may carry (an empty list: a success status). */
type Answers = Readonly<Record<number, readonly string[]>>;

/**
 * What each endpoint may answer, by method: the spec's endpoint table and error codes, plus the
 * registry's documented extensions (lambda/http/error-mapper.ts and docs/):
 * - 405 UNSUPPORTED with `Allow` for a method the endpoint does not serve;
 * - 413 SIZE_INVALID for a body over what one request carries (README, "Limits");
 * - 416 BLOB_UPLOAD_INVALID with `Range` for a chunk the session cannot place;
 * - 400 UNSUPPORTED for a malformed `n` or `last` on the catalog and tags list, and for a digest of
 *   an algorithm the registry does not implement (the spec's "missing implementation"), wherever a
 *   digest is taken;
 * - 404 UNSUPPORTED for a path that is no endpoint;
 * - 401 UNAUTHORIZED and 403 DENIED from access control (docs/access-control.md);
 * - the token service's OAuth2 errors (`{"error":…}` at 400) and its 429 lockout.
 * A name outside the grammar is NAME_INVALID wherever a name is taken.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#endpoints
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#error-codes
 */
const ANSWERS: Readonly<Record<Exclude<Endpoint, 'unknown' | 'token'>, Readonly<Record<string, Answers>>>> = {
  base: { GET: { 200: [] }, HEAD: { 200: [] } },
  catalog: { GET: { 200: [], 400: ['UNSUPPORTED'] } },
  tags: { GET: { 200: [], 400: ['UNSUPPORTED'], 404: ['NAME_UNKNOWN'] } },
  referrers: { GET: { 200: [], 400: ['DIGEST_INVALID', 'UNSUPPORTED'] } },
  blob: {
    GET: { 307: [], 400: ['DIGEST_INVALID', 'UNSUPPORTED'], 404: ['BLOB_UNKNOWN'] },
    HEAD: { 200: [], 400: ['DIGEST_INVALID', 'UNSUPPORTED'], 404: ['BLOB_UNKNOWN'] },
    DELETE: { 202: [], 400: ['DIGEST_INVALID', 'UNSUPPORTED'], 404: ['BLOB_UNKNOWN'] },
  },
  'upload-start': {
    POST: { 201: [], 202: [], 400: ['DIGEST_INVALID', 'SIZE_INVALID', 'UNSUPPORTED'] },
  },
  upload: {
    GET: { 204: [], 404: ['BLOB_UPLOAD_UNKNOWN'] },
    PATCH: {
      202: [],
      400: ['BLOB_UPLOAD_INVALID', 'SIZE_INVALID'],
      404: ['BLOB_UPLOAD_UNKNOWN'],
      416: ['BLOB_UPLOAD_INVALID'],
    },
    PUT: {
      201: [],
      400: ['DIGEST_INVALID', 'BLOB_UPLOAD_INVALID', 'SIZE_INVALID', 'UNSUPPORTED'],
      404: ['BLOB_UPLOAD_UNKNOWN'],
      416: ['BLOB_UPLOAD_INVALID'],
    },
    DELETE: { 204: [], 404: ['BLOB_UPLOAD_UNKNOWN'] },
    // The push helper's direct uploads (docs/large-uploads.md): part URLs, or verification.
    POST: {
      200: [],
      201: [],
      202: [],
      400: ['BLOB_UPLOAD_INVALID', 'DIGEST_INVALID', 'UNSUPPORTED'],
      404: ['BLOB_UPLOAD_UNKNOWN'],
    },
  },
  manifest: {
    GET: { 200: [], 400: ['DIGEST_INVALID', 'UNSUPPORTED'], 404: ['MANIFEST_UNKNOWN'] },
    HEAD: { 200: [], 400: ['DIGEST_INVALID', 'UNSUPPORTED'], 404: ['MANIFEST_UNKNOWN'] },
    PUT: { 201: [], 400: ['MANIFEST_INVALID', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'UNSUPPORTED'] },
    DELETE: { 202: [], 400: ['DIGEST_INVALID', 'UNSUPPORTED'], 404: ['MANIFEST_UNKNOWN'] },
  },
};

/** Endpoints whose path carries a repository name. */
const NAMED = new Set<Endpoint>(['tags', 'referrers', 'blob', 'upload-start', 'upload', 'manifest']);

export interface Verdict {
  /** `<status>` or `<status> <code>`, for the histogram. */
  readonly key: string;
  readonly code?: string;
  readonly problems: string[];
}

/** Merges answer tables: the codes of a status are the union. */
function merge(...tables: Answers[]): Record<number, string[]> {
  const out: Record<number, string[]> = {};
  for (const t of tables)
    for (const [s, codes] of Object.entries(t)) out[Number(s)] = [...(out[Number(s)] ?? []), ...codes];
  return out;
}

/** What a case may be answered, in the world's access mode. */
export function allowedAnswers(c: FuzzCase, mode: 'open' | 'token'): Record<number, string[]> {
  const extra: Answers[] = [];
  if (c.body && c.body.length > 4 * 1024 * 1024) extra.push({ 413: ['SIZE_INVALID'] });
  if (c.endpoint === 'token') {
    if (mode === 'open') return merge({ 404: ['UNSUPPORTED'] }, ...extra);
    if (!METHODS.token.includes(c.method)) return merge({ 405: ['UNSUPPORTED'] }, ...extra);
    return merge({ 200: [], 400: ['(oauth)'], 401: ['UNAUTHORIZED'], 429: ['TOOMANYREQUESTS'] }, ...extra);
  }
  if (c.endpoint === 'unknown') {
    // `/health` is the health check (docs/operations.md) and `/` the registry metadata document;
    // every other path here is no endpoint.
    if (c.tail === '/health' || c.tail === '/') return merge({ 200: [], 405: ['UNSUPPORTED'] }, ...extra);
    // Some of these parse as an endpoint with a name outside the grammar (`/v2///blobs/uploads/`):
    // refused for the method first, or for the name.
    const auth: Answers = mode === 'token' ? { 401: ['UNAUTHORIZED'], 403: ['DENIED'] } : {};
    return merge({ 404: ['UNSUPPORTED'], 400: ['NAME_INVALID'], 405: ['UNSUPPORTED'] }, auth, ...extra);
  }
  const methods = METHODS[c.endpoint];
  // An empty digest or reference makes the path no endpoint: `/v2/<name>/blobs/`.
  const routable = c.endpoint === 'upload-start' || c.endpoint === 'upload' || !c.tail.endsWith('/');
  if (!methods.includes(c.method)) {
    // A name that routes nowhere is refused for its name before the method is looked at.
    return merge(
      { 405: ['UNSUPPORTED'] },
      c.name && !c.name.valid ? { 400: ['NAME_INVALID'], 404: ['UNSUPPORTED'] } : {},
      routable ? {} : { 404: ['UNSUPPORTED'] },
      ...extra,
    );
  }
  const own = ANSWERS[c.endpoint][c.method] ?? {};
  if (NAMED.has(c.endpoint)) extra.push({ 400: ['NAME_INVALID'] });
  // A name outside the grammar may turn the path into no endpoint at all (`a/../b`, `%2F`).
  if (c.name && !c.name.valid) extra.push({ 404: ['UNSUPPORTED'], 405: ['UNSUPPORTED'] });
  if (!routable) extra.push({ 404: ['UNSUPPORTED'] });
  if (mode === 'token') extra.push({ 401: ['UNAUTHORIZED'], 403: ['DENIED'] });
  return merge(own, ...extra);
}

/**
 * Judges one answer: never a 5xx; a status the endpoint may answer; a 4xx with an OCI error body
 * whose code fits (HEAD: status only); the headers the spec ties to the status.
 */
export function judge(c: FuzzCase, res: WireResponse, mode: 'open' | 'token'): Verdict {
  const problems: string[] = [];
  const allowed = allowedAnswers(c, mode);
  let code: string | undefined;
  if (res.status >= 500) problems.push(`${res.status} from the server`);
  if (res.status >= 400 && res.status < 500 && c.method !== 'HEAD') {
    const text = res.body.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      problems.push(`4xx body is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
    }
    const oauth = parsed as { error?: unknown; error_description?: unknown } | undefined;
    const oci = parsed as { errors?: { code?: unknown; message?: unknown }[] } | undefined;
    if (c.endpoint === 'token' && res.status === 400 && typeof oauth?.error === 'string') {
      code = '(oauth)';
    } else if (parsed !== undefined) {
      const first = Array.isArray(oci?.errors) ? oci.errors[0] : undefined;
      if (!first || typeof first.code !== 'string' || typeof first.message !== 'string') {
        problems.push(`4xx body is no OCI error: ${JSON.stringify(text.slice(0, 120))}`);
      } else {
        code = first.code;
      }
    }
  }
  const codes = allowed[res.status];
  if (codes === undefined) {
    problems.push(`status ${res.status} is not one this endpoint answers (expected ${Object.keys(allowed).join('/')})`);
  } else if (code !== undefined && !codes.includes(code)) {
    problems.push(`code ${code} does not fit ${res.status} here (expected ${codes.join('/') || 'none'})`);
  }
  const header = (name: string) => res.headers[name.toLowerCase()];
  if (res.status === 405 && !header('allow')) problems.push('405 without Allow');
  if (res.status === 401 && !header('www-authenticate')) problems.push('401 without WWW-Authenticate');
  if (res.status === 416 && !header('range')) problems.push('416 without Range');
  if (res.status === 201 && c.endpoint !== 'token' && !header('location')) problems.push('201 without Location');
  if (res.status === 202 && (c.endpoint === 'upload-start' || c.endpoint === 'upload') && !header('location')) {
    problems.push('202 without Location');
  }
  if (res.status === 201 && c.manifestPush && c.body) {
    // The digest the registry names must be the one of the bytes the client sent.
    const sent = `sha256:${createHash('sha256').update(c.body).digest('hex')}`;
    if (header('docker-content-digest') !== sent) {
      problems.push(`manifest stored as ${String(header('docker-content-digest'))}, but the bytes sent are ${sent}`);
    }
  }
  return { key: code ? `${res.status} ${code}` : String(res.status), code, problems };
}
