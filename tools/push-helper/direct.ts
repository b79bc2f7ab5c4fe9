/**
 * The push helper's direct mode: a layer's bytes go from the helper straight to the blob store
 * through presigned part URLs that the registry hands out (`POST <upload>?parts=<first>-<last>`),
 * and the registry verifies them by reading them back (`POST <upload>?digest=`, repeated while it
 * answers 202). No body passes through the registry, so no request limit of the registry's
 * functions or of a proxy in front of them applies. docs/large-uploads.md, "Direct uploads".
 */

/** The upload's answer that is not what the helper needs: handed back to the client as it is. */
export class UpstreamAnswer extends Error {
  constructor(readonly response: Response) {
    super(`the registry answered ${response.status}`);
  }
}

export interface DirectUploadOptions {
  /** Size of the parts cut from the client's bodies (at least 5 MiB; 10,000 parts at most). */
  readonly partSize: number;
  /** Parts uploaded at once. */
  readonly concurrency: number;
  /** Sends a bodiless request to the registry. */
  readonly send: (method: string, url: URL, headers: Record<string, string>) => Promise<Response>;
  /** Sends a part to the blob store. */
  readonly putPart?: (url: string, body: Uint8Array) => Promise<Response>;
}

/** Part URLs asked for at a time: enough for several parts in flight, few enough to stay fresh. */
const URL_BATCH = 16;
/** S3's limit on parts per multipart upload. */
const MAX_PARTS = 10_000;
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
  private failure: unknown;
  /** When the client last sent something (idle uploads are forgotten). */
  touchedAt = Date.now();
  /** The upload's id (the last segment of its URL). */
  readonly id: string;

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
  }

  /**
   * Turns the upload direct by asking for its first part URLs. False when the registry does not
   * offer direct uploads (it predates them); throws `UpstreamAnswer` for other refusals (401, 404).
   */
  async open(): Promise<boolean> {
    const res = await this.options.send('POST', this.query('parts', `1-${URL_BATCH}`), this.headers);
    if (res.status === 200) {
      this.remember((await res.json()) as { parts: { partNumber: number; url: string }[] });
      return true;
    }
    if (res.status === 405 || res.status === 415 || (res.status === 400 && (await isUnsupported(res.clone())))) {
      await res.arrayBuffer();
      return false;
    }
    throw new UpstreamAnswer(res);
  }

  /** Takes one body of the client's: full parts go out now, the rest waits. */
  async write(body: AsyncIterable<Uint8Array>): Promise<void> {
    this.touchedAt = Date.now();
    for await (const chunk of body) {
      if (chunk.length === 0) continue;
      this.pending.push(chunk);
      this.pendingSize += chunk.length;
      this.received += chunk.length;
      while (this.pendingSize >= this.options.partSize) await this.send(this.take(this.options.partSize));
    }
    this.touchedAt = Date.now();
  }

  /**
   * Sends what is left as the last part, waits for every part, then has the registry verify the
   * bytes against `digest`, as many requests as it takes. Returns the registry's final answer
   * (201, or the error it found).
   */
  async finish(digest: string): Promise<Response> {
    if (this.pendingSize > 0 || this.nextPart === 1) await this.send(this.take(this.pendingSize));
    await Promise.all(this.inflight);
    if (this.failure) throw this.failure;
    for (;;) {
      const res = await this.options.send('POST', this.query('digest', digest), this.headers);
      if (res.status !== 202) return res;
      await res.arrayBuffer();
    }
  }

  private async send(part: Uint8Array): Promise<void> {
    const partNumber = this.nextPart++;
    const url = await this.urlOf(partNumber);
    const upload = this.putWithRetries(partNumber, url, part)
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.inflight.delete(upload));
    this.inflight.add(upload);
    while (this.inflight.size >= this.options.concurrency) await Promise.race(this.inflight);
    if (this.failure) throw this.failure;
  }

  /**
   * Sends one part, trying again on errors that may pass. A retry asks for a fresh URL: the first
   * may have stopped working (its signing credentials can expire before it does).
   */
  private async putWithRetries(partNumber: number, firstUrl: string, part: Uint8Array): Promise<void> {
    const put = this.options.putPart ?? ((u, body) => fetch(u, { method: 'PUT', body }));
    let url = firstUrl;
    for (let attempt = 1; ; attempt++) {
      const res = await put(url, part).catch((err: unknown) => err as Error);
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

  private take(size: number): Uint8Array {
    const all = Buffer.concat(this.pending);
    this.pending = all.length > size ? [all.subarray(size)] : [];
    this.pendingSize = all.length - size;
    return all.subarray(0, size);
  }

  private query(name: string, value: string): URL {
    const url = new URL(this.location);
    url.search = '';
    url.searchParams.set(name, value);
    return url;
  }
}

async function isUnsupported(res: Response): Promise<boolean> {
  const body = (await res.json().catch(() => undefined)) as { errors?: { code?: string }[] } | undefined;
  return body?.errors?.[0]?.code === 'UNSUPPORTED';
}
