/**
 * Names the code writes and the stack reads back: the service name on every log line, the EMF
 * metric namespace, metric names and dimensions, and the registry modes. No imports, so `lib/` may
 * use it (its dashboard and alarms name the same metrics the handlers emit).
 */

/** `service` on every log line, and the `service` dimension of every metric. */
export const SERVICE_NAME = 'serverless-oci-registry';

/** CloudWatch namespace of the registry's own (EMF) metrics. */
export const METRICS_NAMESPACE = 'ServerlessOciRegistry';

/** Dimension naming the function group (or `uploader`) that emitted a metric. */
export const GROUP_DIMENSION = 'functionGroup';

/** The registry's own metrics, emitted once per request as EMF log lines. */
export const REGISTRY_METRICS = {
  /** Manifest PUTs that succeeded (201). */
  pushes: 'Pushes',
  /** Manifest GETs that succeeded (200). HEADs are not counted: clients HEAD before they decide to pull. */
  pulls: 'Pulls',
  /** Size of each blob an upload completed, in bytes. */
  blobBytesPushed: 'BlobBytesPushed',
  errors4xx: 'Errors4xx',
  errors5xx: 'Errors5xx',
  /** Time from the request reaching the code to its response, in milliseconds. */
  latency: 'Latency',
  /** Upload bodies the uploader task was streaming when one more was admitted (its autoscaling metric). */
  uploadsInFlight: 'UploadsInFlight',
  /** Pull-through cache: pulls of cached repositories served from what was stored. */
  cacheHits: 'CacheHits',
  /** Pull-through cache: manifests and blobs fetched from the upstream. */
  cacheMisses: 'CacheMisses',
  /** Pull-through cache: upstream requests that failed (a stale answer, or UNAVAILABLE). */
  upstreamFailures: 'UpstreamFailures',
  /** Pull-through cache: bytes fetched from the upstream. */
  upstreamBytes: 'UpstreamBytes',
} as const;
export type RegistryMetric = (typeof REGISTRY_METRICS)[keyof typeof REGISTRY_METRICS];

/**
 * What the mode item may hold: `read-only` is maintenance mode (writes answer 503, reads work); no
 * item is the first.
 */
export const REGISTRY_MODES = ['read-write', 'read-only'] as const;

/** Log levels REGISTRY_LOG_LEVEL accepts (Powertools' names, any case). */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;

/**
 * Partition (and sort) key of the item the health check reads: no registry item has it, and the
 * stack grants the base function GetItem on this partition alone (`dynamodb:LeadingKeys`).
 */
export const HEALTH_CHECK_KEY = 'health';
