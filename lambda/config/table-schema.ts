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
