/**
 * The smoke test's HTTP client: plain `fetch` with every exchange recorded, so that a failing check
 * can print the request and the answer it judged, and with the registry's own sign-in (a Bearer
 * token from the challenge's realm, or Basic on every request) attached only to the registry's
 * origin, never to the blob store that downloads and direct uploads are sent to.
 */

/** How much of a response body a failure report shows. */
const BODY_SHOWN = 2048;

/**
 * One request and what came back, as a failure report prints it. Credentials, tokens and presigned
 * URLs' signatures are removed as it is recorded, so no report (JSON included) can leak them.
 */
export interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly requestHeaders: Record<string, string>;
  /** Bytes of the request body. */
  readonly requestBodySize?: number;
  /** The body was a stream, sent without a length. */
  readonly streamedBody?: boolean;
  readonly status?: number;
  readonly responseHeaders?: Record<string, string>;
  /** The first 2 KB of the response body, as text. */
  readonly responseBody?: string;
  /** Why no response came (connection refused, reset). */
  readonly error?: string;
}

/** A check that failed, with the exchange it judged when there was one. */
export class SmokeFailure extends Error {
  override readonly name = 'SmokeFailure';
  constructor(
    message: string,
    readonly exchange?: Exchange,
  ) {
    super(message);
  }
}

/** A response read whole, with the record of its exchange. */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
  readonly exchange: Exchange;
  /** The body as text. */
  text(): string;
  /** The body as JSON, or a SmokeFailure naming what was expected. */
  json<T>(what: string): T;
  /** A header, or a SmokeFailure saying it is missing. */
  header(name: string): string;
}

export interface RequestInit {
  readonly headers?: Record<string, string>;
  /** Bytes, or a function giving a fresh stream for each attempt (sent chunked, without a length). */
  readonly body?: Uint8Array | (() => ReadableStream<Uint8Array>);
}

/** How the registry wants callers to sign in, from its answer to `GET /v2/`. */
export type Challenge =
  | { readonly scheme: 'bearer'; readonly realm: string; readonly service?: string; readonly scope?: string }
  | { readonly scheme: 'basic' };

/** Parses a `WWW-Authenticate` header: `Bearer realm="…",service="…"` or `Basic realm="…"`. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const [scheme = ''] = header.trim().split(/\s+/, 1);
  const params = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  if (scheme.toLowerCase() === 'basic') return { scheme: 'basic' };
  if (scheme.toLowerCase() !== 'bearer' || !params.realm) return undefined;
  return {
    scheme: 'bearer',
    realm: params.realm,
    ...(params.service !== undefined ? { service: params.service } : {}),
    ...(params.scope !== undefined ? { scope: params.scope } : {}),
  };
}

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** Requests to one registry, signed in as it asks once `signIn` has run. */
export class RegistryHttp {
  readonly base: URL;
  private challenge: Challenge | undefined;
  private credentials: Credentials | undefined;
  private token: string | undefined;
  /** Scopes asked for at sign-in (`repository:<name>:pull,push,delete`). */
  private scopes: string[] = [];

  constructor(base: string) {
    this.base = new URL(base);
  }

  /** Uses `challenge` from now on: fetches a token for `scopes` (Bearer), or sends Basic on every request. */
  async signIn(challenge: Challenge, credentials: Credentials, scopes: string[]): Promise<void> {
    this.challenge = challenge;
    this.credentials = credentials;
    this.scopes = scopes;
    if (challenge.scheme === 'bearer') await this.fetchToken(challenge, scopes);
  }

  /**
   * A request to the registry (a path, or a URL it handed out). Credentials go only to the
   * registry's origin. A 401 with a Bearer challenge (the token expired, or the request needs a
   * scope the token lacks) fetches a token once more and repeats the request.
   */
  async request(method: string, target: string | URL, init: RequestInit = {}): Promise<Reply> {
    const url = new URL(target, this.base);
    const reply = await this.send(method, url, { ...init, headers: { ...this.authorization(url), ...init.headers } });
    const again = reply.status === 401 ? parseChallenge(reply.headers.get('www-authenticate')) : undefined;
    if (again?.scheme !== 'bearer' || !this.credentials || this.challenge?.scheme !== 'bearer') return reply;
    await this.fetchToken(again, [...this.scopes, ...(again.scope ? [again.scope] : [])]);
    return this.send(method, url, { ...init, headers: { ...this.authorization(url), ...init.headers } });
  }

  /** A request exactly as given: no credentials added (redirect targets, presigned part URLs). */
  async send(method: string, url: URL, init: RequestInit = {}): Promise<Reply> {
    const headers = init.headers ?? {};
    const streamed = typeof init.body === 'function';
    const body = typeof init.body === 'function' ? init.body() : init.body;
    const request = {
      method,
      url: redactUrl(url.href),
      requestHeaders: redactHeaders(headers),
      ...(body instanceof Uint8Array ? { requestBodySize: body.length } : {}),
      ...(streamed ? { streamedBody: true } : {}),
    };
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        redirect: 'manual',
        ...(body !== undefined ? { body } : {}),
        // A stream body must say it is sent while the answer may already come back.
        ...(streamed ? { duplex: 'half' } : {}),
      } as globalThis.RequestInit);
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      throw new SmokeFailure(`${method} ${redactUrl(url.href)}: no response (${String(cause ?? err)})`, {
        ...request,
        error: String(cause ?? err),
      });
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    const exchange: Exchange = {
      ...request,
      status: res.status,
      responseHeaders: redactHeaders(Object.fromEntries(res.headers)),
      responseBody: redactBody(Buffer.from(bytes.subarray(0, BODY_SHOWN)).toString('utf8')),
    };
    return reply(res.status, res.headers, bytes, exchange);
  }

  private authorization(url: URL): Record<string, string> {
    if (url.origin !== this.base.origin || !this.credentials || !this.challenge) return {};
    if (this.challenge.scheme === 'basic') return { Authorization: basic(this.credentials) };
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  private async fetchToken(challenge: Extract<Challenge, { scheme: 'bearer' }>, scopes: string[]): Promise<void> {
    const url = new URL(challenge.realm, this.base);
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
    for (const scope of new Set(scopes)) url.searchParams.append('scope', scope);
    // Basic credentials go to the realm, wherever it is: that is where the registry says to sign in.
    const res = await this.send('GET', url, { headers: { Authorization: basic(this.credentials!) } });
    if (res.status !== 200) throw new SmokeFailure(`the token service answered ${res.status}`, res.exchange);
    const body = res.json<{ token?: string; access_token?: string }>('a token');
    const token = body.token ?? body.access_token;
    if (!token) throw new SmokeFailure('the token service answered without a token', res.exchange);
    this.token = token;
  }
}

function basic({ user, password }: Credentials): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function reply(status: number, headers: Headers, body: Uint8Array, exchange: Exchange): Reply {
  return {
    status,
    headers,
    body,
    exchange,
    text: () => Buffer.from(body).toString('utf8'),
    json<T>(what: string): T {
      try {
        return JSON.parse(Buffer.from(body).toString('utf8')) as T;
      } catch {
        throw new SmokeFailure(`expected ${what} as JSON`, exchange);
      }
    },
    header(name: string): string {
      const value = headers.get(name);
      if (value === null) throw new SmokeFailure(`the answer has no ${name} header`, exchange);
      return value;
    },
  };
}

/**
 * Presigned URLs carry the signing role's session token and signature: printed in a CI log they
 * would let anyone repeat the request until they expire, so reports show them without those.
 */
export function redactUrl(href: string): string {
  if (!URL.canParse(href)) return href;
  const url = new URL(href);
  for (const name of [...url.searchParams.keys()]) {
    if (/^x-amz-(security-token|signature|credential)$/i.test(name)) url.searchParams.set(name, 'redacted');
  }
  return url.href;
}

/** A report's headers: credentials and tokens replaced by their scheme alone. */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) =>
      /^(authorization|proxy-authorization|cookie|set-cookie)$/i.test(name)
        ? [name, `${value.split(/\s+/, 1)[0]} …`]
        : [name, name.toLowerCase() === 'location' ? redactUrl(value) : value],
    ),
  );
}

/** A report's body: token fields of the token service's answers blanked. */
export function redactBody(body: string): string {
  return body.replace(/("(?:token|access_token|refresh_token)"\s*:\s*")[^"]*"/g, '$1…"');
}
