import { digestOf } from '../../lambda/core/bytes';
import { MediaTypes } from '../../lambda/core/manifest';
import {
  check,
  errorCode,
  expectStatus,
  ok,
  size,
  type PushedBlob,
  type SmokeContext,
  type StepOutcome,
} from './context';
import type { Reply } from './http';
import { pushBlob, pushManifest, TAGS } from './uploads';

/**
 * The smoke test's reads and deletes of what it pushed: HEADs, pulls through the blob store's
 * redirect, a ranged read, referrers, tag list pages, and deleting it all again.
 */

const ACCEPT = { Accept: Object.values(MediaTypes).join(', ') };
const ARTIFACT_TYPE = 'application/vnd.serverless-oci-registry.smoke.v1';
const EMPTY_TYPE = 'application/vnd.oci.empty.v1+json';
/** Pages followed at most, so a registry whose Link never ends cannot keep the test running. */
const MAX_PAGES = 500;

/**
 * HEAD of every blob pushed: API Gateway may drop the Content-Length of a bodiless answer, and
 * clients then take the blob for empty, so the header must be there, non-zero and exact.
 */
export async function headBlobs(ctx: SmokeContext): Promise<StepOutcome> {
  const image = needImage(ctx);
  const blobs = [image.config, image.layer, ...ctx.pushed.large];
  for (const blob of blobs) {
    const res = await ctx.http.request('HEAD', `/v2/${ctx.name}/blobs/${blob.digest}`);
    expectStatus(res, 200, `HEAD of ${blob.what}`);
    checkHeadHeaders(res, blob.bytes.length, blob.digest, blob.what);
  }
  return ok(`${blobs.length} blobs`);
}

/** HEAD of the manifest by tag and by digest: the same checks, on the manifests endpoint. */
export async function headManifest(ctx: SmokeContext): Promise<StepOutcome> {
  const image = needImage(ctx);
  for (const reference of [image.tag, image.digest]) {
    const res = await ctx.http.request('HEAD', `/v2/${ctx.name}/manifests/${reference}`, { headers: ACCEPT });
    expectStatus(res, 200, `HEAD of manifest ${reference}`);
    checkHeadHeaders(res, image.manifest.length, image.digest, `manifest ${reference}`);
  }
  return ok('by tag and by digest');
}

function checkHeadHeaders(res: Reply, expected: number, digest: string, what: string): void {
  const length = res.headers.get('content-length');
  check(length !== null, `HEAD of ${what} has no Content-Length (expected ${expected})`, res);
  check(length !== '0', `HEAD of ${what} answers Content-Length 0 for ${expected} bytes`, res);
  check(length === String(expected), `HEAD of ${what} answers Content-Length ${length}, not ${expected}`, res);
  const answered = res.headers.get('docker-content-digest');
  check(answered === digest, `HEAD of ${what} answers Docker-Content-Digest ${answered}, not ${digest}`, res);
}

/** GET of the manifest by tag, then of each blob it names through the redirect. */
export async function pullByTag(ctx: SmokeContext): Promise<StepOutcome> {
  const image = needImage(ctx);
  const manifest = await getManifest(ctx, image.tag, image.digest);
  const named = manifest.config ? [manifest.config, ...(manifest.layers ?? [])] : [];
  const blobs = [image.config, image.layer];
  check(
    named.length === 2 && named.every((d, i) => d.digest === blobs[i]!.digest),
    'the manifest pulled does not name the blobs pushed',
    manifest.reply,
  );
  for (const blob of blobs) await getBlob(ctx, blob);
  return ok('manifest and 2 blobs, digests verified');
}

/** GET of the manifest by digest, and of a large layer through the redirect. */
export async function pullByDigest(ctx: SmokeContext): Promise<StepOutcome> {
  const image = needImage(ctx);
  await getManifest(ctx, image.digest, image.digest);
  const large = ctx.pushed.large[0];
  if (large) await getBlob(ctx, large);
  return ok(large ? `manifest and the ${size(large.bytes.length)} layer, digests verified` : 'manifest');
}

/** `Range: bytes=0-99` through the redirect: the blob store must answer with just those bytes. */
export async function rangeRead(ctx: SmokeContext): Promise<StepOutcome> {
  const blob = ctx.pushed.large[0] ?? needImage(ctx).layer;
  const res = await getBlob(ctx, blob, 'bytes=0-99');
  expectStatus(res, 206, 'the ranged GET at the blob store');
  check(Buffer.from(res.body).equals(blob.bytes.subarray(0, 100)), 'the ranged GET did not answer bytes 0-99', res);
  return ok(`206, 100 of ${size(blob.bytes.length)}`);
}

/** An artifact whose subject is the image, then the image's referrers list must name it. */
export async function referrers(ctx: SmokeContext): Promise<StepOutcome> {
  const image = needImage(ctx);
  const emptyBytes = Buffer.from('{}');
  const empty: PushedBlob = { bytes: emptyBytes, digest: digestOf(emptyBytes), what: 'the empty config' };
  // Other artifacts of a repository given with --repository may use it too: only a new one is removed later.
  const present = await ctx.http.request('HEAD', `/v2/${ctx.name}/blobs/${empty.digest}`);
  if (present.status !== 200) await pushBlob(ctx, empty);
  const descriptor = { mediaType: EMPTY_TYPE, digest: empty.digest, size: empty.bytes.length };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      artifactType: ARTIFACT_TYPE,
      config: descriptor,
      layers: [descriptor],
      subject: { mediaType: MediaTypes.ociManifest, digest: image.digest, size: image.manifest.length },
    }),
  );
  const digest = await pushManifest(ctx, digestOf(manifest), manifest);
  // Referrers go first when deleting, so that nothing points at a manifest already gone.
  ctx.pushed.manifests.splice(ctx.pushed.manifests.indexOf(digest), 1);
  ctx.pushed.manifests.unshift(digest);
  ctx.pushed.artifact = { digest, manifest, artifactType: ARTIFACT_TYPE };
  const res = await ctx.http.request('GET', `/v2/${ctx.name}/referrers/${image.digest}`);
  expectStatus(res, 200, 'GET referrers');
  const type = res.headers.get('content-type') ?? '';
  check(type.startsWith(MediaTypes.ociIndex), `the referrers list is ${type || 'untyped'}, not an OCI index`, res);
  const index = res.json<{ schemaVersion?: number; manifests?: Descriptor[] }>('an OCI index');
  check(index.schemaVersion === 2 && Array.isArray(index.manifests), 'the referrers list is not an OCI index', res);
  const listed = index.manifests!.find((d) => d.digest === digest);
  check(listed !== undefined, `the referrers list does not name the artifact ${digest}`, res);
  check(
    listed!.artifactType === ARTIFACT_TYPE && listed!.size === manifest.length,
    "the referrers list gives the artifact's type or size wrong",
    res,
  );
  return ok(`${index.manifests!.length} referrer${index.manifests!.length === 1 ? '' : 's'}, artifact listed`);
}

/** More tags on the image, then `tags/list?n=1` followed through its Link headers to the end. */
export async function tagPages(ctx: SmokeContext): Promise<StepOutcome> {
  const image = needImage(ctx);
  for (const tag of TAGS.slice(1)) {
    await pushManifest(ctx, tag, image.manifest);
    ctx.pushed.tags.push(tag);
  }
  const seen: string[] = [];
  let next: URL | undefined = new URL(`/v2/${ctx.name}/tags/list?n=1`, ctx.http.base);
  let pages = 0;
  while (next) {
    const res = await ctx.http.request('GET', next);
    expectStatus(res, 200, `GET ${next.pathname}${next.search}`);
    const page = res.json<{ tags?: string[] | null }>('a tag list');
    const tags = page.tags ?? [];
    check(tags.length <= 1, `a page of n=1 holds ${tags.length} tags`, res);
    seen.push(...tags);
    const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '');
    next = link ? new URL(link[1]!, next) : undefined;
    check(++pages < MAX_PAGES || !next, `the tag list still has a next page after ${MAX_PAGES} pages`, res);
    if (!next) {
      const missing = ctx.pushed.tags.filter((t) => !seen.includes(t));
      check(missing.length === 0, `the tag list pages never named ${missing.join(', ')}`, res);
      const sorted = [...seen].sort();
      check(
        seen.every((t, i) => t === sorted[i]),
        'the tag list is not in lexical order',
        res,
      );
    }
  }
  return ok(`${seen.length} tags on ${pages} pages`);
}

/** Deletes the manifests by digest, then the blobs; the manifest must then be unknown. */
export async function deleteAll(ctx: SmokeContext): Promise<StepOutcome> {
  const image = needImage(ctx);
  const { manifests, blobs } = ctx.pushed;
  const counts = `${manifests.length} manifests, ${blobs.size} blobs`;
  while (manifests.length > 0) {
    const digest = manifests[0]!;
    expectStatus(await ctx.http.request('DELETE', `/v2/${ctx.name}/manifests/${digest}`), 202, `DELETE ${digest}`);
    manifests.shift();
  }
  for (const digest of [...blobs]) {
    expectStatus(await ctx.http.request('DELETE', `/v2/${ctx.name}/blobs/${digest}`), 202, `DELETE blob ${digest}`);
    blobs.delete(digest);
  }
  for (const reference of [image.digest, image.tag]) {
    const res = await ctx.http.request('GET', `/v2/${ctx.name}/manifests/${reference}`, { headers: ACCEPT });
    expectStatus(res, 404, `GET of the deleted manifest ${reference}`);
    const code = errorCode(res);
    check(code === 'MANIFEST_UNKNOWN', `GET of the deleted manifest answers 404 ${code ?? 'without a code'}`, res);
  }
  const res = await ctx.http.request('HEAD', `/v2/${ctx.name}/blobs/${image.layer.digest}`);
  expectStatus(res, 404, 'HEAD of a deleted blob');
  return ok(`${counts}; then 404 MANIFEST_UNKNOWN`);
}

interface Descriptor {
  readonly mediaType?: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
}

/** GET of a manifest: the digest header and the bytes' own digest must both be `digest`. */
async function getManifest(ctx: SmokeContext, reference: string, digest: string) {
  const res = await ctx.http.request('GET', `/v2/${ctx.name}/manifests/${reference}`, { headers: ACCEPT });
  expectStatus(res, 200, `GET manifest ${reference}`);
  check(res.headers.get('docker-content-digest') === digest, `manifest ${reference} is not ${digest}`, res);
  check(digestOf(res.body) === digest, `the bytes of manifest ${reference} do not hash to ${digest}`, res);
  const type = res.headers.get('content-type');
  check(type === MediaTypes.ociManifest, `manifest ${reference} comes as ${type}, not as pushed`, res);
  return { reply: res, ...res.json<{ config?: Descriptor; layers?: Descriptor[] }>('a manifest') };
}

/**
 * GET of a blob: the registry answers 307 to the blob store on another host, which is asked
 * without the registry's credentials (S3 refuses presigned requests that carry them). Returns the
 * blob store's answer; a whole read is checked against the blob's digest.
 */
async function getBlob(ctx: SmokeContext, blob: PushedBlob, range?: string): Promise<Reply> {
  const headers: Record<string, string> = range ? { Range: range } : {};
  const res = await ctx.http.request('GET', `/v2/${ctx.name}/blobs/${blob.digest}`, { headers });
  expectStatus(res, 307, `GET of ${blob.what}`);
  const target = new URL(res.header('location'), ctx.http.base);
  check(target.host !== ctx.http.base.host, "the blob redirect stays on the registry's host", res);
  // The blob store may redirect again (S3 to a bucket's own region; local mode's endpoint to its S3
  // server): followed a few times, still without the registry's credentials.
  let data = await ctx.http.send('GET', target, { headers });
  for (let hops = 0; hops < 3 && [301, 302, 307, 308].includes(data.status) && data.header('location'); hops++) {
    data = await ctx.http.send('GET', new URL(data.header('location'), target), { headers });
  }
  if (range) return data;
  expectStatus(data, 200, 'the GET at the blob store');
  check(digestOf(data.body) === blob.digest, `the bytes downloaded do not hash to ${blob.digest}`, data);
  return data;
}

function needImage(ctx: SmokeContext) {
  const image = ctx.pushed.image;
  if (!image) throw new Error('no image was pushed');
  return image;
}
