import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type HttpResponse = APIGatewayProxyStructuredResultV2 & { headers: Record<string, string> };

const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' };

/** A response with optional bytes; bodies are always sent base64 so API Gateway returns them byte-exact. */
export function respond(statusCode: number, headers: Record<string, string> = {}, body?: Uint8Array): HttpResponse {
  const result: HttpResponse = { statusCode, headers: { ...API_VERSION, ...headers } };
  if (body && body.length > 0) {
    result.body = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64');
    result.isBase64Encoded = true;
  }
  if (!('Content-Length' in result.headers)) result.headers['Content-Length'] = String(body?.length ?? 0);
  return result;
}

/** A JSON response. */
export function json(statusCode: number, value: unknown, headers: Record<string, string> = {}): HttpResponse {
  return respond(statusCode, { 'Content-Type': 'application/json', ...headers }, Buffer.from(JSON.stringify(value)));
}

/** The `Link` header for the next page of a paginated list. */
export function nextLink(path: string, n: number | undefined, last: string): string {
  const query = new URLSearchParams();
  if (n !== undefined) query.set('n', String(n));
  query.set('last', last);
  return `<${path}?${query.toString()}>; rel="next"`;
}
