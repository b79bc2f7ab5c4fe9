/**
 * Environment variable names: the contract between the CDK stack (which sets them) and the
 * functions (which read them). No imports, so `lib/` may use it.
 */
export const ENV = {
  bucket: 'REGISTRY_BUCKET',
  table: 'REGISTRY_TABLE',
  /** Seconds a presigned blob URL stays valid. */
  redirectTtl: 'REGISTRY_REDIRECT_TTL_SECONDS',
  /** Seconds an idle upload session lives. */
  uploadTtl: 'REGISTRY_UPLOAD_TTL_SECONDS',
  maxNameDepth: 'REGISTRY_MAX_NAME_DEPTH',
  /** Path-style S3 addressing, needed by local S3 servers. */
  s3ForcePathStyle: 'REGISTRY_S3_FORCE_PATH_STYLE',
  /** Endpoint written into presigned blob URLs, when clients reach S3 by another address than the functions. */
  s3PublicEndpoint: 'REGISTRY_S3_PUBLIC_ENDPOINT',
  logLevel: 'REGISTRY_LOG_LEVEL',
  /** `none`, `basic` or `token`. */
  authMode: 'REGISTRY_AUTH_MODE',
  /** The `service` of challenges and the audience of tokens. */
  authService: 'REGISTRY_AUTH_SERVICE',
  authIssuer: 'REGISTRY_AUTH_ISSUER',
  /** Users, robot tokens and sign-in counters. */
  accountsTable: 'REGISTRY_ACCOUNTS_TABLE',
  /** KMS key ARNs, comma-separated: the first signs tokens, all verify them (rotation). */
  tokenKeys: 'REGISTRY_TOKEN_KEYS',
  tokenTtl: 'REGISTRY_TOKEN_TTL_SECONDS',
  refreshTtl: 'REGISTRY_REFRESH_TTL_SECONDS',
  /** Repository patterns anyone may pull, comma-separated. */
  anonymousPull: 'REGISTRY_ANONYMOUS_PULL',
  maxFailedSignIns: 'REGISTRY_MAX_FAILED_SIGNINS',
  /** The registry's public origin (`https://registry.example.com`), for the token realm. */
  publicUrl: 'REGISTRY_PUBLIC_URL',
  /**
   * The path the registry is served under behind a reverse proxy or an API mapping that strips it
   * (`/reg` for `https://host/reg/v2/`); unset: the root. Requests arrive without it; `Location` and
   * `Link` headers and the token realm carry it.
   */
  pathPrefix: 'REGISTRY_PATH_PREFIX',
  /** EventBridge bus name or ARN for registry events (docs/events.md); unset: events are off. */
  eventBus: 'REGISTRY_EVENT_BUS',
  /** The events' `source`. */
  eventSource: 'REGISTRY_EVENT_SOURCE',
  /** `true` to publish `Manifest Pulled` on manifest GETs too. */
  eventPulls: 'REGISTRY_EVENT_PULLS',
  /**
   * `true` where the code follows the registry's mode (maintenance mode), kept in the metadata table's
   * mode item (`MODE_ITEM_KEY`); unset: always read-write.
   */
  modeInTable: 'REGISTRY_MODE_IN_TABLE',
  /** Seconds garbage collection leaves anything written or referenced alone (docs/garbage-collection.md). */
  gcGrace: 'REGISTRY_GC_GRACE_SECONDS',
  /** Days untagged manifests are kept, or `never` to keep them. */
  untaggedRetention: 'REGISTRY_UNTAGGED_RETENTION_DAYS',
  /** Immutable tags: `<repository pattern>:<tag pattern>`, comma-separated. */
  immutableTags: 'REGISTRY_IMMUTABLE_TAGS',
  /** Tag retention: `<repository pattern>:<tag pattern>=<keep last>`, comma-separated. */
  tagRetention: 'REGISTRY_TAG_RETENTION',
  /** Days after which manifests neither pulled nor pushed go, or `off` (the default). */
  notPulledFor: 'REGISTRY_NOT_PULLED_FOR_DAYS',
  /** Upload bodies one uploader task streams at once; more wait (lambda/uploader/admission.ts). */
  uploaderMaxStreams: 'REGISTRY_UPLOADER_MAX_STREAMS',
  /**
   * Pull-through cache rules, as JSON (lambda/config/pull-through.ts, docs/pull-through-cache.md);
   * unset: no repository is a cache.
   */
  pullThrough: 'REGISTRY_PULL_THROUGH',
  /**
   * `true` when the upload data path serves `FILL_PATH_PATTERN`: blobs of cached repositories too
   * large for a function are filled there; unset: they are answered UNAVAILABLE.
   */
  pullThroughFill: 'REGISTRY_PULL_THROUGH_FILL',
} as const;
