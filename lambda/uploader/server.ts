import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { uploadsEndpoint } from '../http/endpoints';
import { errorResponse } from '../http/error-mapper';
import { log } from '../http/log';
import { writeResponse } from '../http/node-response';
import type { RegistryRequest } from '../http/request';
import type { Services } from '../http/services';

/**
 * The upload data path: the upload endpoints with request bodies streamed into storage instead of
 * held whole, so a layer of any size reaches S3 in one request from any client (docker's and
 * podman's single streamed PATCH, containerd's and oras's single PUT). Runs behind the registry's
 * own domain, so upload `Location`s stay on the registry host; the same code runs in local mode.
 */
export function uploaderListener(services: Services): RequestListener {
  return (req, res) => {
    void handle(req, res, services);
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, services: Services): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://uploader');
  const method = (req.method ?? 'GET').toUpperCase();
  if (url.pathname === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    return;
  }
  const requestId = randomUUID();
  const request: RegistryRequest = {
    method,
    rawPath: url.pathname,
    query: url.searchParams,
    header: (name) => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(',') : value;
    },
    body: new Uint8Array(0),
    stream: req,
    requestId,
  };
  let result;
  try {
    result = await uploadsEndpoint(request, services);
  } catch (err) {
    if (req.destroyed && !req.complete) {
      // The client went away mid-body: nothing was committed, and nobody is left to answer.
      res.destroy();
      return;
    }
    result = errorResponse(err, requestId, log);
  }
  if (!req.readableEnded) {
    // Answered before the body was read (a refused request): do not keep receiving it.
    res.setHeader('Connection', 'close');
    res.on('finish', () => req.destroy());
  }
  writeResponse(res, result, method);
}
