import { randomUUID } from 'node:crypto';
import { matchesPattern } from '../auth/access';
import { BlobUnknownError, NameUnknownError, RegistryError, UnavailableError } from '../errors';
import type { Clock } from '../ports/clock';
import type { EventRecorder } from '../ports/events';
import type { BlobIndex, BlobRecord } from '../ports/metadata';
import { UpstreamError, type UpstreamBlob, type UpstreamRegistry } from '../ports/upstream';

/** One upstream mirrored under a prefix of our name space (docs/pull-through-cache.md). */
export interface CacheRule {
  /** First component of the names it serves, or `*` for every name no other rule serves. */
  readonly prefix: string;
  readonly upstream: UpstreamRegistry;
  /** Upstream repository patterns that may be fetched; absent: any. */
  readonly allow?: readonly string[];
  readonly tagTtlSeconds: number;
  /** Docker Hub: a one-component repository is `library/<name>` there. */
  readonly dockerHub: boolean;
}

/** A repository name served by a rule, and the upstream's name for it. */
export interface CacheMatch {
  readonly rule: CacheRule;
  /** The upstream's repository (`library/nginx` for our `hub/nginx` on Docker Hub). */
  readonly remote: string;
}

/** What the cache did for one request, for events and metrics (the endpoint publishes them). */
export interface CacheOutcome {
  readonly outcome: 'hit' | 'miss' | 'stale';
  readonly upstream: string;
  /** Bytes fetched from the upstream (a miss). */
  readonly bytes?: number;
  /** Milliseconds the upstream took (a miss, a revalidation, a stale answer). */
  readonly upstreamMs?: number;
  /** Why the upstream failed (a stale answer). */
  readonly error?: string;
}

/** The rules in force, matched against repository names. */
export class CacheRules {
  private readonly byPrefix: ReadonlyMap<string, CacheRule>;
  private readonly root?: CacheRule;

  constructor(rules: readonly CacheRule[]) {
    this.byPrefix = new Map(rules.filter((r) => r.prefix !== '*').map((r) => [r.prefix, r]));
    this.root = rules.find((r) => r.prefix === '*');
  }

  /** True when a rule serves `name` (its repositories are read-only to clients), allowed or not. */
  covers(name: string): boolean {
    return this.find(name) !== undefined;
  }

  /**
   * The rule serving `name` and the upstream's name for it; undefined when no rule does.
   * @throws NameUnknownError when the rule's `allow` list leaves the upstream repository out (never fetched).
   */
  match(name: string): CacheMatch | undefined {
    const found = this.find(name);
    if (!found) return undefined;
    const { rule, rest } = found;
    const remote = rule.dockerHub && !rest.includes('/') ? `library/${rest}` : rest;
    if (rule.allow && !rule.allow.some((p) => matchesPattern(p, remote))) {
      throw new NameUnknownError(
        `repository ${name} is not cached: ${remote} is not among what the cache rule for ${rule.upstream.origin} allows (${rule.allow.join(', ')})`,
      );
    }
    return { rule, remote };
  }

  private find(name: string): { rule: CacheRule; rest: string } | undefined {
    const slash = name.indexOf('/');
    const rule = slash > 0 ? this.byPrefix.get(name.slice(0, slash)) : undefined;
    if (rule) return { rule, rest: name.slice(slash + 1) };
    if (this.root && !(slash > 0 && this.byPrefix.has(name.slice(0, slash))) && !this.byPrefix.has(name)) {
      return { rule: this.root, rest: name };
    }
    return undefined;
  }
}

/**
 * Who fills a blob from the upstream: a claim per digest, taken with a conditional write, so that
 * concurrent first pulls fetch it once. A claim expires, so one whose owner died is taken over.
 */
export interface FillClaims {
  /** True when `owner` now holds the claim on `digest` (it was free or expired). */
  claim(digest: string, owner: string, seconds: number): Promise<boolean>;
  /** Gives the claim up, if `owner` still holds it. */
  release(digest: string, owner: string): Promise<void>;
}

/** How the cache stores a blob it fetched: verified against its digest, recorded, linked into `name`. */
export type BlobFiller = (
  name: string,
  digest: string,
  body: AsyncIterable<Uint8Array>,
  size?: number,
) => Promise<BlobRecord>;

export interface BlobCacheOptions {
  /** Blobs up to this size are filled by the request that misses them (a function's time allows it). */
  readonly inlineLimit: number;
  /** Where larger blobs are filled (`/v2/<name>/blobs/_fill/<digest>`, the upload data path); absent: none. */
  readonly fillPath?: (name: string, digest: string) => string;
  /** How long a request waits for another's fill of the same blob before it gives up or takes over. */
  readonly waitMs: number;
  /** Between looks at whether the other fill finished. @default 500 */
  readonly pollMs?: number;
  /** How long a claim lasts without its owner: longer than the slowest fill it covers. */
  readonly claimSeconds: number;
  /** The upload data path's fills (`openFill`), which have no time limit: how long to wait for another's. */
  readonly fillWaitMs: number;
  /** The upload data path's claims, which cover blobs of any size. */
  readonly fillClaimSeconds: number;
}

/** What a blob GET of a cached repository answers: the stored blob, or where it is filled. */
export type CachedBlob =
  | { readonly record: BlobRecord; readonly cache: CacheOutcome; readonly fill?: undefined }
  | { readonly fill: string; readonly cache?: undefined; readonly record?: undefined };

/** A fill the caller streams to its client while it is stored (the upload data path). */
export interface OpenFill {
  readonly size?: number;
  readonly body: AsyncIterable<Uint8Array>;
  /** Stores what `body` gave (the caller passes the same bytes on): resolves once verified and linked. */
  store(source: AsyncIterable<Uint8Array>): Promise<BlobRecord>;
  /** Gives the claim up; call once, whatever happened. */
  release(): Promise<void>;
  readonly cache: CacheOutcome;
}

/**
 * Blobs of cached repositories: linked when the bucket has them already (it is content-addressed,
 * whoever stored them), otherwise fetched from the upstream once, verified against their digest as
 * they are stored (the upload path's checks: nothing is kept under a digest the bytes do not have),
 * and linked. See docs/pull-through-cache.md, "Blobs".
 */
export class BlobCache {
  constructor(
    private readonly blobs: BlobIndex,
    private readonly filler: BlobFiller,
    private readonly claims: FillClaims,
    private readonly clock: Clock,
    private readonly options: BlobCacheOptions,
  ) {}

  /** A blob HEAD: the stored blob (linked now), or the upstream's word on its size (nothing stored). */
  async stat(name: string, digest: string, match: CacheMatch): Promise<BlobRecord> {
    const stored = await this.linkStored(name, digest);
    if (stored) return stored;
    const found = await upstreamCall(match, () => match.rule.upstream.headBlob(match.remote, digest));
    if (!found) throw unknownUpstream(name, digest, match);
    return { digest, size: found.size, key: '' };
  }

  /** A blob GET: the stored blob (linked now), filled here when small, or the fill path's address. */
  async locate(name: string, digest: string, match: CacheMatch): Promise<CachedBlob> {
    const stored = await this.linkStored(name, digest);
    if (stored) return { record: stored, cache: hit(match) };
    // Its size decides who fills it, asked with a HEAD: a GET here would fetch what the fill path
    // fetches again.
    const size = await this.upstreamSize(name, digest, match);
    if (size === undefined || size > this.options.inlineLimit) return this.fillElsewhere(name, digest, match, size);
    const claimed = await this.claimOrWait(name, digest, {
      claimSeconds: this.options.claimSeconds,
      waitMs: this.options.waitMs,
      lookMs: 2_000,
      retryAfterSeconds: 5,
    });
    if ('record' in claimed) return { record: claimed.record, cache: hit(match) };
    const { owner } = claimed;
    try {
      const started = this.clock.now();
      const blob = await upstreamCall(match, () => match.rule.upstream.getBlob(match.remote, digest));
      if (!blob) throw unknownUpstream(name, digest, match);
      if (blob.size === undefined || blob.size > this.options.inlineLimit) {
        // The HEAD said otherwise: the GET's word counts.
        await blob.cancel();
        return this.fillElsewhere(name, digest, match, blob.size);
      }
      const record = await this.fill(name, digest, match, blob);
      return { record, cache: miss(match, record.size, this.clock.now() - started) };
    } finally {
      await this.claims.release(digest, owner).catch(() => {});
    }
  }

  /**
   * The upload data path's fill (`/v2/<name>/blobs/_fill/<digest>`): the stored blob when it is
   * there or another fill stored it meanwhile, or the upstream's bytes to stream to the client and
   * into the store at once.
   */
  async openFill(name: string, digest: string, match: CacheMatch): Promise<{ record: BlobRecord } | OpenFill> {
    const stored = await this.linkStored(name, digest);
    if (stored) return { record: stored };
    const claimed = await this.claimOrWait(name, digest, {
      claimSeconds: this.options.fillClaimSeconds,
      waitMs: this.options.fillWaitMs,
      lookMs: 5_000,
      retryAfterSeconds: 10,
    });
    if ('record' in claimed) return claimed;
    const { owner } = claimed;
    const release = () => this.claims.release(digest, owner).catch(() => {});
    try {
      const started = this.clock.now();
      const blob = await upstreamCall(match, () => match.rule.upstream.getBlob(match.remote, digest));
      if (!blob) throw unknownUpstream(name, digest, match);
      return {
        ...(blob.size !== undefined ? { size: blob.size } : {}),
        body: blob.body,
        store: (source) => this.fill(name, digest, match, blob, source),
        release,
        cache: miss(match, blob.size ?? 0, this.clock.now() - started),
      };
    } catch (err) {
      await release();
      throw err;
    }
  }

  /**
   * Takes the fill claim on `digest` for a new owner, or, while another request holds it, waits for
   * the blob that request stores (looking every `lookMs` whether the claim came free meanwhile, so
   * that a dead owner's expired claim is taken over). UNAVAILABLE once `waitMs` passed.
   */
  private async claimOrWait(
    name: string,
    digest: string,
    wait: { claimSeconds: number; waitMs: number; lookMs: number; retryAfterSeconds: number },
  ): Promise<{ owner: string } | { record: BlobRecord }> {
    const owner = randomUUID();
    const deadline = this.clock.now() + wait.waitMs;
    while (!(await this.claims.claim(digest, owner, wait.claimSeconds))) {
      const record = await this.waitStored(name, digest, Math.min(deadline, this.clock.now() + wait.lookMs));
      if (record) return { record };
      if (this.clock.now() >= deadline) {
        throw new UnavailableError(
          `blob ${digest} of ${name} is being fetched from its upstream by another request; retry shortly`,
          wait.retryAfterSeconds,
        );
      }
    }
    return { owner };
  }

  /** The blob's size as the upstream's HEAD says it; undefined when it does not say. */
  private async upstreamSize(name: string, digest: string, match: CacheMatch): Promise<number | undefined> {
    try {
      const found = await match.rule.upstream.headBlob(match.remote, digest);
      if (!found) throw unknownUpstream(name, digest, match);
      return found.size;
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      // A HEAD without a length is no refusal; any other failure is the upstream's.
      if (err.status !== undefined && err.status >= 200 && err.status < 300) return undefined;
      throw upstreamUnavailable(match, err);
    }
  }

  /** A blob too large for this request: the fill path's address, or UNAVAILABLE without one. */
  private fillElsewhere(name: string, digest: string, match: CacheMatch, size: number | undefined): CachedBlob {
    if (this.options.fillPath) return { fill: this.options.fillPath(name, digest) };
    throw new UnavailableError(
      `blob ${digest} of ${name} (${size ?? 'unknown'} bytes) is larger than a function fills from ${match.rule.upstream.origin} (${this.options.inlineLimit} bytes), and this registry has no upload data path to fill it`,
      60,
    );
  }

  /**
   * Stores the upstream's bytes (`source`: the body itself, or the same bytes as the caller passes
   * them on); an upstream that breaks off is UNAVAILABLE (nothing was kept).
   */
  private async fill(
    name: string,
    digest: string,
    match: CacheMatch,
    blob: UpstreamBlob,
    source: AsyncIterable<Uint8Array> = blob.body,
  ): Promise<BlobRecord> {
    try {
      return await this.filler(name, digest, source, blob.size);
    } catch (err) {
      await blob.cancel();
      if (
        err instanceof RegistryError &&
        !(err.code === 'DIGEST_INVALID' || err.code === 'SIZE_INVALID' || err.code === 'BLOB_UPLOAD_INVALID')
      )
        throw err;
      const why = err instanceof Error ? err.message : String(err);
      throw new UnavailableError(
        `blob ${digest} of ${name} from ${match.rule.upstream.origin} was not stored: ${why}`,
        5,
        err,
      );
    }
  }

  /** The blob when the bucket has it: linked into `name` (any repository may have stored it). */
  private async linkStored(name: string, digest: string): Promise<BlobRecord | undefined> {
    const record = await this.blobs.getBlob(digest);
    if (!record) return undefined;
    await this.blobs.putLink(name, record);
    return record;
  }

  private async waitStored(name: string, digest: string, until: number): Promise<BlobRecord | undefined> {
    const poll = this.options.pollMs ?? 500;
    for (;;) {
      const record = await this.linkStored(name, digest);
      if (record) return record;
      if (this.clock.now() + poll > until) return undefined;
      await new Promise((r) => setTimeout(r, poll));
    }
  }
}

/** Runs an upstream call, turning its failure into UNAVAILABLE for the client (with the upstream's words). */
export async function upstreamCall<T>(match: CacheMatch, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err;
    throw upstreamUnavailable(match, err);
  }
}

export function upstreamUnavailable(match: CacheMatch, err: UpstreamError): UnavailableError {
  return new UnavailableError(
    `the upstream of this cache could not serve ${match.remote}: ${err.message}`,
    err.retryAfterSeconds ?? (err.status === 429 ? 60 : 10),
    err,
  );
}

function unknownUpstream(name: string, digest: string, match: CacheMatch): BlobUnknownError {
  return new BlobUnknownError(
    `blob ${digest} is unknown to ${name}, and to ${match.remote} at ${match.rule.upstream.origin}`,
  );
}

function hit(match: CacheMatch): CacheOutcome {
  return { outcome: 'hit', upstream: match.rule.upstream.origin };
}

function miss(match: CacheMatch, bytes: number, upstreamMs: number): CacheOutcome {
  return { outcome: 'miss', upstream: match.rule.upstream.origin, bytes, upstreamMs };
}

/**
 * A cached repository's pull, as events: `Cache Filled` when the upstream's content was fetched and
 * stored, `Upstream Failed` when a stored copy was served because the upstream failed.
 */
export function recordCacheEvents(
  events: EventRecorder | undefined,
  repository: string,
  digest: string,
  cache: CacheOutcome | undefined,
  tag?: string,
): void {
  if (!events || !cache) return;
  const { upstream, upstreamMs } = cache;
  if (cache.outcome === 'miss') {
    events.record('Cache Filled', { repository, digest, tag, size: cache.bytes, upstream, upstreamMs });
  } else if (cache.outcome === 'stale') {
    events.record('Upstream Failed', { repository, digest, tag, upstream, upstreamMs, error: cache.error });
  }
}

/** What a pull event says of a cached repository's pull. */
export function pulledFrom(cache: CacheOutcome | undefined): { cache?: 'hit' | 'miss' | 'stale' } {
  if (!cache) return {};
  return { cache: cache.outcome };
}
