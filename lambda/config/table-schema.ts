/**
 * The metadata table's key schema, shared by the CDK stack and local mode so both create the same
 * table. No imports, so `lib/` may use it.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch-seconds attribute DynamoDB TTL expires items by (upload sessions). */
  ttlAttribute: 'ttl',
} as const;

/**
 * A repository's items (its manifests, tags, links and referrers) have partition keys of this and
 * the repository's name: the manifests function may update those alone (`dynamodb:LeadingKeys`).
 */
export const REPOSITORY_PARTITION_PREFIX = 'repo#';

/**
 * Upload session items' partition keys begin with this, then the session id: the upload sweeper may
 * read those items alone (`dynamodb:LeadingKeys`).
 */
export const UPLOAD_SESSION_PARTITION_PREFIX = 'upload#';

/**
 * The metadata table's sparse index of upload sessions by expiry, which the upload sweeper queries
 * (docs/storage.md, "Upload expiry"). Only session items carry `partitionKey`, so nothing else is
 * indexed. Its values are `shards` hex digits (the first of the session id), so session writes
 * spread over that many index partitions; a sweep queries each with `expiresAt <= now`.
 */
export const UPLOAD_EXPIRY_INDEX = {
  name: 'uploads-by-expiry',
  partitionKey: 'expiryShard',
  /**
   * When the session dies (epoch seconds, a number). The item's TTL attribute is set a day later, so
   * that DynamoDB's TTL, which frees nothing in S3, does not delete a session before the sweeper does.
   */
  sortKey: 'expiresAt',
  /** Projected besides the keys: enough to delete a session conditionally without reading it. */
  nonKeyAttributes: ['version', 'createdAt'],
  shards: 16,
} as const;

/**
 * The item holding the registry's mode (`read-write` | `read-only`, maintenance mode): no registry
 * item has this partition key, and the stack grants the functions that only read the mode GetItem on
 * this partition alone (`dynamodb:LeadingKeys`). No item means read-write.
 */
export const MODE_ITEM_KEY = { pk: 'mode', sk: 'registry' } as const;
