import { registryEvent } from '../core/events';
import type { CacheOutcome } from '../core/services/pull-through';
import { UpstreamError } from '../core/ports/upstream';
import type { RegistryMetric } from '../config/observability';
import { REGISTRY_METRICS } from '../config/observability';
import type { AuthorizedGrant } from './auth';
import { takeRecorded } from './event-scope';
import { log } from './log';
import type { RegistryRequest } from './request';
import type { Services } from './services';

/**
 * Publishes the events the request's services recorded (docs/events.md), once its operation
 * succeeded. Never throws: the operation happened whatever becomes of its events, so a publisher
 * that fails is logged, and the client gets its success.
 */
export async function emit(
  req: RegistryRequest,
  services: Pick<Services, 'events'>,
  caller: AuthorizedGrant,
): Promise<void> {
  const drafts = takeRecorded();
  const { events } = services;
  if (!events || drafts.length === 0) return;
  const context = { requestId: req.requestId, actor: caller.actor, time: Date.now() };
  const built = drafts.map(([type, facts]) => registryEvent(type, facts, context));
  try {
    await events.publish(built);
  } catch (err) {
    log('registry events were not published', {
      requestId: req.requestId,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      events: built,
    });
  }
}

/** A cached repository's pull, counted: hits, misses and the bytes fetched, upstream failures. */
export function recordCache(req: RegistryRequest, cache: CacheOutcome | undefined): void {
  if (!cache || !req.record) return;
  if (cache.outcome === 'hit') req.record(REGISTRY_METRICS.cacheHits, 1);
  if (cache.outcome === 'miss') {
    req.record(REGISTRY_METRICS.cacheMisses, 1);
    req.record(REGISTRY_METRICS.upstreamBytes, cache.bytes ?? 0);
  }
  if (cache.outcome === 'stale') req.record(REGISTRY_METRICS.upstreamFailures, 1);
}

/** A request that failed because a pull-through cache's upstream did (and no stored copy could serve), counted. */
export function recordUpstreamFailure(
  record: ((metric: RegistryMetric, value: number) => void) | undefined,
  err: unknown,
): void {
  if (record && err instanceof Error && err.cause instanceof UpstreamError)
    record(REGISTRY_METRICS.upstreamFailures, 1);
}
