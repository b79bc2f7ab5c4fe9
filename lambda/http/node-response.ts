import type { ServerResponse } from 'node:http';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/**
 * Writes a handler result (an HTTP API payload 2.0 response) to a Node response, as API Gateway
 * would: base64 bodies decoded to bytes, no body on HEAD, Content-Length from the result when given.
 */
export function writeResponse(res: ServerResponse, result: APIGatewayProxyStructuredResultV2, method: string): void {
  res.statusCode = result.statusCode ?? 200;
  for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, String(v));
  const body =
    result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  if (!res.hasHeader('Content-Length')) res.setHeader('Content-Length', body.length);
  res.end(method === 'HEAD' ? undefined : body);
}
