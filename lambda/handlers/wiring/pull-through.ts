import { secretCredentials } from '../../adapters/secrets/secret-credentials';
import { HttpUpstream } from '../../adapters/upstream/http-upstream';
import type { RegistryConfig } from '../../config/config';
import { DOCKER_HUB_HOSTS, DEFAULT_TAG_TTL_SECONDS } from '../../config/pull-through';
import { systemClock } from '../../core/ports/clock';
import { BlobCache, CacheRules, type FillClaims } from '../../core/services/pull-through';
import type { UploadService } from '../../core/services/upload-service';
import type { BlobIndex } from '../../core/ports/metadata';

/** Blobs up to this size are filled by the blobs function itself: 64 MiB stream to S3 well within the API's 30 s. */
export const FUNCTION_FILL_LIMIT = 64 * 1024 * 1024;

const built = new WeakMap<NonNullable<RegistryConfig['pullThrough']>, CacheRules>();

/**
 * The pull-through cache's rules with their upstreams (docs/pull-through-cache.md); undefined when
 * none is configured. Upstream credentials are read from their secrets when an upstream first asks
 * for them, through a Secrets Manager client created then. One set per configuration: the blob and
 * manifest services of a process share each upstream, with its tokens and credentials.
 */
export function cacheRules(config: Pick<RegistryConfig, 'pullThrough'>): CacheRules | undefined {
  const pullThrough = config.pullThrough;
  const rules = pullThrough?.rules;
  if (!pullThrough || !rules || rules.length === 0) return undefined;
  const kept = built.get(pullThrough);
  if (kept) return kept;
  const made = new CacheRules(
    rules.map((rule) => ({
      prefix: rule.prefix,
      upstream: new HttpUpstream(rule.upstream, {
        ...(rule.credentialsSecret ? { credentials: secretCredentials(rule.credentialsSecret) } : {}),
      }),
      ...(rule.allow ? { allow: rule.allow } : {}),
      tagTtlSeconds: rule.tagTtlSeconds ?? DEFAULT_TAG_TTL_SECONDS,
      dockerHub: DOCKER_HUB_HOSTS.includes(new URL(rule.upstream).hostname),
    })),
  );
  built.set(pullThrough, made);
  return made;
}

/**
 * Blob fills of cached repositories, stored through the upload path (`PUT ?digest=` on a fresh
 * session: one checksummed PutObject up to 5 GiB, so S3 too refuses bytes that do not hash to the
 * digest), at most one fill per digest at a time.
 */
export function blobCache(
  config: Pick<RegistryConfig, 'pullThrough'>,
  rules: CacheRules,
  blobs: BlobIndex,
  uploads: UploadService,
  claims: FillClaims,
): { rules: CacheRules; blobs: BlobCache } {
  const filler = (name: string, digest: string, body: AsyncIterable<Uint8Array>, size?: number) =>
    uploads.fill(name, digest, body, size);
  return {
    rules,
    blobs: new BlobCache(blobs, filler, claims, systemClock, {
      inlineLimit: FUNCTION_FILL_LIMIT,
      ...(config.pullThrough?.fillPath
        ? { fillPath: (name: string, digest: string) => `/v2/${name}/blobs/_fill/${digest}` }
        : {}),
      waitMs: 20_000,
      claimSeconds: 60,
      fillWaitMs: 15 * 60_000,
      fillClaimSeconds: 15 * 60,
    }),
  };
}
