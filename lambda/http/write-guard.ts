import { errorFields, logger } from './log';
import { parseOciPath } from '../core/paths';
import type { RegistryRequest } from './request';
import type { Services } from './services';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Whether a request would change the registry: uploads (start, chunks, completion, cancel), blob
 * deletes, manifest PUT and DELETE. Reading an upload's status is not a write, nor is anything on
 * paths that are no registry endpoint (`/token` issues tokens, it stores nothing a pull reads).
 */
export function isWrite(req: RegistryRequest): boolean {
  if (!WRITE_METHODS.has(req.method)) return false;
  const kind = parseOciPath(req.rawPath)?.kind;
  return kind === 'blob' || kind === 'upload-start' || kind === 'upload' || kind === 'manifest';
}

/**
 * Refuses writes in maintenance (read-only) mode with 503 UNAVAILABLE and Retry-After, before
 * authorization and before any body is read. Reads never consult the mode, so pulls cost nothing
 * extra. A mode store that fails is logged here and does not stop the write (see ModeService).
 * Does nothing where no mode is configured (functions that serve no writes).
 */
export async function refuseWritesInMaintenance(req: RegistryRequest, services: Pick<Services, 'mode'>): Promise<void> {
  if (!services.mode || !isWrite(req)) return;
  const reading = await services.mode.assertWritable();
  if (reading.storeError !== undefined) {
    logger.warn('registry mode unreadable; keeping the last known mode', {
      mode: reading.mode,
      ...errorFields(reading.storeError),
    });
  }
}
