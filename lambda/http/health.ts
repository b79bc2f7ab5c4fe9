import { UnavailableError, UnsupportedError } from '../core/errors';
import type { RegistryMode } from '../core/ports/mode';
import { errorFields, logger } from './log';
import type { RegistryRequest } from './request';
import { json, type HttpResponse } from './response';
import type { BaseServices } from './services';

/**
 * `GET /health` (and HEAD): 200 `{"status":"ok","mode":"read-write"|"read-only"}` when the metadata
 * store answers one cheap read in time, 503 UNAVAILABLE with Retry-After when it does not. For load
 * balancers and uptime monitors: it never asks for credentials and says nothing about the
 * registry's contents or configuration.
 *
 * Maintenance (read-only) mode is still 200: pulls are served, so a load balancer must keep routing
 * to the registry and an uptime monitor must not page; `mode` tells a monitor that wants to know.
 * Only a registry that cannot serve pulls answers 503. A mode that cannot be read (its table item) is the
 * last known one, as for writes (ModeService), and does not fail the check.
 */
export async function healthEndpoint(req: RegistryRequest, services: BaseServices): Promise<HttpResponse> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new UnsupportedError(`${req.method} is not supported here; allowed: GET, HEAD`, ['GET', 'HEAD']);
  }
  const [, mode] = await Promise.all([checkStore(services), currentMode(services)]);
  // A monitor must see the answer of now, never a cached one.
  return json(200, { status: 'ok', mode }, { 'Cache-Control': 'no-store' });
}

async function checkStore(services: BaseServices): Promise<void> {
  try {
    await services.health?.check();
  } catch (err) {
    // The error mapper logs the cause of an UnavailableError.
    if (err instanceof UnavailableError) throw err;
    throw new UnavailableError('the metadata store is unavailable', 5, err);
  }
}

/** The mode in force; read-write where no mode is configured, as then nothing can switch it. */
async function currentMode(services: BaseServices): Promise<RegistryMode> {
  if (!services.mode) return 'read-write';
  const reading = await services.mode.current();
  if (reading.storeError !== undefined) {
    logger.warn('registry mode unreadable; reporting the last known mode', {
      mode: reading.mode,
      ...errorFields(reading.storeError),
    });
  }
  return reading.mode;
}
