import { parseDigest } from './digest';
import { ManifestInvalidError, RegistryError } from './errors';

/** Manifest media types this registry stores. */
export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

const SCHEMA1 = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];
const IMAGE_TYPES: readonly string[] = [MediaTypes.ociManifest, MediaTypes.dockerManifest];
const INDEX_TYPES: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerList];

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

/** What the registry needs to know about a manifest to store it and answer the referrers API. */
export interface ParsedManifest {
  readonly mediaType: string;
  /** Blobs that must be in the repository (config and layers, minus foreign layers with `urls`). */
  readonly blobs: string[];
  /** Manifests that must be in the repository (an index's children). */
  readonly manifests: string[];
  readonly subject?: string;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

/**
 * Parses and checks a manifest body against its declared media type.
 * @throws ManifestInvalidError with a message naming the rule broken (schema1 included).
 * @see https://github.com/opencontainers/image-spec/blob/v1.1.0/manifest.md
 */
export function parseManifest(body: Uint8Array, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new ManifestInvalidError('manifest is not valid UTF-8 JSON');
  }
  if (!isObject(doc)) throw new ManifestInvalidError('manifest must be a JSON object');
  const declared = contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
  if (doc.schemaVersion === 1 || (declared && SCHEMA1.includes(declared))) {
    throw new ManifestInvalidError(
      'Docker schema1 manifests are not supported; push with a current client (OCI or Docker schema2)',
    );
  }
  if (doc.schemaVersion !== 2) throw new ManifestInvalidError('manifest schemaVersion must be 2');
  const own = optionalString(doc, 'mediaType');
  const mediaType = own ?? (declared && declared !== 'application/json' ? declared : inferType(doc));
  if (own && declared && declared !== own && declared !== 'application/json') {
    throw new ManifestInvalidError(`Content-Type ${declared} does not match the manifest's mediaType ${own}`);
  }
  const annotations = optionalAnnotations(doc);
  const subject = doc.subject === undefined ? undefined : descriptor(doc.subject, 'subject').digest;
  const artifactType = optionalString(doc, 'artifactType');
  if (IMAGE_TYPES.includes(mediaType)) {
    const config = descriptor(doc.config, 'config');
    const layers = descriptorList(doc.layers, 'layers');
    return {
      mediaType,
      blobs: [config.digest, ...layers.filter((l) => !l.urls || l.urls.length === 0).map((l) => l.digest)],
      manifests: [],
      subject,
      artifactType: artifactType ?? (mediaType === MediaTypes.ociManifest ? config.mediaType : undefined),
      annotations,
    };
  }
  if (INDEX_TYPES.includes(mediaType)) {
    const manifests = descriptorList(doc.manifests, 'manifests');
    return { mediaType, blobs: [], manifests: manifests.map((m) => m.digest), subject, artifactType, annotations };
  }
  throw new ManifestInvalidError(
    `unsupported manifest media type "${mediaType}"; supported: ${[...IMAGE_TYPES, ...INDEX_TYPES].join(', ')}`,
  );
}

function inferType(doc: Record<string, unknown>): string {
  if (Array.isArray(doc.manifests)) return MediaTypes.ociIndex;
  if (doc.config !== undefined) return MediaTypes.ociManifest;
  throw new ManifestInvalidError('manifest has no mediaType and no Content-Type');
}

function descriptor(value: unknown, field: string): Descriptor {
  if (!isObject(value)) throw new ManifestInvalidError(`${field} must be a descriptor object`);
  const { mediaType, digest, size, urls } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) {
    throw new ManifestInvalidError(`${field}.mediaType must be a non-empty string`);
  }
  if (typeof digest !== 'string') throw new ManifestInvalidError(`${field}.digest must be a string`);
  try {
    parseDigest(digest);
  } catch (err) {
    if (err instanceof RegistryError) throw new ManifestInvalidError(`${field}.digest: ${err.message}`);
    throw err;
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new ManifestInvalidError(`${field}.size must be a non-negative integer`);
  }
  if (urls !== undefined && (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string'))) {
    throw new ManifestInvalidError(`${field}.urls must be an array of strings`);
  }
  return { mediaType, digest, size, urls: urls as string[] | undefined };
}

function descriptorList(value: unknown, field: string): Descriptor[] {
  if (!Array.isArray(value)) throw new ManifestInvalidError(`${field} must be an array of descriptors`);
  return value.map((v, i) => descriptor(v, `${field}[${i}]`));
}

function optionalString(doc: Record<string, unknown>, field: string): string | undefined {
  const value = doc[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ManifestInvalidError(`${field} must be a string`);
  return value;
}

function optionalAnnotations(doc: Record<string, unknown>): Record<string, string> | undefined {
  const value = doc.annotations;
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new ManifestInvalidError('annotations must map strings to strings');
  }
  return value as Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
