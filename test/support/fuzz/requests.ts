import fc from 'fast-check';
import {
  digestChoice,
  lastValue,
  nameChoice,
  pageSizeValue,
  referenceChoice,
  sha256Of,
  type NameChoice,
} from './grammar';
import { manifestBody, type ManifestRefs } from './manifests';

/** The endpoint a case aims at (what the oracle judges it by), whatever its path turns out to be. */
export type Endpoint =
  'base' | 'catalog' | 'tags' | 'referrers' | 'blob' | 'upload-start' | 'upload' | 'manifest' | 'token' | 'unknown';

/** Methods each endpoint serves; any other gets 405 with `Allow`. */
export const METHODS: Readonly<Record<Exclude<Endpoint, 'unknown'>, readonly string[]>> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET'],
  tags: ['GET'],
  referrers: ['GET'],
  blob: ['GET', 'HEAD', 'DELETE'],
  'upload-start': ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE', 'POST'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  token: ['GET', 'POST'],
};

/** A repository of the world, with what it holds. */
export interface Repo {
  readonly name: string;
  readonly refs: ManifestRefs;
  readonly tags: readonly string[];
  readonly digests: readonly string[];
  /** Blobs linked only so that deletes have something to delete; manifests never reference them. */
  readonly spares: readonly string[];
  /** Requests that may succeed at writing go only to scratch repositories; the rest stay as seeded. */
  readonly scratch: boolean;
}

export interface World {
  readonly mode: 'open' | 'token';
  readonly repos: readonly Repo[];
  readonly maxNameDepth: number;
}

/** Who the request says it is; resolved against the tokens fetched at setup. */
export type AuthChoice =
  | { readonly kind: 'none' }
  /** The fuzz user's token for every repository of the world (and the catalog). */
  | { readonly kind: 'user-token' }
  /** A token for one repository only, which is not the one asked for. */
  | { readonly kind: 'narrow-token' }
  | { readonly kind: 'admin-token' }
  | { readonly kind: 'anonymous-token' }
  /** A literal Authorization header: garbage, Basic, another scheme. */
  | { readonly kind: 'header'; readonly value: string };

/** Which upload session a request names. */
export type SessionChoice = 'own' | 'foreign' | 'random' | 'malformed' | 'finished';

/** The Content-Range of a chunk, relative to where the session ends. */
export type RangeChoice =
  | 'none'
  | 'correct'
  | 'bytes-prefix'
  | 'with-total'
  | 'from-zero'
  | 'gap'
  | 'overlap'
  | 'reversed'
  | 'length-mismatch'
  | 'huge'
  | 'empty'
  | { readonly raw: string };

/** Stands in a query value for the digest of everything the session holds plus this body. */
export const SESSION_DIGEST = '\u0000session-digest';

export interface FuzzCase {
  readonly label: string;
  readonly endpoint: Endpoint;
  readonly method: string;
  readonly name?: NameChoice;
  /** For `unknown` and `token`, the whole path; otherwise what follows `/v2/<name>`. */
  readonly tail: string;
  readonly session?: SessionChoice;
  /** The id sent when the session choice has no live session to name (or is `random`/`malformed`). */
  readonly sessionFallback?: string;
  readonly range?: RangeChoice;
  /** Already-encoded pairs; an undefined value sends the key alone. */
  readonly query: readonly (readonly [string, string | undefined])[];
  readonly headers: readonly (readonly [string, string])[];
  readonly auth: AuthChoice;
  readonly body?: Buffer;
  readonly chunked?: boolean;
  /** A manifest push (accepted ones are checked to name the digest of the bytes sent). */
  readonly manifestPush?: boolean;
}

/** A write by method: what the storage invariant is checked for. */
export const isWrite = (c: Pick<FuzzCase, 'method' | 'endpoint'>) =>
  c.endpoint !== 'token' && !['GET', 'HEAD'].includes(c.method);

const NOT_UTF8 = Buffer.from([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0xf0, 0x90, 0x80, 0x41, 0xed, 0xa0, 0x80, 0x7d]);

/** Chunk and blob bodies: random bytes, text, nothing, bytes that are not UTF-8, now and then a big one. */
const uploadBody: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((b) => Buffer.from(b)) },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 3, arbitrary: fc.nat({ max: 64 }).map((n) => Buffer.concat([NOT_UTF8, Buffer.alloc(n, 0xff)])) },
  // Over what one Lambda request carries (6 MiB of base64): the gateway's 413, or the uploader streams it.
  { weight: 1, arbitrary: fc.constant('big').map(() => Buffer.alloc(5 * 1024 * 1024 + 7, 0x61)) },
);

const uploadContentType = fc.constantFrom(
  'application/octet-stream',
  'application/octet-stream',
  'application/octet-stream',
  undefined,
  'application/json',
  'text/plain; charset=utf-8',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/octet-stream,application/json',
  ';;;',
  'x'.repeat(2000),
);

/** Authorization headers that are no credentials the registry issued. */
const garbageAuth = fc.constantFrom(
  'Bearer',
  'Bearer ',
  'Bearer a.b.c',
  'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  'Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln',
  `Bearer ${'x'.repeat(6000)}`,
  'Basic',
  'Basic !!!',
  `Basic ${Buffer.from('nocolon').toString('base64')}`,
  `Basic ${Buffer.from(':empty-user').toString('base64')}`,
  `Basic ${Buffer.from('fuzzer:wrong').toString('base64')}`,
  `Basic ${Buffer.from(`${'u'.repeat(3000)}:p`).toString('base64')}`,
  `Basic ${Buffer.from('caf\u00e9:p\u00e4ss', 'utf8').toString('base64')}`,
  'Digest username="x"',
  'Negotiate YII=',
  '\u00e9\u00e8',
  ' ',
);

function authChoice(mode: World['mode']): fc.Arbitrary<AuthChoice> {
  const header = garbageAuth.map((value) => ({ kind: 'header' as const, value }));
  if (mode === 'open') {
    // Access control is off: credentials of any kind must change nothing.
    return fc.oneof({ weight: 6, arbitrary: fc.constant({ kind: 'none' as const }) }, { weight: 1, arbitrary: header });
  }
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant({ kind: 'user-token' as const }) },
    { weight: 5, arbitrary: fc.constant({ kind: 'admin-token' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'narrow-token' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'anonymous-token' as const }) },
    { weight: 2, arbitrary: header },
  );
}

/** Headers any request may carry besides its own: nothing, much, or oddities. */
const extraHeaders: fc.Arbitrary<[string, string][]> = fc.oneof(
  { weight: 10, arbitrary: fc.constant<[string, string][]>([]) },
  // Under HTTP API's 10,240 bytes for the request line and headers together; beyond it API Gateway
  // answers by itself and no function sees the request.
  { weight: 1, arbitrary: fc.constant([['X-Fuzz-Pad', 'p'.repeat(7000)]] as [string, string][]) },
  {
    weight: 1,
    arbitrary: fc.constant(Array.from({ length: 60 }, (_, i) => [`X-Fuzz-${i}`, String(i)] as [string, string])),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom<[string, string][]>(
      [['Accept', '*/*']],
      [['Accept', 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json']],
      [['Accept', 'x/y;q=0.5, ,,']],
      [['Content-Encoding', 'gzip']],
      [['Content-Range', '0-0']],
      [['X-Forwarded-Proto', 'gopher']],
      [['Docker-Distribution-API-Version', 'registry/3.0']],
      [['Range', 'bytes=0-1']],
      [['Cookie', 'a=b']],
    ),
  },
);

const rangeChoice: fc.Arbitrary<RangeChoice> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<RangeChoice>('correct') },
  { weight: 3, arbitrary: fc.constant<RangeChoice>('none') },
  {
    weight: 6,
    arbitrary: fc.constantFrom<RangeChoice>(
      'bytes-prefix',
      'with-total',
      'from-zero',
      'gap',
      'overlap',
      'reversed',
      'length-mismatch',
      'huge',
      'empty',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom<RangeChoice>(
      { raw: 'abc' },
      { raw: '-1-5' },
      { raw: '0-' },
      { raw: '-' },
      { raw: '0-9-9' },
      { raw: ' 0 - 9 ' },
      { raw: 'bytes */*' },
      { raw: '1e3-2e3' },
      { raw: '0x0-0x9' },
      { raw: 'x'.repeat(5000) },
    ),
  },
);

const sessionChoice = fc.constantFrom<SessionChoice>(
  'own',
  'own',
  'own',
  'own',
  'foreign',
  'random',
  'malformed',
  'finished',
);

// Methods Node's (and API Gateway's) HTTP parser accepts; an unknown token is refused before any
// function runs.
const anyMethod = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND');

/** Picks the endpoint's own methods most of the time, any method now and then. */
function methodFor(endpoint: Exclude<Endpoint, 'unknown'>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...METHODS[endpoint]) },
    { weight: 1, arbitrary: anyMethod },
  );
}

const label = (...parts: (string | undefined | false)[]) => parts.filter(Boolean).join(' ');

/** The generator of every case, for one world. */
export function fuzzCase(world: World): fc.Arbitrary<FuzzCase> {
  const names = world.repos.map((r) => r.name);
  const scratchNames = world.repos.filter((r) => r.scratch).map((r) => r.name);
  const digests = [...new Set(world.repos.flatMap((r) => [...r.digests, r.refs.config.digest, r.refs.layer.digest]))];
  const tags = [...new Set(world.repos.flatMap((r) => r.tags))];
  // What deletes may name: everything but what generated manifests reference in scratch
  // repositories, so that valid pushes stay possible all run long.
  const referenced = new Set(
    world.repos
      .filter((r) => r.scratch)
      .flatMap((r) => [r.refs.config.digest, r.refs.layer.digest, r.refs.manifest.digest]),
  );
  const deletable = [...digests, ...world.repos.flatMap((r) => r.spares)].filter((d) => !referenced.has(d));
  const repoOf = (name: NameChoice) => world.repos.find((r) => r.name === name.path) ?? world.repos[0]!;
  const readName = nameChoice(names, world.maxNameDepth);
  // Writes meant to work go to scratch repositories; names outside the grammar aim at any of them.
  const writeName = nameChoice(scratchNames, world.maxNameDepth);
  const auth = authChoice(world.mode);
  const common = fc.record({ auth, extra: extraHeaders });

  const base = fc
    .record({ method: methodFor('base'), path: fc.constantFrom('/v2/', '/v2'), common })
    .map(({ method, path, common }): FuzzCase => ({
      label: label(method, 'base'),
      endpoint: 'base',
      method,
      tail: path,
      query: [],
      headers: common.extra,
      auth: common.auth,
    }));

  const catalog = fc
    .record({ method: methodFor('catalog'), n: pageSizeValue, last: lastValue(names), common })
    .map(({ method, n, last, common }): FuzzCase => ({
      label: label(method, 'catalog', n !== undefined && 'n', last !== undefined && 'last'),
      endpoint: 'catalog',
      method,
      tail: '/v2/_catalog',
      query: [
        ...(n !== undefined ? [['n', n] as const] : []),
        ...(last !== undefined ? [['last', last] as const] : []),
      ],
      headers: common.extra,
      auth: common.auth,
    }));

  const tagsList = fc
    .record({ method: methodFor('tags'), name: readName, n: pageSizeValue, last: lastValue(tags), common })
    .map(({ method, name, n, last, common }): FuzzCase => ({
      label: label(method, 'tags', name.kind, n !== undefined && 'n', last !== undefined && 'last'),
      endpoint: 'tags',
      method,
      name,
      tail: '/tags/list',
      query: [
        ...(n !== undefined ? [['n', n] as const] : []),
        ...(last !== undefined ? [['last', last] as const] : []),
      ],
      headers: common.extra,
      auth: common.auth,
    }));

  const referrers = fc
    .record({
      method: methodFor('referrers'),
      name: readName,
      digest: digestChoice(digests),
      artifactType: fc.constantFrom(
        undefined,
        undefined,
        '',
        'application/vnd.example.sbom',
        encodeURIComponent('application/vnd.example.sig'),
        'x%2Fy',
        'a'.repeat(3000),
        '%FF',
      ),
      common,
    })
    .map(({ method, name, digest, artifactType, common }): FuzzCase => ({
      label: label(method, 'referrers', name.kind, digest.kind, artifactType !== undefined && 'artifactType'),
      endpoint: 'referrers',
      method,
      name,
      tail: `/referrers/${digest.value}`,
      query: artifactType !== undefined ? [['artifactType', artifactType]] : [],
      headers: common.extra,
      auth: common.auth,
    }));

  const blob = fc
    .record({ method: methodFor('blob'), common })
    .chain((r) =>
      (r.method === 'DELETE' ? writeName : readName).chain((name) => {
        // Reads name the repository's own blobs half the time, so that they find something.
        const own = world.repos.find((repo) => repo.name === name.path);
        const ownBlobs = own ? [own.refs.config.digest, own.refs.layer.digest, ...own.spares] : [];
        const digest =
          r.method === 'DELETE' || ownBlobs.length === 0
            ? digestChoice(r.method === 'DELETE' ? deletable : digests)
            : fc.oneof(
                fc.constantFrom(...ownBlobs).map((value) => ({ value, valid: true, kind: 'own' })),
                digestChoice(digests),
              );
        return digest.map((d) => ({ ...r, name, digest: d }));
      }),
    )
    .map(({ method, name, digest, common }): FuzzCase => ({
      label: label(method, 'blob', name.kind, digest.kind),
      endpoint: 'blob',
      method,
      name,
      tail: `/blobs/${digest.value}`,
      query: [],
      headers: common.extra,
      auth: common.auth,
    }));

  const uploadStart = fc
    .record({
      method: methodFor('upload-start'),
      name: writeName,
      variant: fc.constantFrom(
        'plain',
        'plain',
        'digest',
        'digest',
        'digest-wrong',
        'digest-invalid',
        'mount',
        'mount',
        'mount-odd',
      ),
      digest: digestChoice(digests),
      from: readName,
      body: uploadBody,
      contentType: uploadContentType,
      chunked: fc.boolean(),
      trailingSlash: fc.boolean(),
      common,
    })
    .map((r): FuzzCase => {
      const body = r.body;
      const query: [string, string | undefined][] = [];
      if (r.variant === 'digest') query.push(['digest', sha256Of(body ?? Buffer.alloc(0))]);
      if (r.variant === 'digest-wrong') query.push(['digest', sha256Of('something else')]);
      if (r.variant === 'digest-invalid') query.push(['digest', r.digest.value]);
      if (r.variant === 'mount') query.push(['mount', r.digest.value], ['from', r.from.path]);
      if (r.variant === 'mount-odd') query.push(['mount', r.digest.value], ['from', undefined], ['mount', 'x']);
      return {
        label: label(
          r.method,
          'upload-start',
          r.name.kind,
          r.variant,
          r.variant.startsWith('mount') && r.digest.kind,
          body && 'body',
        ),
        endpoint: 'upload-start',
        method: r.method,
        name: r.name,
        tail: r.trailingSlash ? '/blobs/uploads/' : '/blobs/uploads',
        query,
        headers: [
          ...(r.contentType !== undefined ? [['Content-Type', r.contentType] as [string, string]] : []),
          ...r.common.extra,
        ],
        auth: r.common.auth,
        body,
        chunked: r.chunked && ['POST', 'PUT', 'PATCH'].includes(r.method),
      };
    });

  const upload = fc
    .record({
      method: methodFor('upload'),
      name: fc.oneof({ weight: 5, arbitrary: writeName }, { weight: 1, arbitrary: readName }),
      session: sessionChoice,
      range: rangeChoice,
      body: uploadBody,
      contentType: uploadContentType,
      digest: fc.constantFrom('session', 'session', 'session', 'wrong', 'invalid', 'none', 'empty', 'sha512-of-other'),
      invalidDigest: digestChoice(digests),
      direct: fc.constantFrom(undefined, 'parts=1-2', 'parts=0-1', 'parts=x', 'parts=1-99999'),
      fallback: fc.oneof(
        fc.uuid(),
        fc.constantFrom(
          'not-a-uuid',
          '..',
          '%2e%2e',
          'x'.repeat(300),
          '5F0C7A1E-0000-4000-8000-000000000000',
          encodeURIComponent('é'),
          '%00',
        ),
      ),
      chunked: fc.boolean(),
      common,
    })
    .map((r): FuzzCase => {
      const query: [string, string | undefined][] = [];
      if (r.method === 'PUT' || (r.method === 'POST' && r.direct === undefined)) {
        if (r.digest === 'session') query.push(['digest', SESSION_DIGEST]);
        if (r.digest === 'wrong') query.push(['digest', sha256Of('not this content')]);
        if (r.digest === 'invalid') query.push(['digest', r.invalidDigest.value]);
        if (r.digest === 'empty') query.push(['digest', '']);
        if (r.digest === 'sha512-of-other') query.push(['digest', `sha512:${'ab'.repeat(64)}`]);
      }
      if (r.method === 'POST' && r.direct !== undefined) query.push(r.direct.split('=') as [string, string]);
      const body = ['PATCH', 'PUT', 'POST'].includes(r.method) ? r.body : undefined;
      return {
        label: label(
          r.method,
          'upload',
          r.name.kind,
          `session=${r.session}`,
          body && `range=${typeof r.range === 'string' ? r.range : 'raw'}`,
          r.method === 'PUT' && `digest=${r.digest}`,
        ),
        endpoint: 'upload',
        method: r.method,
        name: r.name,
        tail: '/blobs/uploads/',
        session: r.session,
        sessionFallback: r.session === 'malformed' && /^[0-9a-f-]{36}$/.test(r.fallback) ? 'not-a-uuid' : r.fallback,
        range: body ? r.range : 'none',
        query,
        headers: [
          ...(r.contentType !== undefined ? [['Content-Type', r.contentType] as [string, string]] : []),
          ...r.common.extra,
        ],
        auth: r.common.auth,
        body,
        chunked: r.chunked && ['POST', 'PUT', 'PATCH'].includes(r.method),
      };
    });

  const manifest = fc
    .record({ method: methodFor('manifest'), common, chunked: fc.boolean() })
    .chain((r) =>
      (r.method === 'PUT' || r.method === 'DELETE' ? writeName : readName).chain((name) =>
        fc
          .record({
            reference: referenceChoice(tags, r.method === 'DELETE' ? deletable : digests),
            content: manifestBody(repoOf(name).refs),
            byDigest: fc.boolean(),
          })
          .map((m) => ({ ...r, name, ...m })),
      ),
    )
    .map((r): FuzzCase => {
      const push = r.method === 'PUT';
      // A push by digest names the digest of its own body half the time, so that it can succeed.
      const reference = push && r.byDigest ? sha256Of(r.content.body) : r.reference.value;
      return {
        label: label(
          r.method,
          'manifest',
          r.name.kind,
          push && r.byDigest ? 'by-own-digest' : r.reference.kind,
          push && r.content.kind,
        ),
        endpoint: 'manifest',
        method: r.method,
        name: r.name,
        tail: `/manifests/${reference}`,
        query: [],
        headers: [
          ...(push && r.content.contentType !== undefined
            ? [['Content-Type', r.content.contentType] as [string, string]]
            : []),
          ...r.common.extra,
        ],
        auth: r.common.auth,
        ...(push ? { body: r.content.body, manifestPush: true, chunked: r.chunked } : {}),
      };
    });

  const unknown = fc
    .record({
      method: anyMethod,
      path: fc.constantFrom(
        '/',
        '/v1/',
        '/v2/_catalog/x',
        '/v2/fz/a',
        '/v2/fz/a/blobs',
        '/v2/fz/a/blobs/',
        '/v2/fz/a/manifests/',
        '/v2/fz/a/tags',
        '/v2/fz/a/tags/list/x',
        '/v2/fz/a/referrers/',
        '/v2/fz/a/blobs/uploads/x/y',
        '/v2//',
        '/v2///blobs/uploads/',
        '/token/x',
        '/health',
        '/health/x',
        '/favicon.ico',
        `/${'a'.repeat(4000)}`,
        '/v2/%',
        '/%2e%2e/v2/',
        '/v2/../v2/',
        '/v2/%2e%2e/_catalog',
      ),
      common,
    })
    .map(({ method, path, common }): FuzzCase => ({
      label: label(method, 'unknown', path.length > 40 ? 'long-path' : path),
      endpoint: 'unknown',
      method,
      tail: path,
      query: [],
      headers: common.extra,
      auth: common.auth,
    }));

  return fc.oneof(
    { weight: 1, arbitrary: base },
    { weight: 2, arbitrary: catalog },
    { weight: 4, arbitrary: tagsList },
    { weight: 3, arbitrary: referrers },
    { weight: 6, arbitrary: blob },
    { weight: 6, arbitrary: uploadStart },
    { weight: 12, arbitrary: upload },
    { weight: 12, arbitrary: manifest },
    { weight: 3, arbitrary: tokenCase(world) },
    { weight: 2, arbitrary: unknown },
  );
}

/** The token service: Docker's GET form with and without Basic, the OAuth2 POST forms, and garbage. */
function tokenCase(world: World): fc.Arbitrary<FuzzCase> {
  const names = world.repos.map((r) => r.name);
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const authorization = fc.constantFrom<string | undefined>(
    undefined,
    undefined,
    basic('fuzzer', 'fuzzer password'),
    basic('fuzzer', 'fuzzer password'),
    // Wrong passwords go to a user of their own: its lockout must not stop the fuzz user's sign-ins.
    basic('lockme', 'wrong'),
    basic('nobody', 'x'),
    basic('', ''),
    basic('a b', 'c'),
    basic('u'.repeat(3000), 'p'),
    'Basic !!!',
    'Bearer abc',
    'Basic',
  );
  const scope = fc.oneof(
    fc.constantFrom(...names).map((n) => `repository:${n}:pull,push`),
    fc.constantFrom(
      'registry:catalog:*',
      'repository:fz/a:*',
      'repository:UPPER:pull',
      'repository:a/../b:pull',
      'repository::pull',
      'garbage',
      'repository:fz/a',
      `repository:${'a/'.repeat(100)}b:pull`,
      'repository:fz/a:pull repository:fz/b:push',
      encodeURIComponent('repository:fz/a:pull repository:fz/b:push'),
    ),
  );
  const get = fc
    .record({
      service: fc.constantFrom(undefined, 'registry', 'other', ''),
      scopes: fc.array(scope, { maxLength: 3 }),
      offline: fc.constantFrom(undefined, 'true', 'false', 'yes'),
      authorization,
    })
    .map(({ service, scopes, offline, authorization }): FuzzCase => ({
      label: label(
        'GET',
        'token',
        authorization ? authorization.split(' ')[0] : 'anonymous',
        service !== undefined && `service=${service || 'empty'}`,
      ),
      endpoint: 'token',
      method: 'GET',
      tail: '/token',
      query: [
        ...(service !== undefined ? [['service', service] as const] : []),
        ...scopes.map((s) => ['scope', s.includes('%') ? s : encodeURIComponent(s)] as const),
        ...(offline !== undefined ? [['offline_token', offline] as const] : []),
      ],
      headers: authorization ? [['Authorization', authorization]] : [],
      auth: { kind: 'none' },
    }));
  const post = fc
    .record({
      contentType: fc.constantFrom<string | undefined>(
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded; charset=utf-8',
        'application/json',
        undefined,
        'multipart/form-data; boundary=x',
      ),
      grant: fc.constantFrom<string | undefined>(
        'password',
        'password',
        'refresh_token',
        'refresh_token',
        'client_credentials',
        undefined,
        '',
      ),
      username: fc.constantFrom<string | undefined>(
        'fuzzer',
        'fuzzer',
        'lockme',
        'nobody',
        '',
        undefined,
        'x'.repeat(3000),
      ),
      password: fc.constantFrom<string | undefined>('fuzzer password', 'wrong', '', undefined),
      refresh: fc.constantFrom<string | undefined>('valid', 'garbage', 'a.b.c', '', undefined),
      scope: fc.option(scope, { nil: undefined }),
      service: fc.constantFrom(undefined, 'registry', 'other'),
      raw: fc.option(
        fc.constantFrom(
          '%',
          '&&&=',
          '=x',
          'grant_type=password&username=fuzzer&password=fuzzer%20password&grant_type=refresh_token',
          '\u00ff\u00fe',
        ),
        { nil: undefined },
      ),
    })
    .map((r): FuzzCase => {
      const form = new URLSearchParams();
      if (r.grant !== undefined) form.set('grant_type', r.grant);
      // Wrong passwords never for the fuzz user (see above).
      const password = r.username === 'fuzzer' ? 'fuzzer password' : r.password;
      if (r.grant === 'password' || r.grant === undefined) {
        if (r.username !== undefined) form.set('username', r.username);
        if (password !== undefined) form.set('password', password);
      }
      if (r.grant === 'refresh_token' && r.refresh !== undefined)
        form.set('refresh_token', r.refresh === 'valid' ? REFRESH_TOKEN : r.refresh);
      if (r.scope !== undefined) form.set('scope', r.scope);
      if (r.service !== undefined) form.set('service', r.service);
      return {
        label: label(
          'POST',
          'token',
          `grant=${r.grant ?? 'none'}`,
          r.raw !== undefined && 'raw-body',
          r.contentType?.split(';')[0] ?? 'no-type',
        ),
        endpoint: 'token',
        method: 'POST',
        tail: '/token',
        query: [],
        headers: r.contentType !== undefined ? [['Content-Type', r.contentType]] : [],
        auth: { kind: 'none' },
        body: Buffer.from(r.raw ?? form.toString(), 'latin1'),
      };
    });
  const other = fc.constantFrom('PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS').map((method): FuzzCase => ({
    label: label(method, 'token'),
    endpoint: 'token',
    method,
    tail: '/token',
    query: [],
    headers: [],
    auth: { kind: 'none' },
  }));
  return fc.oneof({ weight: 5, arbitrary: get }, { weight: 5, arbitrary: post }, { weight: 1, arbitrary: other });
}

/** Stands in a form for the refresh token fetched at setup. */
export const REFRESH_TOKEN = '\u0000refresh-token';
