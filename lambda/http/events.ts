import { looksLikeDigest } from '../core/digest';
import { ManifestUnknownError } from '../core/errors';
import { registryEvent, type RegistryEventFacts, type RegistryEventType } from '../core/events';
import { isValidTag } from '../core/names';
import type { BlobRecord, ManifestRecord } from '../core/ports/metadata';
import type { CacheOutcome } from '../core/services/pull-through';
import { REGISTRY_METRICS } from '../config/observability';
import type { AuthorizedGrant } from './auth';
import { log } from './log';
import type { RegistryRequest } from './request';
import type { Services } from './services';

/** An event still without its request context. */
export type EventDraft = readonly [RegistryEventType, RegistryEventFacts];

/**
 * Publishes the events of a request whose operation succeeded (docs/events.md). Never throws: the
 * operation happened whatever becomes of its events, so a publisher that fails is logged, and the
 * client gets its success.
 */
export async function emit(
  req: RegistryRequest,
  services: Pick<Services, 'events'>,
  caller: AuthorizedGrant,
  drafts: readonly EventDraft[],
): Promise<void> {
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

/**
 * The digest a tag points at before a push or delete by that tag changes it; undefined for a digest
 * reference, an unknown tag, or when events are off (then nothing is read).
 */
export async function tagBefore(
  services: Pick<Services, 'events' | 'tags' | 'manifests'>,
  name: string,
  reference: string,
): Promise<string | undefined> {
  if (!services.events || looksLikeDigest(reference) || !isValidTag(reference)) return undefined;
  if (services.tags) return services.tags.getTag(name, reference);
  try {
    return (await services.manifests.get(name, reference, false)).record.digest;
  } catch (err) {
    if (err instanceof ManifestUnknownError) return undefined;
    throw err;
  }
}

/** `Manifest Pushed`, and `Tag Changed` when a push by tag created the tag or moved it. */
export function manifestPushed(
  name: string,
  reference: string,
  record: ManifestRecord,
  before: string | undefined,
): EventDraft[] {
  const tag = looksLikeDigest(reference) ? undefined : reference;
  const manifest = { repository: name, digest: record.digest, mediaType: record.mediaType, size: record.size };
  const drafts: EventDraft[] = [['Manifest Pushed', { ...manifest, tag }]];
  if (tag !== undefined && before !== record.digest) {
    drafts.push([
      'Tag Changed',
      { repository: name, tag, digest: record.digest, previousDigest: before, action: before ? 'moved' : 'created' },
    ]);
  }
  return drafts;
}

/**
 * A manifest DELETE: by digest the revision went (its tags with it; they get no events of their
 * own), by tag only the tag did.
 */
export function manifestDeleted(name: string, reference: string, before: string | undefined): EventDraft[] {
  if (looksLikeDigest(reference)) return [['Manifest Deleted', { repository: name, digest: reference }]];
  // The tag was deleted, so it pointed somewhere; only a racing push can have hidden where.
  if (before === undefined) return [];
  return [['Tag Changed', { repository: name, tag: reference, digest: before, action: 'deleted' }]];
}

/** `Manifest Pulled` for a manifest GET, when pull events are on. */
export function manifestPulled(
  services: Pick<Services, 'publishPulls'>,
  name: string,
  reference: string,
  record: ManifestRecord,
  cache?: CacheOutcome,
): EventDraft[] {
  const tag = looksLikeDigest(reference) ? undefined : reference;
  const drafts = cacheDrafts(name, record.digest, cache, tag);
  if (!services.publishPulls) return drafts;
  return [
    [
      'Manifest Pulled',
      {
        repository: name,
        digest: record.digest,
        mediaType: record.mediaType,
        size: record.size,
        tag,
        ...(cache ? { cache: pulledFrom(cache) } : {}),
      },
    ],
    ...drafts,
  ];
}

/**
 * A cached repository's pull: `Cache Filled` when the upstream's content was fetched and stored,
 * `Upstream Failed` when a stale copy was served because the upstream failed.
 */
function cacheDrafts(name: string, digest: string, cache: CacheOutcome | undefined, tag?: string): EventDraft[] {
  if (cache?.outcome === 'miss') {
    return [
      [
        'Cache Filled',
        { repository: name, digest, tag, size: cache.bytes, upstream: cache.upstream, upstreamMs: cache.upstreamMs },
      ],
    ];
  }
  if (cache?.outcome === 'stale') {
    return [
      [
        'Upstream Failed',
        { repository: name, digest, tag, upstream: cache.upstream, upstreamMs: cache.upstreamMs, error: cache.error },
      ],
    ];
  }
  return [];
}

function pulledFrom(cache: CacheOutcome): 'hit' | 'miss' | 'stale' {
  return cache.outcome === 'upstreamFailed' ? 'stale' : cache.outcome;
}

/** A cached repository's pull, counted: hits, misses and the bytes fetched, upstream failures. */
export function recordCache(req: RegistryRequest, cache: CacheOutcome | undefined): void {
  if (!cache || !req.record) return;
  if (cache.outcome === 'hit') req.record(REGISTRY_METRICS.cacheHits, 1);
  if (cache.outcome === 'miss') {
    req.record(REGISTRY_METRICS.cacheMisses, 1);
    req.record(REGISTRY_METRICS.upstreamBytes, cache.bytes ?? 0);
  }
  if (cache.outcome === 'stale' || cache.outcome === 'upstreamFailed') req.record(REGISTRY_METRICS.upstreamFailures, 1);
}

/** `Blob Pushed`: an upload finished, or a blob was mounted from `mountedFrom`. */
export function blobPushed(name: string, record: BlobRecord, mountedFrom?: string): EventDraft[] {
  return [['Blob Pushed', { repository: name, digest: record.digest, size: record.size, mountedFrom }]];
}

/**
 * `Blob Pulled` for a blob GET, when pull events are on: emitted as the redirect to the bucket is
 * issued. Whether the download then completes is not known to the registry: the bytes go from S3 to
 * the client directly (docs/events.md).
 */
export function blobPulled(
  services: Pick<Services, 'publishPulls'>,
  name: string,
  record: BlobRecord,
  cache?: CacheOutcome,
): EventDraft[] {
  const drafts = cacheDrafts(name, record.digest, cache);
  if (!services.publishPulls) return drafts;
  return [
    [
      'Blob Pulled',
      { repository: name, digest: record.digest, size: record.size, ...(cache ? { cache: pulledFrom(cache) } : {}) },
    ],
    ...drafts,
  ];
}

export function blobDeleted(name: string, digest: string): EventDraft[] {
  return [['Blob Deleted', { repository: name, digest }]];
}
