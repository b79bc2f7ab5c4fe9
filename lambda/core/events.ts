/**
 * Registry events: what changed (or was read) in which repository, small enough to fan out
 * anywhere. The schema is documented in `docs/events.md`; `detail.version` changes only when a field
 * changes meaning or disappears (new optional fields keep the version).
 */

/** The schema version every event's `detail.version` carries. */
export const EVENT_SCHEMA_VERSION = 1;

/** Event kinds, as EventBridge `detail-type`s. */
export const EVENT_TYPES = [
  'Manifest Pushed',
  'Manifest Pulled',
  'Manifest Deleted',
  'Blob Pushed',
  'Blob Pulled',
  'Blob Deleted',
  'Tag Changed',
  'Cache Filled',
  'Upstream Failed',
] as const;
export type RegistryEventType = (typeof EVENT_TYPES)[number];

/** How a `Tag Changed` event changed its tag. */
export type TagAction = 'created' | 'moved' | 'deleted';

/** The fields an event is about; the request context (`version`, `actor`, `requestId`, `time`) is added to it. */
export interface RegistryEventFacts {
  /** Repository name. */
  readonly repository: string;
  /**
   * The manifest or blob. For `Tag Changed`: the digest the tag points at now, or for `deleted` the
   * one it pointed at.
   */
  readonly digest: string;
  /** Manifests only. */
  readonly mediaType?: string;
  /** Bytes; known for pushes and pulls. */
  readonly size?: number;
  /** The tag a manifest was pushed or pulled by, or the tag that changed. */
  readonly tag?: string;
  /** `Tag Changed` with action `moved`: the digest the tag pointed at before. */
  readonly previousDigest?: string;
  /** `Tag Changed` only. */
  readonly action?: TagAction;
  /** `Blob Pushed` by a cross-repository mount: the repository the blob was mounted from. */
  readonly mountedFrom?: string;
  /** Pulls of a cached repository: whether it was there (`hit`), fetched (`miss`) or served while the upstream failed (`stale`). */
  readonly cache?: 'hit' | 'miss' | 'stale';
  /** `Cache Filled`, `Upstream Failed`: the upstream registry's origin. */
  readonly upstream?: string;
  /** `Cache Filled`, `Upstream Failed`: milliseconds the upstream took. */
  readonly upstreamMs?: number;
  /** `Upstream Failed`: what the upstream answered, or why it could not be asked. */
  readonly error?: string;
}

/** An event's `detail`. */
export interface RegistryEventDetail extends RegistryEventFacts {
  readonly version: typeof EVENT_SCHEMA_VERSION;
  /** Who did it: the token's subject or the Basic user name; absent for anonymous callers and with auth off. */
  readonly actor?: string;
  /** The id of the registry request that did it (API Gateway's request id, or the uploader's). */
  readonly requestId: string;
  /** ISO 8601, when the registry finished the operation. */
  readonly time: string;
}

export interface RegistryEvent {
  readonly type: RegistryEventType;
  readonly detail: RegistryEventDetail;
}

/** What an event says about the request that caused it. */
export interface EventContext {
  readonly requestId: string;
  readonly actor?: string;
  /** Epoch milliseconds. */
  readonly time: number;
}

/** Builds an event; fields left undefined are left out, so the JSON stays small. */
export function registryEvent(
  type: RegistryEventType,
  facts: RegistryEventFacts,
  context: EventContext,
): RegistryEvent {
  const detail: Record<string, unknown> = {
    version: EVENT_SCHEMA_VERSION,
    ...facts,
    actor: context.actor || undefined,
    requestId: context.requestId,
    time: new Date(context.time).toISOString(),
  };
  for (const [k, v] of Object.entries(detail)) if (v === undefined) delete detail[k];
  return { type, detail: detail as unknown as RegistryEventDetail };
}
