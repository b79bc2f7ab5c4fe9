import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { parseDigest } from '../core/digest';
import { EndpointUnknownError } from '../core/errors';
import type { OpenFill } from '../core/services/pull-through';
import { authorize } from '../http/auth';
import { withEventScope } from '../http/event-scope';
import { blobHead } from '../http/endpoints';
import { emit, recordCache } from '../http/events';
import type { RegistryRequest } from '../http/request';
import { respond, type HttpResponse } from '../http/response';
import type { Services } from '../http/services';

/** `/v2/<name>/blobs/_fill/<digest>`: FILL_PATH_PATTERN's requests. */
const FILL_PATH = /^\/v2\/(.+)\/blobs\/_fill\/([^/]+)$/;

/** True for a path the fill serves. */
export function isFillPath(rawPath: string): boolean {
  return FILL_PATH.test(rawPath);
}

/** Bytes buffered towards the store while the client reads (and the other way round). */
const STORE_BUFFER = 8 * 1024 * 1024;

/**
 * A cached blob too large for the blobs function, which redirected its GET here: the caller may
 * pull the repository, and then either the blob is stored (another fill finished: 307 to it, as the
 * function answers) or this request fetches it from the upstream and streams the bytes to the
 * client and into the store at once (docs/pull-through-cache.md, "Blobs"). The store verifies the
 * digest as the bytes pass; when they do not match, nothing is kept and the client's response is
 * broken off, so it never receives a complete body under a digest that is not its own (it checks
 * the digest too).
 *
 * Returns the response to write when there is no stream; `undefined` once it has answered itself.
 */
export function serveFill(
  req: RegistryRequest,
  res: ServerResponse,
  services: Services,
  onError: (message: string, fields: Record<string, unknown>) => void,
): Promise<HttpResponse | undefined> {
  return withEventScope(services, () => fill(req, res, services, onError));
}

async function fill(
  req: RegistryRequest,
  res: ServerResponse,
  services: Services,
  onError: (message: string, fields: Record<string, unknown>) => void,
): Promise<HttpResponse | undefined> {
  const m = FILL_PATH.exec(req.rawPath);
  if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) {
    throw new EndpointUnknownError(`${req.method} ${req.rawPath} is not an endpoint of this registry`);
  }
  const name = m[1] as string;
  const digest = parseDigest(m[2] as string).value;
  const caller = await authorize(req, { kind: 'blob', name, digest }, services);
  if (req.method === 'HEAD') return blobHead(await services.blobs.stat(name, digest));
  const opened = await services.blobs.openFill(name, digest);
  if ('record' in opened) {
    const { url } = await services.blobs.presigned(opened.record);
    await emit(req, services, caller);
    return respond(307, { Location: url, 'Docker-Content-Digest': digest });
  }
  try {
    const record = await stream(opened, res, digest);
    recordCache(req, { ...opened.cache, bytes: record.size });
    await emit(req, services, caller);
  } catch (err) {
    onError('pull-through fill failed', {
      requestId: req.requestId,
      repository: name,
      digest,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
    if (!res.headersSent) throw err;
    res.destroy();
  } finally {
    await opened.release();
  }
  return undefined;
}

/** Sends the upstream's bytes to the client and the store; resolves with the stored blob once verified. */
async function stream(opened: OpenFill, res: ServerResponse, digest: string) {
  const toStore = new PassThrough({ highWaterMark: STORE_BUFFER });
  const stored = opened.store(toStore);
  // Never resolves; rejects with the store's failure, so that no wait below outlives it.
  const failed = stored.then(
    () => new Promise<never>(() => {}),
    (err: unknown) => Promise.reject(err),
  );
  failed.catch(() => {});
  // A client that left does not stop the fill: the next pull finds the blob stored.
  let clientGone = false;
  const clientClosed = new Promise<void>((resolve) =>
    res.once('close', () => {
      if (!res.writableFinished) clientGone = true;
      resolve();
    }),
  );
  // Set one by one, so that the access line can read the length back.
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  if (opened.size !== undefined) res.setHeader('Content-Length', String(opened.size));
  res.writeHead(200);
  try {
    for await (const chunk of opened.body) {
      toStore.write(chunk);
      if (!clientGone) res.write(chunk);
      // The slower of the two sets the pace: wait until neither holds more than its mark.
      while (toStore.writableNeedDrain || (!clientGone && res.writableNeedDrain)) {
        const stop = new AbortController();
        const waits: Promise<unknown>[] = [failed];
        if (toStore.writableNeedDrain) waits.push(drained(toStore, stop.signal));
        if (!clientGone && res.writableNeedDrain) waits.push(drained(res, stop.signal), clientClosed);
        try {
          await Promise.race(waits);
        } finally {
          stop.abort();
        }
      }
    }
    toStore.end();
  } catch (err) {
    toStore.destroy(err instanceof Error ? err : new Error(String(err)));
    await stored.catch(() => {});
    throw err;
  }
  const record = await stored;
  if (!clientGone) res.end();
  return record;
}

/** Resolves on the stream's next `drain`; the listener goes when `signal` aborts. */
function drained(stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<unknown> {
  return once(stream, 'drain', { signal }).catch(() => undefined);
}
