import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SignedRequest } from '../../tools/local/stack/sigv4';

/** A loopback HTTP server standing for an AWS service: it keeps every request as it arrived. */
export interface RecordingServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every request so far, in the form the local endpoint's SigV4 verifier takes. */
  readonly received: SignedRequest[];
  stop(): Promise<void>;
}

/**
 * Starts a server that records each request whole (method, path, query, headers, body) and then
 * lets `answer` respond to it; an answer that never responds leaves the request hanging.
 */
export async function startRecordingServer(
  answer: (request: SignedRequest, res: ServerResponse) => void,
): Promise<RecordingServer> {
  const received: SignedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = asSigned(req, Buffer.concat(chunks));
      received.push(request);
      answer(request, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function asSigned(req: IncomingMessage, body: Buffer): SignedRequest {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return {
    method: req.method ?? 'GET',
    path: query < 0 ? url : url.slice(0, query),
    query: query < 0 ? '' : url.slice(query + 1),
    headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v])),
    body,
  };
}
