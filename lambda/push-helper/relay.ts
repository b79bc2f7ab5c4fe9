import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Readable } from 'node:stream';
import { parseOciPath } from '../http/paths';

export interface PushHelperOptions {
  /** The registry to relay to, e.g. `https://registry.example.com`. */
  readonly upstream: string;
  /** Largest request body sent upstream; must fit one Lambda invoke (≈ 4.5 MiB raw). */
  readonly chunkSize?: number;
  readonly log?: (line: string) => void;
}

/** 4 MiB: below the ≈ 4.5 MiB a function takes, and a multiple of nothing in particular. */
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

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
 * that an upload body of any size is cut into `Content-Range` chunks small enough for the
 * registry's functions. Any client can then push any layer to a registry deployed without the upload
 * data path, or from behind a proxy that limits request bodies. The registry still hashes and
 * verifies every byte; the helper only changes how the bytes are framed.
 */
export function createPushHelper(options: PushHelperOptions): Server {
  const upstream = new URL(options.upstream);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const log = options.log ?? (() => {});
  return createServer((req, res) => {
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

  async function relay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', upstream);
    const route = parseOciPath(url.pathname);
    const method = (req.method ?? 'GET').toUpperCase();
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const upload =
      hasBody &&
      ((route?.kind === 'upload' && (method === 'PATCH' || method === 'PUT')) ||
        (route?.kind === 'upload-start' && method === 'POST' && url.searchParams.has('digest')));
    if (!upload) {
      const answer = await send(method, url, forwardHeaders(req.headers), hasBody ? Readable.toWeb(req) : undefined);
      return reply(res, answer, method);
    }
    log(`${method} ${url.pathname}: relaying the body in chunks of ${chunkSize} bytes`);
    const auth = pick(req.headers, ['authorization', 'user-agent']);
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
    let last: Response | undefined;
    for await (const chunk of chunks(req, chunkSize)) {
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
