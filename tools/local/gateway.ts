import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { withCallCount, type CallCounts } from './call-counter';
import { writeResponse } from '../../lambda/http/node-response';
import { splitRequestTarget } from '../../lambda/http/request-target';
import { matchesPathPattern, RouteMatcher, type Route } from './route-matcher';

/** Lambda's synchronous invoke payload limit: the whole event, body base64-encoded, must fit. */
export const LAMBDA_PAYLOAD_LIMIT = 6_291_456;
/** HTTP API's fixed integration timeout. */
export const INTEGRATION_TIMEOUT_MS = 30_000;

export type LambdaFn = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  /** The function that served it (its endpoint group, or its logical id), or `uploader` for the upload data path. */
  readonly group: string;
  readonly status: number;
  readonly calls: CallCounts;
}

export interface LocalGatewayOptions<K extends string = string> {
  readonly routes: readonly Route<K>[];
  readonly handlers: Readonly<Record<K, LambdaFn>>;
  /** Called after each request with the AWS calls it made (for the call-budget tests). */
  readonly onRequest?: (record: RequestRecord) => void;
  readonly timeoutMs?: number;
  /**
   * The upload data path and the path pattern routed to it, as the deployed distribution routes
   * them; everything else goes to the functions, with their limits.
   */
  readonly uploader?: { readonly listener: RequestListener; readonly pathPatterns: readonly string[] };
  /**
   * Stands for a reverse proxy serving the registry under this path (`/reg`): requests must carry
   * it, and it is stripped before routing, as the proxy (or an API mapping) strips it; others are
   * 404. The functions add it back to the paths they answer with (`REGISTRY_PATH_PREFIX`).
   */
  readonly pathPrefix?: string;
}

/** Bytes of base64 needed for `n` raw bytes. */
const base64Length = (n: number) => Math.ceil(n / 3) * 4;

/**
 * An HTTP server that does what API Gateway (HTTP API, payload 2.0, `$default` stage) does in front
 * of the functions: route selection, the event shape, base64 for non-text bodies, Lambda's 6 MB
 * payload limit and the 30 s timeout. Whatever works through it works deployed.
 */
export function createLocalGateway<K extends string>(options: LocalGatewayOptions<K>): Server {
  const matcher = new RouteMatcher(options.routes);
  const timeoutMs = options.timeoutMs ?? INTEGRATION_TIMEOUT_MS;
  return createServer((req, res) => {
    void serve(req, res).catch((err) => {
      // What HTTP API answers when the function fails (an error, a crash, its timeout).
      if (!res.headersSent) answer(res, req.method, 500, { message: 'Internal Server Error' });
      process.stderr.write(`local gateway: ${String(err)}\n`);
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (options.pathPrefix !== undefined && !stripPrefix(req, options.pathPrefix)) {
      answer(res, req.method, 404, { message: 'Not Found' });
      return;
    }
    // Routed and handed on exactly as sent, as API Gateway does: no dot segments resolved.
    const { rawPath, rawQueryString } = splitRequestTarget(req.url);
    if (options.uploader && options.uploader.pathPatterns.some((p) => matchesPathPattern(p, rawPath))) {
      const { listener } = options.uploader;
      // The load balancer in front of the deployed uploader says which scheme the client used.
      req.headers['x-forwarded-proto'] ??= 'http';
      const { calls } = await withCallCount(
        () =>
          new Promise<void>((resolve) => {
            res.on('close', resolve);
            listener(req, res);
          }),
      );
      options.onRequest?.({
        method: req.method ?? 'GET',
        path: rawPath,
        group: 'uploader',
        status: res.statusCode,
        calls,
      });
      return;
    }
    const group = matcher.match(rawPath);
    // API Gateway names every answer, its own 413 and 503 included, by the request id it gives the event.
    const requestId = randomUUID();
    res.setHeader('apigw-requestid', requestId);
    const body = await readBody(req, LAMBDA_PAYLOAD_LIMIT);
    if (body === undefined) {
      const message = `request body too large: after base64 encoding it exceeds the ${LAMBDA_PAYLOAD_LIMIT}-byte Lambda payload limit (about 4.5 MiB of raw bytes); send it in smaller chunks`;
      // Stock clients send the whole body before they read an answer: one closed early shows them
      // only a broken pipe. Read the rest and drop it (a bounded time), then answer.
      const drained = await drain(req, DRAIN_MS);
      answer(
        res,
        req.method,
        413,
        { errors: [{ code: 'SIZE_INVALID', message }] },
        drained ? {} : { Connection: 'close' },
      );
      if (!drained) res.on('finish', () => req.destroy());
      options.onRequest?.({ method: req.method ?? 'GET', path: rawPath, group, status: 413, calls: new Map() });
      return;
    }
    const event = toEvent(req, rawPath, rawQueryString, body, group, requestId);
    const eventSize = Buffer.byteLength(JSON.stringify(event));
    if (eventSize > LAMBDA_PAYLOAD_LIMIT) {
      const message = `request is ${eventSize} bytes as a Lambda event; the limit is ${LAMBDA_PAYLOAD_LIMIT}`;
      answer(res, req.method, 413, { errors: [{ code: 'SIZE_INVALID', message }] });
      return;
    }
    const context = { awsRequestId: event.requestContext.requestId, functionName: String(group) } as Context;
    const invocation = withCallCount(() => options.handlers[group](event, context));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([invocation, timeout]).finally(() => clearTimeout(timer));
    if (outcome === 'timeout') {
      answer(res, req.method, 503, { message: 'Service Unavailable' });
      return;
    }
    writeResponse(res, outcome.result, req.method ?? 'GET');
    options.onRequest?.({
      method: req.method ?? 'GET',
      path: rawPath,
      group,
      status: res.statusCode,
      calls: outcome.calls,
    });
  }
}

/** How long the rest of a refused body is read before the connection is closed on it. */
const DRAIN_MS = 30_000;

/** Reads and drops what remains of a body; false when it did not end within `ms`. */
function drain(req: IncomingMessage, ms: number): Promise<boolean> {
  if (req.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      req.pause();
      resolve(false);
    }, ms);
    req.on('end', () => {
      clearTimeout(timer);
      resolve(true);
    });
    req.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    req.resume();
  });
}

/**
 * Reads the body, or returns undefined as soon as it could no longer fit in one invoke, leaving the
 * rest unread (and the stream open, so that it can be drained).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (base64Length(size) > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
  });
}

/** Content types HTTP API passes as text; everything else arrives base64-encoded. */
function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return type.startsWith('text/') || /[/+](json|xml|javascript)$/.test(type);
}

function toEvent(
  req: IncomingMessage,
  rawPath: string,
  rawQueryString: string,
  body: Buffer,
  group: string,
  requestId: string = randomUUID(),
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    const value = req.rawHeaders[i + 1] as string;
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  // API Gateway adds these; the functions read the scheme from them (for the token realm).
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-port'] = String(req.socket.localPort ?? '');
  headers['x-forwarded-for'] = req.socket.remoteAddress ?? '127.0.0.1';
  const text = isTextual(headers['content-type']);
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQueryString)) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: `ANY ${group}`,
    rawPath,
    rawQueryString,
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0] as string,
      http: {
        method: req.method ?? 'GET',
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: `ANY ${group}`,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    ...(body.length > 0 ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
}

/** A JSON answer the gateway gives itself, written like any function result. */
function answer(
  res: ServerResponse,
  method: string | undefined,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const result = {
    statusCode: status,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(value),
  };
  writeResponse(res, result, method ?? 'GET');
}

/** Takes `prefix` off the request target (`/reg/v2/` becomes `/v2/`); false when it does not start with it. */
function stripPrefix(req: IncomingMessage, prefix: string): boolean {
  const target = req.url ?? '/';
  const rest = target.slice(prefix.length);
  if (!target.startsWith(prefix) || !(rest === '' || rest.startsWith('/') || rest.startsWith('?'))) return false;
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  return true;
}
