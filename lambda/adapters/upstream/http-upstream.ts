import {
  UpstreamError,
  type UpstreamBlob,
  type UpstreamDescriptor,
  type UpstreamManifest,
  type UpstreamRegistry,
} from '../../core/ports/upstream';

/** User name and password (or token) the upstream accepts, as Basic auth or at its token realm. */
export interface UpstreamCredentials {
  readonly username: string;
  readonly password: string;
}

export interface HttpUpstreamOptions {
  /** The rule's credentials, read when the upstream first asks for them; undefined: anonymous. */
  readonly credentials?: () => Promise<UpstreamCredentials | undefined>;
  /** How long the upstream has to answer with headers (and a manifest with its body). @default 10000 */
  readonly timeoutMs?: number;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default Date.now */
  readonly now?: () => number;
}

/** What the cache asks upstreams for: every manifest type we serve, an index before a platform's manifest. */
export const UPSTREAM_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Tokens are asked for again this long before they expire. */
const TOKEN_MARGIN_MS = 10_000;

/**
 * An upstream registry over HTTP(S) (Distribution API v2), with its authentication: a `401` with
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered by a token request to the realm
 * (with the credentials as Basic auth when there are any) and the request is sent again with the
 * token; `Basic` challenges get the credentials directly. Tokens are kept per scope until shortly
 * before they expire, so a warm function asks the realm once per repository.
 * @see https://distribution.github.io/distribution/spec/auth/token/
 */
export class HttpUpstream implements UpstreamRegistry {
  readonly origin: string;
  private readonly tokens = new Map<string, { readonly header: string; readonly expires: number }>();
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;

  constructor(
    origin: string,
    private readonly options: HttpUpstreamOptions = {},
  ) {
    this.origin = origin.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.now = options.now ?? Date.now;
  }

  async headManifest(repository: string, reference: string): Promise<UpstreamDescriptor | undefined> {
    const res = await this.send('HEAD', repository, `manifests/${reference}`, { Accept: UPSTREAM_ACCEPT });
    if (!res) return undefined;
    const digest = res.headers.get('docker-content-digest');
    const mediaType = res.headers.get('content-type');
    const size = Number(res.headers.get('content-length'));
    // A HEAD that does not say the digest (some registries) is no use for revalidation: GET instead.
    if (!digest || !mediaType || !Number.isInteger(size)) {
      const full = await this.getManifest(repository, reference, Number.MAX_SAFE_INTEGER);
      return full && { digest: full.digest, mediaType: full.mediaType, size: full.size };
    }
    return { digest, mediaType: stripParameters(mediaType), size };
  }

  async getManifest(repository: string, reference: string, maxSize: number): Promise<UpstreamManifest | undefined> {
    const res = await this.send('GET', repository, `manifests/${reference}`, { Accept: UPSTREAM_ACCEPT });
    if (!res) return undefined;
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > maxSize) {
      await res.body?.cancel();
      throw new UpstreamError(
        `${this.origin} answered ${repository}:${reference} with a manifest of ${declared} bytes, over the ${maxSize} accepted`,
      );
    }
    let body: Uint8Array;
    try {
      body = await this.readAll(res, maxSize, `${repository}:${reference}`);
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError(`${this.origin} broke off manifest ${repository}:${reference}: ${errorText(err)}`);
    }
    const mediaType = stripParameters(res.headers.get('content-type') ?? '');
    return { digest: res.headers.get('docker-content-digest') ?? '', mediaType, size: body.length, body };
  }

  async headBlob(repository: string, digest: string): Promise<{ readonly size: number } | undefined> {
    const res = await this.send('HEAD', repository, `blobs/${digest}`, {});
    if (!res) return undefined;
    const size = Number(res.headers.get('content-length'));
    if (!Number.isInteger(size))
      throw new UpstreamError(`${this.origin} did not say the size of blob ${digest}`, res.status);
    return { size };
  }

  async getBlob(repository: string, digest: string): Promise<UpstreamBlob | undefined> {
    const res = await this.send('GET', repository, `blobs/${digest}`, {}, true);
    if (!res) return undefined;
    const body = res.body;
    if (!body) throw new UpstreamError(`${this.origin} answered blob ${digest} without a body`, res.status);
    const length = res.headers.get('content-length');
    const size = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    return {
      ...(size !== undefined ? { size } : {}),
      body: body as unknown as AsyncIterable<Uint8Array>,
      cancel: async () => {
        await body.cancel().catch(() => {});
      },
    };
  }

  /**
   * One request with the upstream's authentication: the token for its scope when we hold one, and
   * once more after a 401 with what the challenge asks for. 404 is `undefined`; anything else but
   * a 2xx is UpstreamError. `streaming`: the timeout covers the headers only, not the body.
   */
  private async send(
    method: 'GET' | 'HEAD',
    repository: string,
    path: string,
    headers: Record<string, string>,
    streaming = false,
  ): Promise<Response | undefined> {
    const url = `${this.origin}/v2/${repository}/${path}`;
    const scope = `repository:${repository}:pull`;
    let res = await this.fetchWithTimeout(url, method, { ...headers, ...this.cachedAuth(scope) }, streaming);
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      await res.body?.cancel().catch(() => {});
      const auth = await this.answer(challenge, scope, url);
      res = await this.fetchWithTimeout(url, method, { ...headers, ...auth }, streaming);
    }
    if (res.status === 404) {
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    if (res.status < 200 || res.status > 299) {
      const detail = method === 'GET' ? (await res.text().catch(() => '')).slice(0, 300) : '';
      const retryAfter = Number(res.headers.get('retry-after'));
      throw new UpstreamError(
        `${this.origin} answered ${method} ${repository}/${path} with ${res.status}${detail ? `: ${detail}` : ''}`,
        res.status,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      );
    }
    return res;
  }

  /**
   * `fetch` with a deadline on the answer: on its headers only for a streamed body, on the headers
   * and the body otherwise (the abort also ends a body still arriving).
   */
  private async fetchWithTimeout(
    url: string,
    method: string,
    headers: Record<string, string>,
    streaming: boolean,
  ): Promise<Response> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    timer.unref?.();
    try {
      const res = await this.fetch(url, { method, headers, redirect: 'follow', signal: controller.signal });
      if (streaming) clearTimeout(timer);
      return res;
    } catch (err) {
      clearTimeout(timer);
      const reason = controller.signal.aborted ? `no answer within ${this.timeoutMs} ms` : errorText(err);
      throw new UpstreamError(`${this.origin} could not be reached: ${reason}`);
    }
  }

  /** The Authorization header a token for `scope` gives, when one is held and not about to expire. */
  private cachedAuth(scope: string): Record<string, string> {
    const held = this.tokens.get(scope);
    if (!held || held.expires - TOKEN_MARGIN_MS <= this.now()) return {};
    return { Authorization: held.header };
  }

  /** What a 401's challenge asks for: a token from the realm (Bearer) or the credentials (Basic). */
  private async answer(challenge: Challenge | undefined, scope: string, url: string): Promise<Record<string, string>> {
    const credentials = await this.options.credentials?.();
    if (challenge?.scheme === 'basic') {
      if (!credentials)
        throw new UpstreamError(`${this.origin} asks for credentials and this cache rule has none`, 401);
      const header = basic(credentials);
      this.tokens.set(scope, { header, expires: Number.MAX_SAFE_INTEGER });
      return { Authorization: header };
    }
    const realm = challenge?.params.realm;
    if (challenge?.scheme !== 'bearer' || !realm) {
      throw new UpstreamError(`${this.origin} refused ${url} (401) without a challenge this cache can answer`, 401);
    }
    const tokenUrl = new URL(realm);
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    tokenUrl.searchParams.set('scope', challenge.params.scope ?? scope);
    let res: Response;
    try {
      res = await this.fetch(tokenUrl, {
        headers: credentials ? { Authorization: basic(credentials) } : {},
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new UpstreamError(
        `the token service of ${this.origin} (${tokenUrl.origin}) could not be reached: ${errorText(err)}`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new UpstreamError(
        `the token service of ${this.origin} refused ${credentials ? "the rule's credentials" : 'an anonymous token'} for ${scope} (${res.status})`,
        res.status === 401 || res.status === 403 ? 401 : res.status,
      );
    }
    const reply = (await res.json().catch(() => ({}))) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = reply.token ?? reply.access_token;
    if (!token) throw new UpstreamError(`the token service of ${this.origin} answered without a token`);
    // The spec's default lifetime is 60 s.
    const lifetime = (typeof reply.expires_in === 'number' && reply.expires_in > 0 ? reply.expires_in : 60) * 1000;
    const header = `Bearer ${token}`;
    this.tokens.set(scope, { header, expires: this.now() + lifetime });
    return { Authorization: header };
  }

  private async readAll(res: Response, maxSize: number, what: string): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        total += chunk.length;
        if (total > maxSize) {
          await res.body.cancel().catch(() => {});
          throw new UpstreamError(`${this.origin} sent more than ${maxSize} bytes for ${what}`);
        }
        chunks.push(chunk);
      }
    }
    return Buffer.concat(chunks, total);
  }
}

function basic(credentials: UpstreamCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

function stripParameters(mediaType: string): string {
  return mediaType.split(';')[0]?.trim() ?? '';
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
}

/**
 * `WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="…"`:
 * the first challenge's scheme (lower case) and its parameters.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2] ?? '')) !== null) {
    if (p[0] === '') break;
    params[(p[1] as string).toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: (m[1] as string).toLowerCase(), params };
}
