/** S3 refuses multipart parts below 5 MiB, except the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Chunked uploads with a non-sha256 digest are verified by reading them back, up to this size. */
export const MAX_REREAD_SIZE = 64 * 1024 * 1024;
/** Parts cut from streamed bodies: 10,000 of them hold 160 GiB. */
export const PART_SIZE = 16 * 1024 * 1024;
/** Parts in flight per streamed request, so S3 latency overlaps with receiving. */
export const PART_CONCURRENCY = 4;
/**
 * Direct uploads (the push helper): how long a part URL works, and how much verification one request
 * does (well within the API's 30 s; the helper repeats the request until it is done).
 */
export const DIRECT_UPLOAD_OPTIONS = { partUrlTtlSeconds: 900, verifyBudget: { milliseconds: 15_000 } } as const;
/** The spec asks registries to accept manifests of at least 4 MiB. */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
/** Manifests up to this size live inside their DynamoDB item (limit 400 KB including other attributes). */
export const INLINE_MANIFEST_LIMIT = 256 * 1024;
