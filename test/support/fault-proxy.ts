import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What an armed proxy does to a request instead of passing it on:
 * - `reset`: resets the connection (TCP RST) as soon as the request line and headers arrived;
 * - `delay`: holds the request `ms` before passing it on, and drops it if the client gave up first;
 * - `answer`: answers with a canned error (`status`, `headers`, `body`; no body to a HEAD);
 * - `hangup`: passes the request on, lets the server act on it, then closes the connection without a
 *   word: the server stopped answering mid-request, and the caller cannot know what happened.
 */
export type Fault =
  | { readonly kind: 'reset' }
  | { readonly kind: 'delay'; readonly ms: number }
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: string;
    }
  | { readonly kind: 'hangup' };

/** A request as the proxy saw it, for choosing what to fault. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}

export interface ArmOptions {
  /** How many matching requests get the fault; then it disarms itself. @default every one */
  readonly times?: number;
  /** Which requests get it. @default all */
  readonly match?: (req: SeenRequest) => boolean;
}

/** An HTTP proxy on loopback in front of one server, passing everything through unless a fault is armed. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`, the endpoint to give SDK clients. */
  readonly url: string;
  arm(fault: Fault, options?: ArmOptions): void;
  clear(): void;
  /** Requests that got the fault since it was armed. */
  readonly faulted: number;
  /** Requests received since the proxy started, faulted or not. */
  readonly received: number;
  close(): Promise<void>;
}

/**
 * Starts a proxy in front of `upstream` (an `http://host:port` origin). Requests pass through
 * unchanged, the Host header included, so the signatures S3 checks still verify.
 */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  let armed: { fault: Fault; left: number; match: (req: SeenRequest) => boolean } | undefined;
  let faulted = 0;
  let received = 0;
  const sockets = new Set<Socket>();

  const server: Server = createServer((req, res) => {
    received += 1;
    const seen: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };
    const current = armed;
    if (!current || current.left <= 0 || !current.match(seen)) {
      pass(req, res, target);
      return;
    }
    current.left -= 1;
    faulted += 1;
    inject(current.fault, req, res, target);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    arm(fault, options = {}) {
      faulted = 0;
      armed = { fault, left: options.times ?? Number.POSITIVE_INFINITY, match: options.match ?? (() => true) };
    },
    clear() {
      armed = undefined;
    },
    get faulted() {
      return faulted;
    },
    get received() {
      return received;
    },
    close: () =>
      new Promise<void>((ok) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => ok());
      }),
  };
}

function inject(fault: Fault, req: IncomingMessage, res: ServerResponse, target: URL): void {
  switch (fault.kind) {
    case 'reset':
      req.socket.resetAndDestroy();
      return;
    case 'delay': {
      // A client that timed out closes its connection: what it sent must then never arrive.
      const timer = setTimeout(() => pass(req, res, target), fault.ms);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    case 'answer':
      // Read the body first, as a server does, so the client is not cut off while it still sends.
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, { ...fault.headers, 'Content-Length': Buffer.byteLength(fault.body) });
        res.end(req.method === 'HEAD' ? undefined : fault.body);
      });
      return;
    case 'hangup':
      pass(req, res, target, () => req.socket.destroy());
      return;
  }
}

/**
 * Forwards one request and relays the answer; with `instead`, the answer is awaited in full and
 * `instead` runs in place of relaying it.
 */
function pass(req: IncomingMessage, res: ServerResponse, target: URL, instead?: () => void): void {
  const upstream = request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    },
    (answer) => {
      if (instead) {
        answer.resume();
        answer.on('end', instead);
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => req.socket.destroy());
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

/** An S3 error answer as S3 writes it (REST-XML), e.g. 503 `SlowDown` or 500 `InternalError`. */
export function s3Error(status: number, code: string, message: string): Fault {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message><RequestId>FAULT</RequestId><HostId>FAULT</HostId></Error>`;
  return { kind: 'answer', status, headers: { 'Content-Type': 'application/xml', 'x-amz-request-id': 'FAULT' }, body };
}

/**
 * A DynamoDB error answer as DynamoDB writes it (JSON 1.0 with `__type`), e.g. 400
 * `com.amazon.coral.availability#ThrottlingException` or 500 `...#InternalServerError`.
 */
export function dynamodbError(status: number, type: string, message: string): Fault {
  return {
    kind: 'answer',
    status,
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': 'FAULT' },
    body: JSON.stringify({ __type: type, message }),
  };
}
