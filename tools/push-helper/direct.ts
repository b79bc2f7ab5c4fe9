/**
 * The push helper's direct mode: a layer's bytes go from the helper straight to the blob store
 * through presigned part URLs that the registry hands out (`POST <upload>?parts=<first>-<last>`),
 * and the registry verifies them by reading them back (`POST <upload>?digest=`, repeated while it
 * answers 202). No body passes through the registry, so no request limit of the registry's
 * functions or of a proxy in front of them applies. docs/large-uploads.md, "Direct uploads".
 */

import { createReadStream } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { MAX_STREAMED_PUT_SIZE, type PresignedPut } from '../../lambda/core/ports/blob-store';
import { Spool } from './spool';

/** The upload's answer that is not what the helper needs: handed back to the client as it is. */
export class UpstreamAnswer extends Error {
  constructor(readonly response: Response) {
    super(`the registry answered ${response.status}`);
  }
}

export interface DirectUploadOptions {
  /**
   * Size of the first parts (at least 5 MiB). Later parts follow the measured rate, each about
   * `PART_SECONDS` of sending, between this and `MAX_PART_SIZE`, and grow further whenever the
   * 10,000 parts S3 allows would otherwise run out (`partSizeFor`).
   */
  readonly partSize: number;
  /**
   * Most parts sent at once. The helper starts with fewer and adds one while that raises the rate
   * (`PartFlow`), within `MAX_BYTES_IN_FLIGHT` of memory.
   */
  readonly concurrency: number;
  /** Sends a bodiless request to the registry. */
  readonly send: (method: string, url: URL, headers: Record<string, string>) => Promise<Response>;
  /** Sends a part to the blob store (by default with node:http, keeping connections open). */
  readonly putPart?: (url: string, body: readonly Uint8Array[], size: number) => Promise<Response>;
  /** Milliseconds since some fixed point (tests). */
  readonly now?: () => number;
  /**
   * A directory to keep the client's bytes in until its digest is known: then a blob of up to
   * `MAX_STREAMED_PUT_SIZE` bytes goes to the blob store in one request that the store checks
   * against the digest (`POST ?put=`), and the registry has nothing to read back. Without it (or for
   * larger blobs, or towards a registry that does not offer that), bytes go in parts as they arrive.
   */
  readonly spoolDir?: string;
  /** Sends a whole spooled blob to its URL (by default with node:http). */
  readonly putFile?: (url: string, headers: Record<string, string>, path: string) => Promise<Response>;
  /** Sends a whole blob from the client's body to its URL (by default with node:http). */
  readonly putStream?: (url: string, headers: Record<string, string>, body: Readable) => Promise<Response>;
}

/** The registry offers no direct uploads; the spooled bytes are the caller's to relay otherwise. */
export class NoDirectUploads extends Error {
  constructor(
    /** The client's bytes, closed; the caller removes it once sent. */
    readonly spool: Spool,
  ) {
    super('the registry offers no direct uploads');
  }
}

/** Part URLs asked for at a time: enough for several parts in flight, few enough to stay fresh. */
const URL_BATCH = 16;
/** S3's limit on parts per multipart upload. */
const MAX_PARTS = 10_000;
/** S3's limit on one part. */
const MAX_S3_PART_SIZE = 5 * 1024 * 1024 * 1024;
/** Largest part the rate alone makes (a slow link keeps small parts, so a retry costs little). */
export const MAX_PART_SIZE = 64 * 1024 * 1024;
/** About how long one part takes to send, once the rate is known. */
const PART_SECONDS = 0.5;
/** Most bytes of parts held in memory at once, whatever the part size and count. */
const MAX_BYTES_IN_FLIGHT = 256 * 1024 * 1024;
/** Attempts per part before the upload fails (a part URL may be used again until it expires). */
const PART_ATTEMPTS = 3;

/**
 * One direct upload as the helper runs it: whatever bodies the client sends (one streamed PATCH,
 * several chunks, or a whole-blob PUT) are cut into parts of `partSize`, sent a few at a time, and
 * the remainder waits for the next body or the finish, where it becomes the last part.
 */
export class DirectUpload {
  /** Bytes the client sent so far. */
  received = 0;
  private nextPart = 1;
  private readonly urls = new Map<number, string>();
  private pending: Uint8Array[] = [];
  private pendingSize = 0;
  private readonly inflight = new Set<Promise<void>>();
  private bytesInFlight = 0;
  private failure: unknown;
  private readonly flow: PartFlow;
  private readonly putPart: (url: string, body: readonly Uint8Array[], size: number) => Promise<Response>;
  /** When the client last sent something (idle uploads are forgotten). */
  touchedAt = Date.now();
  /** The upload's id (the last segment of its URL). */
  readonly id: string;
  /** The file the client's bytes are kept in (spooling), until they are sent. */
  private spool?: Spool;

  constructor(
    /** The upload's URL on the registry. */
    readonly location: URL,
    /**
     * Credentials for the registry: those of the client's latest request, which the relay updates, so
     * a token that expired during a long upload is replaced when the client retries with a new one.
     */
    public headers: Record<string, string>,
    private readonly options: DirectUploadOptions,
  ) {
    this.id = location.pathname.split('/').pop() ?? '';
    this.flow = new PartFlow(options.partSize, options.concurrency, options.now ?? (() => performance.now()));
    this.putPart = options.putPart ?? putWithNodeHttp;
  }

  /**
   * Turns the upload direct by asking for its first part URLs. False when the registry does not
   * offer direct uploads (it predates them); throws `UpstreamAnswer` for other refusals (401, 404).
   */
  async open(): Promise<boolean> {
    if (this.options.spoolDir) {
      // How the bytes go is decided at the finish, once their digest and size are known.
      this.spool = await Spool.create(this.options.spoolDir);
      return true;
    }
    return this.openParts();
  }

  /** Turns the upload direct with part URLs; false when the registry does not offer that. */
  private async openParts(): Promise<boolean> {
    const res = await this.options.send('POST', this.query('parts', `1-${URL_BATCH}`), this.headers);
    if (res.status === 200) {
      this.remember((await res.json()) as { parts: { partNumber: number; url: string }[] });
      return true;
    }
    if (await notOffered(res)) return false;
    throw new UpstreamAnswer(res);
  }

  /** Takes one body of the client's: full parts go out now, the rest waits. */
  async write(body: AsyncIterable<Uint8Array>): Promise<void> {
    this.touchedAt = Date.now();
    if (this.spool) {
      for await (const chunk of body) {
        this.received += chunk.length;
        await this.spool.append(chunk);
      }
    } else {
      await this.writeParts(body);
    }
    this.touchedAt = Date.now();
  }

  private async writeParts(body: AsyncIterable<Uint8Array>): Promise<void> {
    for await (const chunk of body) {
      if (chunk.length === 0) continue;
      this.pending.push(chunk);
      this.pendingSize += chunk.length;
      this.received += chunk.length;
      while (this.pendingSize >= this.partSize()) await this.send(this.take(this.partSize()));
    }
  }

  /**
   * Sends what is left as the last part, waits for every part, then has the registry verify the
   * bytes against `digest`, as many requests as it takes. Returns the registry's final answer
   * (201, or the error it found).
   */
  async finish(digest: string): Promise<Response> {
    if (this.spool) return this.finishSpooled(digest, this.spool);
    return this.finishParts(digest);
  }

  /** Frees what the helper holds of this upload (its spooled bytes). */
  async discard(): Promise<void> {
    const spool = this.spool;
    this.spool = undefined;
    await spool?.remove();
  }

  /**
   * Sends the spooled blob in one checked request when the registry offers that and it is small
   * enough, else in parts; the spool is gone afterwards, whatever happened.
   */
  private async finishSpooled(digest: string, spool: Spool): Promise<Response> {
    await spool.close();
    let handedOver = false;
    try {
      if (this.received <= MAX_STREAMED_PUT_SIZE) {
        const putFile = this.options.putFile ?? putFileWithNodeHttp;
        const sent = await this.putWhole(
          digest,
          this.received,
          (target) => putFile(target.url, target.headers, spool.path),
          PART_ATTEMPTS,
        );
        if (sent) return sent;
      }
      if (!(await this.openParts())) {
        handedOver = true;
        throw new NoDirectUploads(spool);
      }
      this.spool = undefined;
      await this.writeParts(createReadStream(spool.path, { highWaterMark: 1024 * 1024 }));
      return await this.finishParts(digest);
    } finally {
      this.spool = undefined;
      // Handed over, the relay sends the file on and removes it.
      if (!handedOver) await spool.remove();
    }
  }

  /**
   * A whole blob whose digest and size the client named before sending it (a `PUT ?digest=` with
   * `Content-Length`, as containerd, BuildKit, oras and regctl push): streamed straight into one
   * checked request, without keeping it on disk, then finished. A failure cannot be retried here (the
   * body is gone), so it is the client's to retry. Undefined when that does not apply or the registry
   * does not offer it; nothing was read from `body` then.
   */
  async putStreamed(digest: string, size: number, body: Readable): Promise<Response | undefined> {
    if (this.received > 0 || size > MAX_STREAMED_PUT_SIZE || !this.spool) return undefined;
    const putStream = this.options.putStream ?? putStreamWithNodeHttp;
    const answer = await this.putWhole(digest, size, (target) => putStream(target.url, target.headers, body), 1);
    if (answer) {
      this.received = size;
      await this.discard();
    }
    return answer;
  }

  /** A URL for one checked request of the whole blob; undefined when the registry does not offer it. */
  private async askPut(digest: string, size: number): Promise<PresignedPut | undefined> {
    const url = this.query('put', String(size));
    url.searchParams.set('digest', digest);
    const res = await this.options.send('POST', url, this.headers);
    if (res.status === 200) return (await res.json()) as PresignedPut;
    if (await notOffered(res)) return undefined;
    throw new UpstreamAnswer(res);
  }

  /**
   * One checked request for the whole blob (`put`, up to `attempts` times, each with a fresh URL),
   * then the finish. Undefined when the registry does not offer it (the blob then goes in parts);
   * `DIGEST_INVALID` when the blob store found the bytes are not the digest's.
   */
  private async putWhole(
    digest: string,
    size: number,
    put: (target: PresignedPut) => Promise<Response>,
    attempts: number,
  ): Promise<Response | undefined> {
    let target = await this.askPut(digest, size);
    if (!target) return undefined;
    for (let attempt = 1; ; attempt++) {
      const res = await put(target).catch((err: unknown) => err as Error);
      if (res instanceof Response) {
        const text = await res.text();
        if (res.ok) break;
        if (res.status === 400 && /BadDigest|InvalidDigest/.test(text)) {
          // The bytes are not the digest's: the blob store kept none of them.
          await this.options.send('DELETE', this.location, this.headers).then(
            (r) => r.arrayBuffer(),
            () => undefined,
          );
          return digestInvalid(digest);
        }
        const passing = res.status >= 500 || res.status === 403 || res.status === 408 || res.status === 429;
        if (attempt >= attempts || !passing) {
          throw new Error(`the blob store refused the blob: ${res.status} ${text.slice(0, 200)}`);
        }
      } else if (attempt >= attempts) {
        throw new Error(`the blob could not reach the blob store: ${res.message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
      // A fresh URL for the same object: the first may have expired with its signing credentials.
      target = (await this.askPut(digest, size)) ?? target;
    }
    return this.verify(digest);
  }

  private async finishParts(digest: string): Promise<Response> {
    if (this.pendingSize > 0 || this.nextPart === 1) await this.send(this.take(this.pendingSize));
    await Promise.all(this.inflight);
    if (this.failure) throw this.failure;
    return this.verify(digest);
  }

  /** Has the registry verify the upload against `digest`, as many requests as it takes. */
  private async verify(digest: string): Promise<Response> {
    for (;;) {
      const res = await this.options.send('POST', this.query('digest', digest), this.headers);
      if (res.status !== 202) return res;
      await res.arrayBuffer();
    }
  }

  /** The size of the next part: what the rate asks for, and enough for S3's 10,000 parts. */
  private partSize(): number {
    return Math.max(this.flow.partSize(), partSizeFor(this.nextPart, this.options.partSize));
  }

  private async send(part: readonly Uint8Array[]): Promise<void> {
    const size = part.reduce((sum, p) => sum + p.length, 0);
    // Wait for room before this part goes out, not after: the client's next bytes then keep
    // arriving while the full width of parts is in flight.
    while (
      this.inflight.size > 0 &&
      (this.inflight.size >= this.flow.width() || this.bytesInFlight + size > MAX_BYTES_IN_FLIGHT)
    ) {
      await Promise.race(this.inflight);
    }
    if (this.failure) throw this.failure;
    const partNumber = this.nextPart++;
    const url = await this.urlOf(partNumber);
    const started = this.flow.started();
    this.bytesInFlight += size;
    const upload = this.putWithRetries(partNumber, url, part, size)
      .then(() => this.flow.done(started, size))
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.bytesInFlight -= size;
        this.inflight.delete(upload);
      });
    this.inflight.add(upload);
  }

  /**
   * Sends one part, trying again on errors that may pass. A retry asks for a fresh URL: the first
   * may have stopped working (its signing credentials can expire before it does).
   */
  private async putWithRetries(
    partNumber: number,
    firstUrl: string,
    part: readonly Uint8Array[],
    size: number,
  ): Promise<void> {
    let url = firstUrl;
    for (let attempt = 1; ; attempt++) {
      const res = await this.putPart(url, part, size).catch((err: unknown) => err as Error);
      if (res instanceof Response) {
        const text = await res.text();
        if (res.ok) return;
        const passing = res.status >= 500 || res.status === 403 || res.status === 408 || res.status === 429;
        if (attempt >= PART_ATTEMPTS || !passing) {
          throw new Error(`the blob store refused part ${partNumber}: ${res.status} ${text.slice(0, 200)}`);
        }
      } else if (attempt >= PART_ATTEMPTS) {
        throw new Error(`part ${partNumber} could not reach the blob store: ${res.message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
      url = await this.urlOf(partNumber);
    }
  }

  private async urlOf(partNumber: number): Promise<string> {
    let url = this.urls.get(partNumber);
    if (!url) {
      const range = `${partNumber}-${Math.min(partNumber + URL_BATCH - 1, MAX_PARTS)}`;
      const res = await this.options.send('POST', this.query('parts', range), this.headers);
      if (res.status !== 200) throw new UpstreamAnswer(res);
      this.remember((await res.json()) as { parts: { partNumber: number; url: string }[] });
      url = this.urls.get(partNumber);
      if (!url) throw new Error(`the registry gave no URL for part ${partNumber}`);
    }
    this.urls.delete(partNumber);
    return url;
  }

  private remember(body: { parts: { partNumber: number; url: string }[] }): void {
    for (const { partNumber, url } of body.parts) this.urls.set(partNumber, url);
  }

  /** The first `size` pending bytes, as the pieces they arrived in (split at most once, never copied). */
  private take(size: number): Uint8Array[] {
    const part: Uint8Array[] = [];
    let taken = 0;
    while (taken < size) {
      const piece = this.pending.shift() as Uint8Array;
      const wanted = size - taken;
      if (piece.length > wanted) {
        part.push(piece.subarray(0, wanted));
        this.pending.unshift(piece.subarray(wanted));
        taken += wanted;
      } else {
        part.push(piece);
        taken += piece.length;
      }
    }
    this.pendingSize -= size;
    return part;
  }

  private query(name: string, value: string): URL {
    const url = new URL(this.location);
    url.search = '';
    url.searchParams.set(name, value);
    return url;
  }
}

/**
 * Whether the registry answered that it does not offer the request (it predates it): 405, 415, or
 * 400 `UNSUPPORTED`. Such an answer is read to its end; any other is left for the caller.
 */
async function notOffered(res: Response): Promise<boolean> {
  const unsupported = async () => {
    const body = (await res
      .clone()
      .json()
      .catch(() => undefined)) as { errors?: { code?: string }[] } | undefined;
    return body?.errors?.[0]?.code === 'UNSUPPORTED';
  };
  if (!(res.status === 405 || res.status === 415 || (res.status === 400 && (await unsupported())))) return false;
  await res.arrayBuffer();
  return true;
}

/**
 * The least size of part `partNumber`, so that S3's 10,000 parts never run out: from `base`, it
 * doubles every 1,000 parts (up to S3's 5 GiB per part). From 16 MiB, the first 1,000 parts hold
 * 16 GiB, and all 10,000 more than 10 TiB.
 */
export function partSizeFor(partNumber: number, base: number): number {
  return Math.min(base * 2 ** Math.floor((partNumber - 1) / 1000), MAX_S3_PART_SIZE);
}

/**
 * How parts go out: how many at once and how large, from what the parts already sent measured.
 * It starts with two parts in flight and the configured size. Each time as many parts as are in flight
 * have finished, it compares their rate with the previous round's: one more part in flight while that
 * raised the rate by a tenth or more, one fewer when the rate fell by a quarter (up to `max`, at least
 * one). Parts grow to about `PART_SECONDS` of sending at the rate of one connection, up to
 * `MAX_PART_SIZE`: fewer, larger requests on a fast link, small parts on a slow one.
 */
export class PartFlow {
  private current: number;
  private roundBytes = 0;
  private roundParts = 0;
  private roundStart: number;
  private previousRate = 0;
  private size: number;

  constructor(
    private readonly base: number,
    private readonly max: number,
    private readonly now: () => number,
  ) {
    this.current = Math.min(2, max);
    this.size = base;
    this.roundStart = now();
  }

  /** Parts to keep in flight now. */
  width(): number {
    return this.current;
  }

  /** Size of the next part, before S3's part limit is taken into account. */
  partSize(): number {
    return this.size;
  }

  /** When a part starts; hand it back to `done`. */
  started(): number {
    return this.now();
  }

  /** Records a part of `bytes` that started at `startedAt` and was acknowledged now. */
  done(startedAt: number, bytes: number): void {
    const now = this.now();
    const seconds = Math.max((now - startedAt) / 1000, 0.001);
    // One connection's rate, times the seconds a part should take: the next parts' size.
    const wanted = Math.round(((bytes / seconds) * PART_SECONDS) / MiB) * MiB;
    this.size = Math.min(Math.max(this.base, wanted), Math.max(this.base, MAX_PART_SIZE));
    this.roundBytes += bytes;
    this.roundParts += 1;
    if (this.roundParts < this.current) return;
    const rate = this.roundBytes / Math.max((now - this.roundStart) / 1000, 0.001);
    if (this.previousRate === 0 || rate >= this.previousRate * 1.1) {
      this.current = Math.min(this.current + 1, this.max);
    } else if (rate < this.previousRate * 0.75) {
      this.current = Math.max(this.current - 1, 1);
    }
    this.previousRate = rate;
    this.roundBytes = 0;
    this.roundParts = 0;
    this.roundStart = now;
  }
}

const MiB = 1024 * 1024;

const agents = {
  http: new HttpAgent({ keepAlive: true }),
  https: new HttpsAgent({ keepAlive: true }),
};

/**
 * PUTs a part to its presigned URL with node:http, writing the pieces as they are (no copy), over
 * connections kept open between parts. Answers as a `Response`, like `fetch`.
 */
function putWithNodeHttp(url: string, body: readonly Uint8Array[], size: number): Promise<Response> {
  return putWith(url, { 'Content-Length': String(size) }, (req) => {
    for (const piece of body) req.write(piece);
    req.end();
  });
}

/** The answer a registry gives for bytes that do not hash to the digest named. */
function digestInvalid(digest: string): Response {
  const message = `uploaded content does not match ${digest}: the blob store refused it`;
  return new Response(JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message, detail: { digest } }] }), {
    status: 400,
    headers: { 'Content-Type': 'application/json' },
  });
}

/** PUTs a file to a presigned URL with the headers it was signed with, streaming it from disk. */
function putFileWithNodeHttp(url: string, headers: Record<string, string>, path: string): Promise<Response> {
  return putWith(url, headers, (req) => {
    const file = createReadStream(path, { highWaterMark: 1024 * 1024 });
    file.on('error', (err) => req.destroy(err));
    file.pipe(req);
  });
}

/** PUTs a request body as it arrives to a presigned URL with the headers it was signed with. */
function putStreamWithNodeHttp(url: string, headers: Record<string, string>, body: Readable): Promise<Response> {
  return putWith(url, headers, (req) => {
    body.on('error', (err) => req.destroy(err));
    body.pipe(req);
  });
}

/** A PUT over kept-open connections, its body written by `send`; answers as a `Response`, like `fetch`. */
function putWith(url: string, headers: OutgoingHttpHeaders, send: (req: ClientRequest) => void): Promise<Response> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      target,
      { method: 'PUT', agent: secure ? agents.https : agents.http, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => resolve(asResponse(res.statusCode ?? 502, Buffer.concat(chunks))));
      },
    );
    req.on('error', reject);
    send(req);
  });
}

function asResponse(status: number, text: Buffer): Response {
  return new Response(text.length > 0 && ![204, 205, 304].includes(status) ? text : null, { status });
}
