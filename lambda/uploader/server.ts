import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { uploadsEndpoint } from '../http/endpoints';
import { withPathPrefix } from '../http/path-prefix';
import { errorResponse } from '../http/error-mapper';
import { writeResponse } from '../http/node-response';
import { Observability, REQUEST_ID_HEADER, type RequestObservation } from '../http/observability';
import type { RegistryRequest } from '../http/request';
import { splitRequestTarget } from '../http/request-target';
import type { HttpResponse } from '../http/response';
import type { Services } from '../http/services';
import { refuseWritesInMaintenance } from '../http/write-guard';
import { REGISTRY_METRICS } from '../config/observability';
import { TooManyRequestsError } from '../core/errors';
import type { UploadAdmission } from './admission';
import { isFillPath, serveFill } from './fill';
import { recordUpstreamFailure } from '../http/events';

/**
 * The upload data path: the upload endpoints with request bodies streamed into storage instead of
 * held whole, so a layer of any size reaches S3 in one request from any client (docker's and
 * podman's single streamed PATCH, containerd's and oras's single PUT). Runs behind the registry's
 * own domain, so upload `Location`s stay on the registry host; the same code runs in local mode.
 *
 * Logs and metrics have the functions' shape (group `uploader`): an access line and an EMF line per
 * request, an `X-Request-Id` on every response.
 */
export function uploaderListener(
  services: Services,
  observability: Observability = new Observability({ group: 'uploader' }),
  admission?: UploadAdmission,
): RequestListener {
  return (req, res) => {
    void admit(req, res, services, observability, admission);
  };
}

/** Bounds the bodies streamed at once (./admission): a request with a body waits for a slot. */
async function admit(
  req: IncomingMessage,
  res: ServerResponse,
  services: Services,
  observability: Observability,
  admission: UploadAdmission | undefined,
): Promise<void> {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!admission || !hasBody) return handle(req, res, services, observability);
  const release = await admission.acquire();
  if (!release) {
    const requestId = randomUUID();
    const result = errorResponse(
      new TooManyRequestsError(
        `this uploader is streaming as many uploads as its memory holds and none finished within the wait; retry in ${BUSY_RETRY_SECONDS} s`,
        BUSY_RETRY_SECONDS,
      ),
      requestId,
      () => {},
    );
    result.headers[REQUEST_ID_HEADER] = requestId;
    res.setHeader('Connection', 'close');
    res.on('finish', () => req.destroy());
    writeResponse(res, result, (req.method ?? 'GET').toUpperCase());
    observability.logger.warn('upload refused: no stream slot within the wait', { requestId, path: req.url });
    return;
  }
  res.on('close', release);
  return handle(req, res, services, observability, admission.inFlight);
}

/** Seconds a client refused for want of a slot waits before it retries. */
const BUSY_RETRY_SECONDS = 10;

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  services: Services,
  observability: Observability,
  inFlight?: number,
): Promise<void> {
  // The path as sent: `new URL` would resolve `..` and `%2e%2e`, and the upload would act on another name.
  const { rawPath, rawQueryString } = splitRequestTarget(req.url);
  const method = (req.method ?? 'GET').toUpperCase();
  if (rawPath === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    return;
  }
  const requestId = randomUUID();
  // The load balancer's trace id ties this request to its access log line.
  const traceId = header(req, 'x-amzn-trace-id');
  const observation = observability.begin({ requestId, ...(traceId ? { extra: { traceId } } : {}) });
  if (inFlight !== undefined) observation.record(REGISTRY_METRICS.uploadsInFlight, inFlight);
  const request: RegistryRequest = {
    method,
    rawPath,
    query: new URLSearchParams(rawQueryString),
    header: (name) => header(req, name),
    body: new Uint8Array(0),
    stream: req,
    requestId,
    record: observation.record,
  };
  let result: HttpResponse | undefined;
  try {
    result = await observation.run(async () => {
      // A pull-through fill is a pull: it works in maintenance mode too.
      if (isFillPath(rawPath)) {
        return serveFill(request, res, services, (message, fields) =>
          observability.logger.error(message, { ...observation.keys, ...fields }),
        );
      }
      await refuseWritesInMaintenance(request, services);
      return uploadsEndpoint(request, services);
    });
    if (result === undefined) {
      // The fill streamed its own answer.
      finish(observation, req, rawPath, res.statusCode, Number(res.getHeader('Content-Length') ?? 0));
      return;
    }
  } catch (err) {
    if (req.destroyed && !req.complete) {
      // The client went away mid-body: nothing was committed, and nobody is left to answer.
      res.destroy();
      finish(observation, req, rawPath, 499, 0);
      return;
    }
    recordUpstreamFailure(observation.record, err);
    result = errorResponse(err, requestId, (message, fields) =>
      observability.logger.error(message, { ...observation.keys, ...fields }),
    );
  }
  // Answered before the body was read (a refused request): read and drop the rest first, and past
  // a bound answer and close rather than take a refused multi-GB body whole.
  if (!req.readableEnded && !(await discardRest(req))) {
    res.setHeader('Connection', 'close');
    res.on('finish', () => req.destroy());
  }
  result = withPathPrefix(result, services.pathPrefix);
  result.headers[REQUEST_ID_HEADER] = requestId;
  writeResponse(res, result, method);
  finish(observation, req, rawPath, result.statusCode ?? 200, Number(res.getHeader('Content-Length') ?? 0));
}

/** How much of a refused body is read and dropped, at most, before the answer. */
const DISCARD_LIMIT = 16 * 1024 * 1024;
const DISCARD_MS = 10_000;

/**
 * Reads and drops the rest of a body the answer did not need; true once it ended. The answer waits
 * for it: a connection closed (the client may have asked for that) while a body still arrives is
 * reset, and the load balancer in front then answers 502 itself instead of passing the refusal on
 * ("the target closed the connection with a TCP RST or a TCP FIN while the load balancer had an
 * outstanding request", ELB guide, HTTP 502). False past `DISCARD_LIMIT` bytes or `DISCARD_MS`.
 */
function discardRest(req: IncomingMessage): Promise<boolean> {
  if (req.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let dropped = 0;
    const settle = (ended: boolean) => {
      clearTimeout(timer);
      req.off('data', count);
      if (!ended) req.pause();
      resolve(ended);
    };
    const count = (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > DISCARD_LIMIT) settle(false);
    };
    const timer = setTimeout(() => settle(false), DISCARD_MS);
    req.on('data', count);
    req.once('end', () => settle(true));
    req.once('close', () => settle(req.complete));
    req.resume();
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(',') : value;
}

/** The access line and metrics; 499 (nginx's "client closed request") when the client left. */
function finish(
  observation: RequestObservation,
  req: IncomingMessage,
  path: string,
  status: number,
  responseBytes: number,
): void {
  const declared = Number(req.headers['content-length']);
  observation.end({
    method: (req.method ?? 'GET').toUpperCase(),
    path,
    status,
    ...(Number.isFinite(declared) && req.headers['content-length'] !== undefined ? { requestBytes: declared } : {}),
    responseBytes: req.method === 'HEAD' ? 0 : responseBytes,
  });
}
