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
} as const;
