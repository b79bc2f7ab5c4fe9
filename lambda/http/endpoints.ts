import { parseDigest } from '../core/digest';
import {
  BlobUploadInvalidError,
  DigestInvalidError,
  EndpointUnknownError,
  ManifestInvalidError,
  NameInvalidError,
  PaginationInvalidError,
  SizeInvalidError,
  UnsupportedError,
} from '../core/errors';
import { assertValidName } from '../core/names';
import { refuseCacheWrite } from '../core/services/manifest-service';
import type { BlobRecord, UploadSession } from '../core/ports/metadata';
import type { Grant } from '../core/auth/access';
import { REGISTRY_METRICS } from '../config/observability';
import { HEALTH_PATH } from '../config/routes';
import { healthEndpoint } from './health';
import { ROOT_PATH, rootEndpoint } from './root';
import { authorize, type AuthorizedGrant } from './auth';
import { chunkRange } from './content-range';
import { emit, recordCache } from './events';
import { withEventScope } from './event-scope';
import { recordPull } from './pulls';
import { nextLink, json, respond, type HttpResponse } from './response';
import { parseOciPath, type OciRoute } from '../core/paths';
import type { RegistryRequest } from './request';
import type {
  AccessServices,
  BaseServices,
  BlobsServices,
  DiscoveryServices,
  ManifestsServices,
  Services,
} from './services';

/**
 * One function per endpoint group: each takes a request and the services, and returns a response or
 * throws a domain error for the mapper. Routes that API Gateway sent to the wrong group (possible only
 * through greedy routes) are answered like unknown paths.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#endpoints
 */
export type Endpoint<S = Services> = (req: RegistryRequest, services: S) => Promise<HttpResponse>;

export const baseEndpoint: Endpoint<BaseServices> = async (req, services) => {
  // Before any route parsing or authorization: monitors probe it without credentials.
  if (req.rawPath === HEALTH_PATH) return healthEndpoint(req, services);
  if (req.rawPath === ROOT_PATH) return rootEndpoint(req, services);
  const route = parseOciPath(req.rawPath);
  if (route?.kind !== 'base') return unroutable(route, req, services);
  allow(req, ['GET', 'HEAD']);
  await authorize(req, route, services);
  return json(200, {});
};

/** Blob reads and deletes, and uploads: everything under `/v2/<name>/blobs/`. */
export const blobsEndpoint: Endpoint<BlobsServices> = withEvents(async (req, services) => {
  const route = parseOciPath(req.rawPath);
  if (route?.kind === 'upload-start' || route?.kind === 'upload') return uploads(req, route, services);
  if (route?.kind !== 'blob') return unroutable(route, req, services);
  const { blobs } = services;
  const method = allow(req, ['GET', 'HEAD', 'DELETE']);
  const caller = await authorize(req, route, services);
  if (method === 'DELETE') {
    await blobs.delete(route.name, route.digest);
    await emit(req, services, caller);
    return respond(202);
  }
  if (method === 'HEAD') return blobHead(await blobs.stat(route.name, route.digest));
  const located = await blobs.locate(route.name, route.digest);
  // A cached blob too large for this function: the upload data path fills it and streams it at once.
  if (located.fill !== undefined)
    return respond(307, { Location: located.fill, 'Docker-Content-Digest': route.digest });
  const { record, url, cache } = located;
  recordCache(req, cache);
  await emit(req, services, caller);
  return respond(307, { Location: url, 'Docker-Content-Digest': record.digest });
});

async function uploads(
  req: RegistryRequest,
  route: Extract<OciRoute, { kind: 'upload-start' | 'upload' }>,
  services: BlobsServices,
): Promise<HttpResponse> {
  const { uploads, blobs } = services;
  refuseCacheWrite(blobs.cacheRules, route.name);
  if (route.kind === 'upload-start') {
    allow(req, ['POST']);
    const grant = await authorize(req, route, services);
    const mount = req.query.get('mount');
    const from = req.query.get('from');
    // A mount reads `from`: without pull there it is an ordinary upload, and says nothing of `from`.
    if (mount && from && mayPull(grant, from)) {
      const record = await blobs.mount(route.name, mount, from);
      if (record) return pushed(req, services, grant, route.name, record, from);
    }
    const digest = req.query.get('digest');
    if (digest && req.stream) {
      parseDigest(digest);
      const session = await uploads.start(route.name);
      const record = await uploads.putStreamed(route.name, session.id, digest, req.stream, declaredLength(req));
      return pushed(req, services, grant, route.name, record);
    }
    if (digest) {
      checkBody(req);
      const record = await uploads.putWhole(route.name, digest, req.body);
      return pushed(req, services, grant, route.name, record);
    }
    return uploadAccepted(await uploads.start(route.name));
  }
  const method = allow(req, ['GET', 'PATCH', 'PUT', 'DELETE', 'POST']);
  const caller = await authorize(req, route, services);
  switch (method) {
    case 'POST':
      return direct(req, services, caller, route);
    case 'GET':
      return uploadAccepted(await uploads.status(route.name, route.id), 204);
    case 'PATCH': {
      checkBody(req);
      const range = await chunkRange(req, uploads, route.name, route.id);
      return uploadAccepted(await uploads.append(route.name, route.id, req.stream ?? req.body, range));
    }
    case 'PUT': {
      checkBody(req);
      const digest = req.query.get('digest');
      // The spec's failures for this endpoint are 404 and 400; a missing digest is an invalid one.
      if (!digest) {
        throw new DigestInvalidError('PUT to an upload needs ?digest=<digest of the whole blob> to finish it');
      }
      parseDigest(digest);
      const range = await chunkRange(req, uploads, route.name, route.id);
      if (req.stream && !range) {
        const record = await uploads.putStreamed(route.name, route.id, digest, req.stream, declaredLength(req));
        return pushed(req, services, caller, route.name, record);
      }
      let last = req.body;
      if (range) {
        // A ranged final chunk must start where the session ends, like any PATCH.
        await uploads.append(route.name, route.id, req.stream ?? last, range);
        last = new Uint8Array(0);
      }
      const record = await uploads.complete(route.name, route.id, digest, last);
      return pushed(req, services, caller, route.name, record);
    }
    default:
      await uploads.cancel(route.name, route.id);
      return respond(204);
  }
}

/** The length of a streamed body, when the request declared one (a chunked body has none). */
function declaredLength(req: RegistryRequest): number | undefined {
  const length = req.header('content-length');
  if (req.header('transfer-encoding') !== undefined || length === undefined || !/^\d{1,16}$/.test(length)) {
    return undefined;
  }
  return Number(length);
}

const PART_RANGE = /^(\d{1,5})-(\d{1,5})$/;
const SIZE = /^\d{1,16}$/;

/**
 * The push helper's direct protocol (docs/large-uploads.md, "Direct uploads"), an extension on an
 * upload's URL: `POST ?parts=<first>-<last>` answers presigned part URLs for the client to PUT its
 * bytes to storage; `POST ?put=<size>&digest=<digest>` one URL, and the headers to send with it, for
 * a whole blob that storage checks against its digest. `POST ?digest=` finishes: it reads parts back
 * and verifies them (a checked whole blob only needs storage's checksum) and answers 201 like a
 * finishing PUT, or 202 while verification goes on (the client repeats the request).
 */
async function direct(
  req: RegistryRequest,
  services: BlobsServices,
  caller: AuthorizedGrant,
  route: Extract<OciRoute, { kind: 'upload' }>,
): Promise<HttpResponse> {
  const parts = req.query.get('parts');
  const put = req.query.get('put');
  const digest = req.query.get('digest');
  if (put !== null) {
    if (!SIZE.test(put) || !digest)
      throw new BlobUploadInvalidError(`POST ?put= takes the blob's size in bytes and ?digest=`);
    const target = await services.uploads.singlePut(route.name, route.id, Number(put), digest);
    return json(200, target, { 'Docker-Upload-UUID': route.id });
  }
  if (parts !== null) {
    const m = PART_RANGE.exec(parts);
    if (!m) throw new BlobUploadInvalidError(`parts=${parts} is not of the form <first>-<last>`);
    const urls = await services.uploads.partUrls(route.name, route.id, Number(m[1]), Number(m[2]));
    return json(200, { parts: urls }, { 'Docker-Upload-UUID': route.id });
  }
  if (digest) {
    parseDigest(digest);
    const result = await services.uploads.finishDirect(route.name, route.id, digest);
    if (result.done) return pushed(req, services, caller, route.name, result.record);
    return respond(202, {
      ...uploadAccepted(result.session).headers,
      [VERIFIED_HEADER]: `${result.verified}/${result.total}`,
    });
  }
  throw new UnsupportedError(
    'POST on an upload takes ?parts=<first>-<last>, ?put=<size>&digest= or ?digest= (direct uploads)',
  );
}

/** On a 202 from a direct upload's finish: bytes verified so far, of the total. */
export const VERIFIED_HEADER = 'Registry-Upload-Verified';

/**
 * The upload endpoints alone, as the streaming uploader serves them: everything under
 * `/v2/<name>/blobs/uploads`, with bodies streamed instead of held whole.
 */
export const uploadsEndpoint: Endpoint<BlobsServices> = withEvents(async (req, services) => {
  const route = parseOciPath(req.rawPath);
  // The API's routes end at maxNameDepth; the uploader's path pattern does not, so it checks itself.
  if ((route?.kind === 'upload-start' || route?.kind === 'upload') && depth(route.name) <= services.maxNameDepth) {
    return uploads(req, route, services);
  }
  return unroutable(route, req, services);
});

export const manifestsEndpoint: Endpoint<ManifestsServices> = withEvents(async (req, services) => {
  const route = parseOciPath(req.rawPath);
  if (route?.kind !== 'manifest') return unroutable(route, req, services);
  const { manifests } = services;
  const method = allow(req, ['GET', 'HEAD', 'PUT', 'DELETE']);
  const caller = await authorize(req, route, services);
  if (method === 'PUT') {
    const altered = alteredBody(req);
    // Refused as the manifest it is: bytes that are not UTF-8 are no JSON manifest, and when pushed
    // by tag there is no digest of the client's to blame (DIGEST_INVALID would blame one that may
    // well be right for the bytes that were sent).
    if (altered) {
      throw new ManifestInvalidError(`the manifest did not arrive as sent: ${altered}; a manifest is UTF-8 JSON`);
    }
    const record = await manifests.put(route.name, route.reference, req.header('content-type'), req.body);
    await emit(req, services, caller);
    return respond(201, {
      Location: `/v2/${route.name}/manifests/${record.digest}`,
      'Docker-Content-Digest': record.digest,
      ...(record.subject ? { 'OCI-Subject': record.subject } : {}),
    });
  }
  if (method === 'DELETE') {
    await manifests.delete(route.name, route.reference);
    await emit(req, services, caller);
    return respond(202);
  }
  const { record, body, cache } = await manifests.get(route.name, route.reference, method === 'GET');
  recordCache(req, cache);
  await emit(req, services, caller);
  if (method === 'GET') await recordPull(services, route.name, record, route.reference);
  const headers: Record<string, string> = {
    'Content-Type': record.mediaType,
    'Docker-Content-Digest': record.digest,
    'Content-Length': String(record.size),
  };
  // RFC 9111 §5.5: served from the cache because the upstream could not be asked.
  if (cache?.outcome === 'stale') headers.Warning = '110 - "Response is Stale"';
  return respond(200, headers, body);
});

export const discoveryEndpoint: Endpoint<DiscoveryServices> = async (req, services) => {
  const route = parseOciPath(req.rawPath);
  const { discovery } = services;
  if (route?.kind === 'tags' || route?.kind === 'catalog') {
    allow(req, ['GET']);
    await authorize(req, route, services);
    const n = pageSize(req.query.get('n'));
    const last = req.query.get('last') ?? undefined;
    const page =
      route.kind === 'tags' ? await discovery.listTags(route.name, n, last) : await discovery.catalog(n, last);
    const lastItem = page.items[page.items.length - 1];
    const headers: Record<string, string> =
      page.more && lastItem !== undefined ? { Link: nextLink(req.rawPath, n, lastItem) } : {};
    const value = route.kind === 'tags' ? { name: route.name, tags: page.items } : { repositories: page.items };
    return json(200, value, headers);
  }
  if (route?.kind !== 'referrers') return unroutable(route, req, services);
  allow(req, ['GET']);
  await authorize(req, route, services);
  const artifactType = req.query.get('artifactType') ?? undefined;
  const index = await discovery.referrers(route.name, route.digest, artifactType);
  return json(200, index, {
    'Content-Type': index.mediaType,
    ...(artifactType !== undefined ? { 'OCI-Filters-Applied': 'artifactType' } : {}),
  });
};

/**
 * An endpoint whose services' events (recorded as they succeed, lambda/http/event-scope.ts) are kept
 * for this request alone until `emit` publishes them.
 */
function withEvents<S extends Pick<Services, 'events' | 'publishPulls'>>(endpoint: Endpoint<S>): Endpoint<S> {
  return (req, services) => withEventScope(services, () => endpoint(req, services));
}

function mayPull(grant: Grant, name: string): boolean {
  return grant.allows({ type: 'repository', name, actions: ['pull'] }, 'pull');
}

function allow(req: RegistryRequest, methods: readonly string[]): string {
  if (!methods.includes(req.method)) {
    throw new UnsupportedError(`${req.method} is not supported here; allowed: ${methods.join(', ')}`, methods);
  }
  return req.method;
}

/**
 * Answers a path no route of this function serves: too-deep or invalid names (`..` segments that
 * reached the upload data path, say) get NAME_INVALID, the rest 404.
 */
function unroutable(route: OciRoute | undefined, req: RegistryRequest, services: AccessServices): never {
  if (route && 'name' in route && depth(route.name) > services.maxNameDepth) {
    throw new NameInvalidError(
      `repository names may have at most ${services.maxNameDepth} path components; "${route.name}" has ${depth(route.name)}`,
    );
  }
  if (route && 'name' in route) assertValidName(route.name);
  throw new EndpointUnknownError(`${req.method} ${req.rawPath} is not an endpoint of this registry`);
}

function depth(name: string): number {
  return name.split('/').length;
}

function uploadAccepted(session: UploadSession, status = 202): HttpResponse {
  return respond(status, {
    Location: `/v2/${session.name}/blobs/uploads/${session.id}`,
    Range: `0-${Math.max(session.size - 1, 0)}`,
    'Docker-Upload-UUID': session.id,
  });
}

/** A blob HEAD's answer: its length and digest, no body. */
export function blobHead(record: BlobRecord): HttpResponse {
  return respond(200, {
    'Content-Length': String(record.size),
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': record.digest,
  });
}

function blobCreated(name: string, digest: string): HttpResponse {
  return respond(201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

/** 201 for a blob now in the repository, once its `Blob Pushed` event is out. */
async function pushed(
  req: RegistryRequest,
  services: Pick<Services, 'events'>,
  caller: AuthorizedGrant,
  name: string,
  record: BlobRecord,
  mountedFrom?: string,
): Promise<HttpResponse> {
  // A mount moves no bytes.
  if (mountedFrom === undefined) req.record?.(REGISTRY_METRICS.blobBytesPushed, record.size);
  await emit(req, services, caller);
  return blobCreated(name, record.digest);
}

/**
 * Why a whole body may not be the bytes the client sent: not as long as its Content-Length said, or
 * passed on as text with bytes that were not UTF-8 replaced. Undefined for a body that is them (a
 * streamed one is checked as it ends).
 */
function alteredBody(req: RegistryRequest): string | undefined {
  if (req.stream) return undefined;
  const header = req.header('content-length');
  if (header !== undefined && header !== '' && Number(header) !== req.body.length) {
    return `Content-Length is ${header} but ${req.body.length} bytes arrived`;
  }
  if (req.transcoded) return 'it was passed on as text, with bytes that are not UTF-8 replaced by U+FFFD';
  return undefined;
}

/** Blob bytes must arrive as sent: a mismatch is SIZE_INVALID, "provided length did not match content length". */
function checkBody(req: RegistryRequest): void {
  const altered = alteredBody(req);
  if (altered) {
    throw new SizeInvalidError(
      `the body did not arrive as sent: ${altered}; send blob bytes as application/octet-stream`,
    );
  }
}

function pageSize(raw: string | null): number | undefined {
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new PaginationInvalidError(`n must be a non-negative integer, got "${raw}"`);
  return n;
}
