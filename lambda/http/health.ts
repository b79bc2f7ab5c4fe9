import { UnavailableError, UnsupportedError } from '../core/errors';
import { errorFields, logger } from './log';
import type { RegistryRequest } from './request';
import { json, type HttpResponse } from './response';
import type { Services } from './services';

/**
 * `GET /health` (and HEAD): 200 `{"status":"ok"}` when the metadata store answers one cheap read in
 * time, 503 UNAVAILABLE with Retry-After when it does not. For load balancers and uptime monitors:
 * it never asks for credentials and says nothing about the registry's contents or configuration.
 */
export async function healthEndpoint(req: RegistryRequest, services: Services): Promise<HttpResponse> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new UnsupportedError(`${req.method} is not supported here; allowed: GET, HEAD`, ['GET', 'HEAD']);
  }
  try {
    await services.health?.check();
  } catch (err) {
    logger.warn('health check failed', errorFields(err));
    if (err instanceof UnavailableError) throw err;
    throw new UnavailableError('the metadata store is unavailable', 5);
  }
  // A monitor must see the answer of now, never a cached one.
  return json(200, { status: 'ok' }, { 'Cache-Control': 'no-store' });
}
