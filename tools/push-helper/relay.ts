import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { parseOciPath } from '../../lambda/core/paths';
import { DirectUpload, NoDirectUploads, UpstreamAnswer } from './direct';

export interface PushHelperOptions {
  /** The registry to relay to, e.g. `https://registry.example.com`. */
  readonly upstream: string;
  /**
   * `direct` (the default): upload bodies go straight to the blob store through presigned part URLs
   * and the registry verifies them by reading them back; a registry that does not offer that gets
   * chunks. `chunks`: upload bodies are cut into `Content-Range` PATCHes through the registry.
   */
  readonly mode?: 'direct' | 'chunks';
  /** Chunks mode: largest request body sent upstream; must fit one Lambda invoke (≈ 4.5 MiB raw). */
  readonly chunkSize?: number;
  /**
   * Direct mode: size of the first parts sent to the blob store (at least 5 MiB); later ones follow
   * the measured rate (up to 64 MiB) and S3's limit of 10,000 parts (./direct.ts).
   */
  readonly partSize?: number;
  /** Direct mode: most parts sent at once; the helper adds parts in flight while that helps. */
  readonly partConcurrency?: number;
  /**
   * Direct mode: keep each blob on disk until its digest is known, then send one of up to 5 GiB in a
   * single request the blob store checks against the digest, so the registry reads nothing back
   * (the default, `true`). `false`: parts as the bytes arrive, verified by reading them back.
   */
  readonly spool?: boolean;
  /** Where blobs are kept meanwhile (the system's temporary directory by default). */
  readonly spoolDir?: string;
  readonly log?: (line: string) => void;
}

/** 4 MiB: below the ≈ 4.5 MiB a function takes, and a multiple of nothing in particular. */
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;
/** The first parts: 16 MiB; later ones grow with the rate and the layer (./direct.ts). */
export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
/** Up to eight parts in flight, as many as raise the rate, within 256 MiB of memory. */
export const DEFAULT_PART_CONCURRENCY = 8;
/** A direct upload the client has not touched for this long is forgotten (its session expires upstream). */
const IDLE_UPLOAD_MS = 60 * 60 * 1000;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'te',
  'trailer',
  'proxy-connection',
]);

/**
 * The push helper: a registry on localhost that relays everything to a deployed registry, except
 * upload bodies. In direct mode those go straight to the blob store through presigned part URLs the
 * registry hands out, and the registry reads them back to verify them; in chunks mode (and towards a
 * registry without direct uploads) they are cut into `Content-Range` chunks small enough for the
 * registry's functions. Any client can then push any layer to a registry deployed without the upload
 * data path, or from behind a proxy that limits request bodies. Either way the registry hashes and
 * verifies every byte before the blob exists; the helper only changes how the bytes travel.
 */
export function createPushHelper(options: PushHelperOptions): Server {
  const upstream = new URL(options.upstream);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const log = options.log ?? (() => {});
  const spoolDir = options.spool === false ? undefined : (options.spoolDir ?? tmpdir());
  /** Direct uploads in progress, by upload id; ids the registry would not make direct map to null. */
  const directs = new Map<string, DirectUpload | null>();
  const forgetIdle = setInterval(() => {
    for (const [id, upload] of directs) {
      if (!upload || Date.now() - upload.touchedAt > IDLE_UPLOAD_MS) {
        directs.delete(id);
        void upload?.discard();
      }
    }
  }, IDLE_UPLOAD_MS / 4);
  forgetIdle.unref();
  const server = createServer((req, res) => {
    void relay(req, res).catch((err: unknown) => {
      log(`relay failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) {
        const body = JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `push helper: ${String(err)}` }] });
        res.writeHead(502, { 'Content-Type': 'application/json' }).end(body);
      } else {
        res.destroy();
      }
    });
  });
  server.on('close', () => clearInterval(forgetIdle));
  return server;

  async function relay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', upstream);
    const route = parseOciPath(url.pathname);
    const method = (req.method ?? 'GET').toUpperCase();
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const upload =
      hasBody &&
      ((route?.kind === 'upload' && (method === 'PATCH' || method === 'PUT')) ||
        (route?.kind === 'upload-start' && method === 'POST' && url.searchParams.has('digest')));
    const auth = pick(req.headers, ['authorization', 'user-agent']);
    const known = route?.kind === 'upload' ? directs.get(route.id) : undefined;
    if (known && route?.kind === 'upload') {
      known.headers = auth;
      if (method === 'GET' || method === 'HEAD') return replyUpload(res, known, 204);
      if (method === 'DELETE') {
        directs.delete(route.id);
        await known.discard();
      }
    }
    const finishing = method === 'PUT' && url.searchParams.has('digest');
    if ((upload || (known && finishing)) && (options.mode ?? 'direct') === 'direct') {
      const handled = await relayDirect(req, res, url, method, auth, known);
      if (handled) return;
    }
    if (!upload) {
      const answer = await send(method, url, forwardHeaders(req.headers), hasBody ? Readable.toWeb(req) : undefined);
      return reply(res, answer, method);
    }
    log(`${method} ${url.pathname}: relaying the body in chunks of ${chunkSize} bytes`);
    let location = url;
    let offset = 0;
    const digest = url.searchParams.get('digest');
    if (route?.kind === 'upload-start') {
      // A monolithic POST ?digest= becomes POST, chunks, PUT ?digest=.
      const start = await send('POST', new URL(url.pathname, upstream), auth);
      if (start.status !== 202) return reply(res, start, method);
      location = new URL(start.headers.get('location') ?? '', upstream);
    } else {
      const range = /^(?:bytes[ =])?(\d+)-/.exec(String(req.headers['content-range'] ?? ''));
      offset = range ? Number(range[1]) : await sessionSize(location, auth);
      location.searchParams.delete('digest');
    }
    return relayChunks(res, req, method, location, offset, auth, digest);
  }

  /**
   * Sends `source` to the upload at `location` in `Content-Range` PATCHes from `offset`, then, for a
   * PUT, finishes it with `digest`; answers the client as the registry answered.
   */
  async function relayChunks(
    res: ServerResponse,
    source: AsyncIterable<Buffer>,
    method: string,
    start: URL,
    from: number,
    auth: Record<string, string>,
    digest: string | null,
  ): Promise<void> {
    let location = start;
    let offset = from;
    let last: Response | undefined;
    for await (const chunk of chunks(source, chunkSize)) {
      last = await send(
        'PATCH',
        location,
        {
          ...auth,
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + chunk.length - 1}`,
        },
        chunk,
      );
      if (last.status !== 202) return reply(res, last, method);
      offset += chunk.length;
      location = new URL(last.headers.get('location') ?? location.href, upstream);
    }
    if (method === 'PATCH') {
      return reply(res, last ?? (await send('GET', location, auth)), method, 202);
    }
    const finish = new URL(location);
    if (digest) finish.searchParams.set('digest', digest);
    return reply(res, await send('PUT', finish, auth), method);
  }

  /**
   * Direct mode for one upload request: the body goes into the upload's parts, and a finishing
   * request has the registry verify them. False when the registry does not offer direct uploads
   * (nothing was read from the request then, so the chunks path can take it).
   */
  async function relayDirect(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
    auth: Record<string, string>,
    known: DirectUpload | null | undefined,
  ): Promise<boolean> {
    if (known === null) return false;
    const route = parseOciPath(url.pathname);
    let upload = known;
    try {
      if (!upload) {
        let location = url;
        if (route?.kind === 'upload-start') {
          // A monolithic POST ?digest= becomes POST, parts, then the direct finish.
          const start = await send('POST', new URL(url.pathname, upstream), auth);
          if (start.status !== 202) throw new UpstreamAnswer(start);
          location = new URL(start.headers.get('location') ?? '', upstream);
        }
        const opened = new DirectUpload(new URL(location.pathname, upstream), auth, {
          partSize: options.partSize ?? DEFAULT_PART_SIZE,
          concurrency: options.partConcurrency ?? DEFAULT_PART_CONCURRENCY,
          send,
          ...(spoolDir ? { spoolDir } : {}),
        });
        if (!(await opened.open())) {
          log(`${url.pathname}: the registry offers no direct uploads; relaying in chunks`);
          directs.set(opened.id, null);
          // The chunks path opens its own session for a monolithic POST: this one is not needed.
          if (route?.kind === 'upload-start') await (await send('DELETE', location, auth)).arrayBuffer();
          return false;
        }
        log(`${method} ${url.pathname}: sending the body to the blob store in parts`);
        directs.set(opened.id, opened);
        upload = opened;
      }
      const range = /^(?:bytes[ =])?(\d+)-/.exec(String(req.headers['content-range'] ?? ''));
      if (range && Number(range[1]) !== upload.received) {
        // Answered before the body was read: do not keep receiving it.
        res.writeHead(416, {
          Range: `0-${Math.max(upload.received - 1, 0)}`,
          'Content-Length': '0',
          Connection: 'close',
        });
        res.end(() => req.destroy());
        return true;
      }
      const digest = url.searchParams.get('digest');
      const length = Number(req.headers['content-length'] ?? Number.NaN);
      if (digest && method !== 'PATCH' && !range && Number.isSafeInteger(length)) {
        // The whole blob, its digest and size named up front: straight to the blob store.
        const streamed = await upload.putStreamed(digest, length, req);
        if (streamed) {
          directs.delete(upload.id);
          await reply(res, streamed, method);
          return true;
        }
      }
      await upload.write(req);
      if (method === 'PATCH' || !digest) {
        replyUpload(res, upload, 202);
        return true;
      }
      const finishing = upload;
      const answer = await finishing.finish(digest).catch(async (err: unknown) => {
        if (!(err instanceof NoDirectUploads)) throw err;
        // Spooled, then found the registry offers no direct uploads: the spool goes in chunks.
        log(`${url.pathname}: the registry offers no direct uploads; relaying in chunks`);
        directs.delete(finishing.id);
        try {
          await relayChunks(res, createReadStream(err.spool.path), method, finishing.location, 0, auth, digest);
        } finally {
          await err.spool.remove();
        }
        return undefined;
      });
      if (!answer) return true;
      if (answer.status === 201 || (answer.status >= 400 && answer.status !== 401)) {
        directs.delete(upload.id);
      }
      await reply(res, answer, method);
      return true;
    } catch (err) {
      if (err instanceof UpstreamAnswer) {
        await reply(res, err.response, method);
        return true;
      }
      if (upload) {
        // A part that could not be sent spoils the upload: free it upstream; the client starts over.
        directs.delete(upload.id);
        await upload.discard();
        await send('DELETE', upload.location, upload.headers).then(
          (r) => r.arrayBuffer(),
          () => undefined,
        );
      }
      throw err;
    }
  }

  /** The upload's state as the client sees it: every byte it sent so far was taken. */
  function replyUpload(res: ServerResponse, upload: DirectUpload, status: number): void {
    res
      .writeHead(status, {
        Location: upload.location.pathname,
        Range: `0-${Math.max(upload.received - 1, 0)}`,
        'Docker-Upload-UUID': upload.id,
        'Docker-Distribution-API-Version': 'registry/2.0',
        'Content-Length': '0',
      })
      .end();
  }

  async function sessionSize(location: URL, headers: Record<string, string>): Promise<number> {
    const status = await send('GET', location, headers);
    const range = /^0-(\d+)$/.exec(status.headers.get('range') ?? '');
    await status.arrayBuffer();
    // A session with no bytes reports 0-0, as the reference registry does.
    return range && Number(range[1]) > 0 ? Number(range[1]) + 1 : 0;
  }

  function send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body?: RequestInit['body'],
  ): Promise<Response> {
    return fetch(url, {
      method,
      headers,
      body,
      redirect: 'manual',
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit);
  }

  /** Copies an upstream answer to the client, keeping `Location`s on the helper's own host. */
  async function reply(res: ServerResponse, answer: Response, method: string, status?: number): Promise<void> {
    const headers: Record<string, string> = {};
    answer.headers.forEach((value, key) => {
      if (!HOP_BY_HOP.has(key) && key !== 'content-encoding') headers[key] = value;
    });
    const location = answer.headers.get('location');
    if (location) {
      const target = new URL(location, upstream);
      // Blob downloads redirect to storage: those stay absolute; the registry's own paths become relative.
      if (target.origin === upstream.origin) headers.location = `${target.pathname}${target.search}`;
    }
    const body = Buffer.from(await answer.arrayBuffer());
    headers['content-length'] = method === 'HEAD' ? (answer.headers.get('content-length') ?? '0') : String(body.length);
    res.writeHead(status ?? answer.status, headers);
    res.end(method === 'HEAD' ? undefined : body);
  }
}

function forwardHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(key)) out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function pick(headers: IncomingHttpHeaders, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = headers[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}

/** Re-frames a stream into pieces of exactly `size` bytes (the last may be shorter). */
async function* chunks(source: AsyncIterable<Buffer>, size: number): AsyncIterable<Buffer> {
  let pending: Buffer[] = [];
  let pendingSize = 0;
  for await (const piece of source) {
    pending.push(piece);
    pendingSize += piece.length;
    while (pendingSize >= size) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, size);
      pending = [all.subarray(size)];
      pendingSize = all.length - size;
    }
  }
  if (pendingSize > 0) yield Buffer.concat(pending);
}
