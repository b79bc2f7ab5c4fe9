import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { RegistryMetric } from '../config/observability';

/** The parts of an HTTP API (payload 2.0) event the endpoints use, with the body as exact bytes. */
export interface RegistryRequest {
  readonly method: string;
  readonly rawPath: string;
  readonly query: URLSearchParams;
  /** Header lookup, case-insensitive. */
  header(name: string): string | undefined;
  /** The whole body (API Gateway delivers bodies whole). */
  readonly body: Uint8Array;
  /** The body as it arrives, when a server streams it (the uploader); then `body` is empty. */
  readonly stream?: AsyncIterable<Uint8Array>;
  /**
   * The gateway passed the body as text and it holds U+FFFD, what a decoder puts for bytes that
   * are not UTF-8: the bytes the client sent may be lost, so `body` must not be trusted to be them.
   */
  readonly transcoded?: boolean;
  readonly requestId: string;
  /** Adds a sample to one of the request's metrics (set by whoever observes the request). */
  readonly record?: (metric: RegistryMetric, value: number) => void;
}

/**
 * Builds a request from an API Gateway event. Binary bodies arrive base64-encoded and are decoded to
 * bytes directly; text bodies (the gateway passes some Content-Types as a string, `+json` among
 * them) are UTF-8 encoded back, which gives the bytes the client sent only if they were UTF-8. Bytes
 * that were not come back as U+FFFD, so such a body is marked `transcoded` (docs/storage.md,
 * "Request bodies").
 */
export function fromEvent(event: APIGatewayProxyEventV2): RegistryRequest {
  const headers = new Map<string, string>();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers.set(k.toLowerCase(), v);
  const raw = event.body ?? '';
  const body = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  return {
    method: event.requestContext.http.method.toUpperCase(),
    rawPath: event.rawPath,
    query: new URLSearchParams(event.rawQueryString ?? ''),
    header: (name) => headers.get(name.toLowerCase()),
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    ...(!event.isBase64Encoded && raw.includes('\ufffd') ? { transcoded: true } : {}),
    requestId: event.requestContext.requestId,
  };
}
