import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * AWS Signature Version 4 as the local AWS endpoint needs it: checking the signature of a request
 * (Authorization header or presigned query) with the secret of the key it names, as AWS's front ends
 * do before anything else, and signing what the endpoint forwards with the S3 server's own account.
 * So the server behind the endpoint needs one account only, and every role's key, presigned URLs and
 * their expiry are checked the same way whatever server stands there.
 *
 * Canonical form per the SigV4 documentation, with S3's rules: the path is taken as sent (S3 neither
 * normalizes nor encodes it again), and a presigned request's payload is `UNSIGNED-PAYLOAD`.
 */
export interface SignedRequest {
  readonly method: string;
  /** The path as sent, still percent-encoded. */
  readonly path: string;
  /** The query string as sent, without `?`. */
  readonly query: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The body, for services whose signature covers it without an `x-amz-content-sha256` header. */
  readonly body?: Buffer;
}

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Who signed, or the refusal AWS gives (S3's codes; the JSON services map them to their own). */
export type Verdict =
  | { readonly ok: true; readonly accessKeyId: string; readonly presigned: boolean }
  | { readonly ok: false; readonly status: 400 | 403; readonly code: string; readonly message: string };

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** S3 refuses header-signed requests more than 15 minutes off its clock. */
const MAX_SKEW_MS = 15 * 60_000;
/** A presigned URL lives at most 7 days. */
const MAX_EXPIRES_S = 604_800;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** The query parameters that carry a presigned request's authentication. */
const PRESIGN_PARAMS = new Set([
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
  'X-Amz-Content-Sha256',
]);

interface Authentication {
  readonly accessKeyId: string;
  readonly scope: { readonly date: string; readonly region: string; readonly service: string };
  readonly amzDate: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  readonly presigned?: { readonly expiresSeconds: number };
}

const refuse = (status: 400 | 403, code: string, message: string): Verdict => ({ ok: false, status, code, message });

/** The access key and service a request names (header or presigned query), without checking anything. */
export function credentialScope(request: SignedRequest): { accessKeyId: string; service: string } | undefined {
  const header = request.headers.authorization ?? '';
  const credential =
    /Credential=([^,\s]+)/.exec(header)?.[1] ?? queryPairs(request.query).find(([k]) => k === 'X-Amz-Credential')?.[1];
  const [accessKeyId, , , service] = (credential ?? '').split('/');
  return accessKeyId && service ? { accessKeyId, service } : undefined;
}

/**
 * Checks a request's signature with the secret of the key it names (`secretOf`), its date against
 * `now`, and a presigned request's expiry.
 */
export function verifySignature(
  request: SignedRequest,
  secretOf: (accessKeyId: string) => string | undefined,
  now: number = Date.now(),
): Verdict {
  const auth = parseAuthentication(request);
  if ('ok' in auth) return auth;
  const secret = secretOf(auth.accessKeyId);
  if (secret === undefined)
    return refuse(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  const signedAt = parseAmzDate(auth.amzDate);
  if (signedAt === undefined || auth.scope.date !== auth.amzDate.slice(0, 8))
    return refuse(
      400,
      'AuthorizationHeaderMalformed',
      `The request's date ${auth.amzDate} is malformed or not its scope's.`,
    );
  if (auth.presigned) {
    if (!(auth.presigned.expiresSeconds >= 1 && auth.presigned.expiresSeconds <= MAX_EXPIRES_S))
      return refuse(
        400,
        'AuthorizationQueryParametersError',
        'X-Amz-Expires must be between 1 and 604800 seconds (7 days).',
      );
    if (now > signedAt + auth.presigned.expiresSeconds * 1000)
      return refuse(403, 'AccessDenied', 'Request has expired');
  } else if (Math.abs(now - signedAt) > MAX_SKEW_MS) {
    return refuse(
      403,
      'RequestTimeTooSkewed',
      'The difference between the request time and the current time is too large.',
    );
  }
  const payloadHash = auth.presigned
    ? (queryPairs(request.query).find(([k]) => k === 'X-Amz-Content-Sha256')?.[1] ?? UNSIGNED_PAYLOAD)
    : (request.headers['x-amz-content-sha256'] ?? sha256Hex(request.body ?? Buffer.alloc(0)));
  const query = auth.presigned
    ? queryPairs(request.query).filter(([k]) => k !== 'X-Amz-Signature')
    : queryPairs(request.query);
  const expected = signature(secret, auth.scope, auth.amzDate, {
    method: request.method,
    path: request.path,
    query,
    headers: request.headers,
    signedHeaders: auth.signedHeaders,
    payloadHash,
  });
  const given = Buffer.from(auth.signature, 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected, 'utf8')))
    return refuse(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  return { ok: true, accessKeyId: auth.accessKeyId, presigned: auth.presigned !== undefined };
}

/**
 * The request as the endpoint forwards it, signed afresh with `credentials` at `now`: a presigned
 * request loses its query authentication and is header-signed instead, with an unsigned payload. The
 * headers it signed stay signed; the payload hash it declared is kept, so the server still checks
 * the body against it. Returns the new query (other parameters as sent) and the headers to set.
 */
export function signForward(
  request: SignedRequest,
  credentials: Credentials,
  region: string,
  now: number = Date.now(),
): { query: string; headers: Record<string, string> } {
  const auth = parseAuthentication(request);
  const signedBefore = 'ok' in auth ? [] : auth.signedHeaders;
  const rawPairs = request.query === '' ? [] : request.query.split('&');
  const kept = rawPairs.filter((pair) => !PRESIGN_PARAMS.has(safeDecode(pair.split('=')[0] ?? '')));
  const query = kept.join('&');
  const amzDate = new Date(now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const payloadHash = request.headers['x-amz-content-sha256'] ?? UNSIGNED_PAYLOAD;
  const headers: Record<string, string | undefined> = {
    ...request.headers,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': payloadHash,
  };
  const signedHeaders = [...new Set([...signedBefore, 'host', 'x-amz-date', 'x-amz-content-sha256'])]
    .filter((name) => headers[name] !== undefined && name !== 'authorization')
    .sort();
  const scope = { date: amzDate.slice(0, 8), region, service: 's3' };
  const sig = signature(credentials.secretAccessKey, scope, amzDate, {
    method: request.method,
    path: request.path,
    query: kept.map(splitPair),
    headers,
    signedHeaders,
    payloadHash,
  });
  return {
    query,
    headers: {
      'x-amz-date': amzDate,
      'x-amz-content-sha256': payloadHash,
      authorization: `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope.date}/${region}/s3/aws4_request, SignedHeaders=${signedHeaders.join(';')}, Signature=${sig}`,
    },
  };
}

/**
 * A presigned request passed on as a URL of the server's own, for the client to fetch itself: the
 * query as sent without its authentication, presigned afresh with `credentials` for `host` (the
 * server's), valid as long as the client's URL still is (at least 1 s). Returns the new query.
 */
export function presignForward(
  request: SignedRequest,
  credentials: Credentials,
  region: string,
  host: string,
  now: number = Date.now(),
): string {
  const auth = parseAuthentication(request);
  const signedAt = 'ok' in auth ? undefined : parseAmzDate(auth.amzDate);
  const expiresAt =
    'ok' in auth || signedAt === undefined ? now : signedAt + (auth.presigned?.expiresSeconds ?? 0) * 1000;
  const rawPairs = request.query === '' ? [] : request.query.split('&');
  const kept = rawPairs.filter((pair) => !PRESIGN_PARAMS.has(safeDecode(pair.split('=')[0] ?? '')));
  const amzDate = new Date(now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const scope = { date: amzDate.slice(0, 8), region, service: 's3' };
  const presign: [string, string][] = [
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Credential', `${credentials.accessKeyId}/${scope.date}/${region}/s3/aws4_request`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(Math.min(MAX_EXPIRES_S, Math.max(1, Math.ceil((expiresAt - now) / 1000))))],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  const sig = signature(credentials.secretAccessKey, scope, amzDate, {
    method: request.method,
    path: request.path,
    query: [...kept.map(splitPair), ...presign],
    headers: { host },
    signedHeaders: ['host'],
    payloadHash: UNSIGNED_PAYLOAD,
  });
  const added: [string, string][] = [...presign, ['X-Amz-Signature', sig]];
  return [...kept, ...added.map(([k, v]) => `${k}=${uriEncode(v)}`)].join('&');
}

function parseAuthentication(request: SignedRequest): Authentication | Verdict {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match =
      /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/.exec(
        header,
      );
    if (!match) return refuse(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
    const scope = parseScope(match[1] ?? '');
    if (!scope) return refuse(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
    const amzDate = request.headers['x-amz-date'];
    if (!amzDate) return refuse(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    return {
      ...scope,
      amzDate,
      signedHeaders: (match[2] ?? '').split(';'),
      signature: match[3] ?? '',
    };
  }
  const params = new Map(queryPairs(request.query));
  if (params.get('X-Amz-Algorithm') !== ALGORITHM) return refuse(403, 'AccessDenied', 'Access Denied');
  const scope = parseScope(params.get('X-Amz-Credential') ?? '');
  const amzDate = params.get('X-Amz-Date');
  const signedHeaders = params.get('X-Amz-SignedHeaders');
  const sig = params.get('X-Amz-Signature');
  if (!scope || !amzDate || !signedHeaders || !sig || !params.has('X-Amz-Expires'))
    return refuse(
      400,
      'AuthorizationQueryParametersError',
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  return {
    ...scope,
    amzDate,
    signedHeaders: signedHeaders.split(';'),
    signature: sig,
    presigned: { expiresSeconds: Number(params.get('X-Amz-Expires')) },
  };
}

function parseScope(credential: string): Pick<Authentication, 'accessKeyId' | 'scope'> | undefined {
  const [accessKeyId, date, region, service, terminator] = credential.split('/');
  if (!accessKeyId || !date || !region || !service || terminator !== 'aws4_request') return undefined;
  return { accessKeyId, scope: { date, region, service } };
}

/** `20261203T113500Z` as epoch milliseconds. */
function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const time = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(time) ? undefined : time;
}

interface Canonical {
  readonly method: string;
  readonly path: string;
  readonly query: readonly (readonly [string, string])[];
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly signedHeaders: readonly string[];
  readonly payloadHash: string;
}

/** The hex signature of a request in canonical form. */
function signature(secret: string, scope: Authentication['scope'], amzDate: string, canonical: Canonical): string {
  const query = canonical.query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = canonical.signedHeaders
    .map((name) => `${name}:${(canonical.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const request = [
    canonical.method,
    canonical.path,
    query,
    headers,
    canonical.signedHeaders.join(';'),
    canonical.payloadHash,
  ].join('\n');
  const scopeText = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, scopeText, sha256Hex(request)].join('\n');
  return hmac(signingKey(secret, scope), stringToSign).toString('hex');
}

/**
 * The key a secret signs with on one day, in one region, for one service: four HMACs, the same for
 * every request of that day, so kept (as AWS SDKs keep it). A few keys per role and day at most.
 */
const signingKeys = new Map<string, Buffer>();
const SIGNING_KEYS_KEPT = 256;

function signingKey(secret: string, scope: Authentication['scope']): Buffer {
  const id = `${scope.date}/${scope.region}/${scope.service}/${secret}`;
  let key = signingKeys.get(id);
  if (key === undefined) {
    key = Buffer.from(`AWS4${secret}`, 'utf8');
    for (const part of [scope.date, scope.region, scope.service, 'aws4_request']) key = hmac(key, part);
    if (signingKeys.size >= SIGNING_KEYS_KEPT) signingKeys.clear();
    signingKeys.set(id, key);
  }
  return key;
}

const hmac = (key: Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** Name and value of each query parameter, decoded (`+` is a plus sign, as S3 reads it). */
function queryPairs(query: string): [string, string][] {
  return query === '' ? [] : query.split('&').filter(Boolean).map(splitPair);
}

function splitPair(pair: string): [string, string] {
  const at = pair.indexOf('=');
  return at < 0 ? [safeDecode(pair), ''] : [safeDecode(pair.slice(0, at)), safeDecode(pair.slice(at + 1))];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** RFC 3986 encoding: everything but unreserved characters. */
const uriEncode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
