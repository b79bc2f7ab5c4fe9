import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

/** One request exactly as it goes on the wire: the path as given (no `..` resolved), headers in order. */
export interface WireRequest {
  readonly method: string;
  /** Path and query, sent as they are. */
  readonly path: string;
  /** Name/value pairs, duplicates allowed, in the order given. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: Buffer;
  /**
   * Send the body with `Transfer-Encoding: chunked` and no Content-Length, as streaming clients do.
   * Only for methods Node frames that way (POST, PUT, PATCH).
   */
  readonly chunked?: boolean;
}

export interface WireResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * Sends a request with Node's HTTP client on a connection of its own. Neither `fetch` nor `new URL`
 * is used, because both resolve `..` and `%2e%2e` and normalise what the fuzz means to send.
 * A server that answers before reading the whole body (and closes) is fine: the answer counts.
 */
export function send(base: string, req: WireRequest, timeoutMs = 40_000): Promise<WireResponse> {
  const { hostname, port } = new URL(base);
  // With headers given as a list Node adds no Host, which HTTP/1.1 requires.
  const raw: string[] = ['Host', `${hostname}:${port}`];
  for (const [k, v] of req.headers) raw.push(k, v);
  const declares = req.headers.some(([k]) => k.toLowerCase() === 'content-length');
  if (req.body && !req.chunked && !declares) raw.push('Content-Length', String(req.body.length));
  return new Promise((resolve, reject) => {
    let answered = false;
    const r = httpRequest({ hostname, port, method: req.method, path: req.path, headers: raw, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.setTimeout(timeoutMs, () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    // EPIPE/ECONNRESET while the body is still going out, after the server answered and closed, is
    // the server refusing the rest of the body: the answer already arrived (or is arriving).
    r.on('error', (err) => {
      if (!answered) reject(err);
    });
    if (req.body && req.body.length > 0) {
      if (req.chunked) {
        // Two writes, so that the body really goes out in chunks.
        const half = Math.floor(req.body.length / 2);
        r.write(req.body.subarray(0, half));
        r.end(req.body.subarray(half));
      } else {
        r.end(req.body);
      }
    } else {
      r.end();
    }
  });
}
