import { digestOf } from '../../lambda/core/bytes';
import { MediaTypes } from '../../lambda/core/manifest';
import { DirectUpload, UpstreamAnswer } from '../push-helper/direct';
import {
  check,
  errorCode,
  expectStatus,
  MiB,
  ok,
  randomBlob,
  size,
  skipped,
  type PushedBlob,
  type SmokeContext,
  type StepOutcome,
} from './context';
import { SmokeFailure, type Reply } from './http';

/**
 * The smoke test's pushes: a small image by tag, and one large layer through each way the stack
 * takes blob bytes (docs/large-uploads.md): one streamed PATCH (the upload data path), chunks of at
 * most 4 MiB through the functions, and the push helper's direct upload to the blob store.
 */

/** Largest chunk sent through the functions: 4 MiB base64-encoded still fits one Lambda payload. */
const CHUNK = 4 * MiB;
/** Parts of a direct upload: S3's smallest part, so the large layer takes more than one. */
const DIRECT_PART = 5 * MiB;
/** The tags the image is pushed under: the first by `push image`, the rest by the tag list step. */
export const TAGS = ['smoke-a', 'smoke-b', 'smoke-c'] as const;
const OCTETS = { 'Content-Type': 'application/octet-stream' };

/** Config blob, one small layer and an OCI manifest pushed by tag. */
export async function pushImage(ctx: SmokeContext): Promise<StepOutcome> {
  const layer = randomBlob(4096, 'the small layer');
  const configBytes = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
  );
  const config: PushedBlob = { bytes: configBytes, digest: digestOf(configBytes), what: 'the image config' };
  for (const blob of [config, layer]) await pushBlob(ctx, blob);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.bytes.length,
      },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.bytes.length }],
      annotations: { 'org.opencontainers.image.description': 'serverless-oci-registry smoke test' },
    }),
  );
  const digest = await pushManifest(ctx, TAGS[0], manifest);
  ctx.pushed.image = { tag: TAGS[0], digest, manifest, config, layer };
  ctx.pushed.tags.push(TAGS[0]);
  return ok(`${TAGS[0]} = ${digest.slice(0, 19)}…, 2 blobs`);
}

/** PUTs a manifest under a tag or its digest; returns the digest, checked against the bytes. */
export async function pushManifest(ctx: SmokeContext, reference: string, manifest: Uint8Array): Promise<string> {
  const digest = digestOf(manifest);
  const res = await ctx.http.request('PUT', `/v2/${ctx.name}/manifests/${reference}`, {
    body: manifest,
    headers: { 'Content-Type': MediaTypes.ociManifest },
  });
  expectStatus(res, 201, `PUT manifest ${reference}`);
  check(
    res.headers.get('docker-content-digest') === digest,
    `the manifest's Docker-Content-Digest is not ${digest}`,
    res,
  );
  if (!ctx.pushed.manifests.includes(digest)) ctx.pushed.manifests.push(digest);
  return digest;
}

/** A small blob in two requests: POST opens the session, PUT ?digest= carries all the bytes. */
export async function pushBlob(ctx: SmokeContext, blob: PushedBlob): Promise<void> {
  const location = await startUpload(ctx);
  await finishUpload(ctx, location, blob, blob.bytes);
}

/** (a) The whole layer in one streamed PATCH, as docker and podman send it. */
export async function uploadStreamed(ctx: SmokeContext): Promise<StepOutcome> {
  const blob = randomBlob(ctx.largeSize, 'the streamed layer');
  const location = await startUpload(ctx);
  const res = await ctx.http.request('PATCH', location, { body: () => streamOf(blob.bytes), headers: OCTETS });
  if (res.status === 413) {
    // Only the upload data path takes a body this size; the functions refuse it before reading it.
    await cancelUpload(ctx, location);
    return skipped(`no upload data path (the PATCH got 413 ${errorCode(res) ?? 'from the gateway'})`);
  }
  expectStatus(res, 202, 'the streamed PATCH');
  check(res.headers.get('range') === `0-${blob.bytes.length - 1}`, 'the PATCH did not take every byte', res);
  await finishUpload(ctx, nextLocation(ctx, res, location), blob);
  ctx.pushed.large.push(blob);
  return ok(`${size(blob.bytes.length)} in one PATCH`);
}

/** (b) Chunks of at most 4 MiB with Content-Range: what the functions alone take. */
export async function uploadChunked(ctx: SmokeContext): Promise<StepOutcome> {
  const blob = randomBlob(ctx.largeSize, 'the chunked layer');
  let location = await startUpload(ctx);
  let chunks = 0;
  for (let at = 0; at < blob.bytes.length; at += CHUNK) {
    const chunk = blob.bytes.subarray(at, at + CHUNK);
    const end = at + chunk.length - 1;
    const res = await ctx.http.request('PATCH', location, {
      body: chunk,
      headers: { ...OCTETS, 'Content-Range': `${at}-${end}` },
    });
    expectStatus(res, 202, `the PATCH of bytes ${at}-${end}`);
    check(res.headers.get('range') === `0-${end}`, `after bytes ${at}-${end} the upload's Range is not 0-${end}`, res);
    location = nextLocation(ctx, res, location);
    chunks++;
  }
  await finishUpload(ctx, location, blob);
  ctx.pushed.large.push(blob);
  return ok(`${size(blob.bytes.length)} in ${chunks} PATCHes`);
}

/** (c) The push helper's direct upload: parts go to presigned URLs, the registry reads them back. */
export async function uploadDirect(ctx: SmokeContext): Promise<StepOutcome> {
  const blob = randomBlob(ctx.largeSize, 'the direct-upload layer');
  const location = await startUpload(ctx);
  // DirectUpload speaks in Responses; these keep the exchange behind each for a failure report.
  const replies = new WeakMap<Response, Reply>();
  let lastPart: Reply | undefined;
  let parts = 0;
  const asResponse = (reply: Reply) => {
    const empty = reply.body.length === 0 || [204, 205, 304].includes(reply.status);
    const res = new Response(empty ? null : reply.body, { status: reply.status, headers: reply.headers });
    replies.set(res, reply);
    return res;
  };
  const upload = new DirectUpload(
    location,
    {},
    {
      partSize: DIRECT_PART,
      concurrency: 2,
      send: async (method, url) => asResponse(await ctx.http.request(method, url)),
      putPart: async (url, body) => {
        lastPart = await ctx.http.send('PUT', new URL(url), { body: Buffer.concat(body) });
        if (lastPart.status === 200) parts++;
        return asResponse(lastPart);
      },
    },
  );
  try {
    if (!(await upload.open())) {
      await cancelUpload(ctx, location);
      return skipped('the registry does not offer direct uploads (POST ?parts= is refused as unsupported)');
    }
    await upload.write(
      (async function* () {
        yield blob.bytes;
      })(),
    );
    const res = replies.get(await upload.finish(blob.digest))!;
    expectStatus(res, 201, 'finishing the direct upload (POST ?digest=)');
    checkCommitted(res, blob);
  } catch (err) {
    if (err instanceof UpstreamAnswer) {
      const reply = replies.get(err.response);
      throw new SmokeFailure(`asking for part URLs: the registry answered ${err.response.status}`, reply?.exchange);
    }
    if (err instanceof SmokeFailure) throw err;
    // A part the blob store refused: DirectUpload says which, the last part's exchange shows why.
    throw new SmokeFailure(String((err as Error).message ?? err), lastPart?.exchange);
  }
  ctx.pushed.uploads.delete(location.href);
  ctx.pushed.blobs.add(blob.digest);
  ctx.pushed.large.push(blob);
  return ok(`${size(blob.bytes.length)} in ${parts} parts to the blob store`);
}

/** POST /v2/<name>/blobs/uploads/: a new session's URL. */
async function startUpload(ctx: SmokeContext): Promise<URL> {
  const res = expectStatus(await ctx.http.request('POST', `/v2/${ctx.name}/blobs/uploads/`), 202, 'opening an upload');
  const location = new URL(res.header('location'), ctx.http.base);
  ctx.pushed.uploads.add(location.href);
  return location;
}

/** PUT <upload>?digest=, with the bytes or none: the blob must then exist under its digest. */
async function finishUpload(ctx: SmokeContext, location: URL, blob: PushedBlob, body?: Uint8Array): Promise<void> {
  const url = new URL(location);
  url.searchParams.set('digest', blob.digest);
  const res = await ctx.http.request('PUT', url, { ...(body ? { body } : {}), headers: OCTETS });
  expectStatus(res, 201, `PUT ?digest= of ${blob.what}`);
  checkCommitted(res, blob);
  ctx.pushed.uploads.delete(location.href);
  ctx.pushed.blobs.add(blob.digest);
}

function checkCommitted(res: Reply, blob: PushedBlob): void {
  const digest = res.headers.get('docker-content-digest');
  check(digest === blob.digest, `the blob's Docker-Content-Digest is ${digest}, not ${blob.digest}`, res);
}

/** The upload's URL for its next request, from the answer (sessions may move it). */
function nextLocation(ctx: SmokeContext, res: Reply, previous: URL): URL {
  const next = new URL(res.header('location'), ctx.http.base);
  ctx.pushed.uploads.delete(previous.href);
  ctx.pushed.uploads.add(next.href);
  return next;
}

/** DELETE on an upload's URL, so a path that was skipped leaves no session behind. */
export async function cancelUpload(ctx: SmokeContext, location: URL | string): Promise<void> {
  await ctx.http.request('DELETE', location).catch(() => undefined);
  ctx.pushed.uploads.delete(new URL(location, ctx.http.base).href);
}

/** The bytes as a stream of 64 KiB pieces, so fetch sends them chunked, without a length. */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, (at += 64 * 1024)));
    },
  });
}
