import { randomUUID } from 'node:crypto';
import { digestOf } from '../bytes';
import { looksLikeDigest, parseDigest } from '../digest';
import {
  BlobUnknownError,
  ConcurrentModificationError,
  DeniedError,
  DigestInvalidError,
  ManifestBlobUnknownError,
  ManifestInvalidError,
  ManifestUnknownError,
  SizeInvalidError,
  UnavailableError,
} from '../errors';
import { keys } from '../keys';
import { parseManifest } from '../manifest';
import { isImmutable, type RegistryPolicy } from '../policy';
import { assertValidName, isValidTag } from '../names';
import type { BlobStore } from '../ports/blob-store';
import { systemClock, type Clock } from '../ports/clock';
import { dayOf } from '../pulls';
import type { BlobIndex, ManifestIndex, ManifestRecord, TaggedManifest } from '../ports/metadata';
import { UpstreamError } from '../ports/upstream';
import type { EventRecorder } from '../ports/events';
import {
  pulledFrom,
  recordCacheEvents,
  upstreamCall,
  upstreamUnavailable,
  type CacheMatch,
  type CacheOutcome,
  type CacheRules,
} from './pull-through';

export interface ManifestServiceOptions {
  /** Largest manifest accepted, in bytes (the spec asks for at least 4 MiB). */
  readonly maxManifestSize: number;
  /** Manifests up to this size are kept inside their index record; larger ones go to the blob store. */
  readonly inlineLimit: number;
  /** The lifecycle policy in force (immutable tags), when one is configured. */
  readonly policy?: () => Promise<RegistryPolicy>;
  /** Whose day a pull is recorded on (`recordPull`), and a cached tag's age. @default systemClock */
  readonly clock?: Clock;
  /** Pull-through cache rules: repositories they serve are fetched from their upstream (docs/pull-through-cache.md). */
  readonly cache?: CacheRules;
  /** Where pushes, pulls, deletes and tag changes are told (docs/events.md). */
  readonly events?: EventRecorder;
}

/** Largest annotations (as JSON) a manifest with a subject may carry; they live in the index record. */
export const MAX_REFERRER_ANNOTATIONS = 64 * 1024;

/** A reference split into its kind. */
export type Reference =
  { readonly tag: string; readonly digest?: undefined } | { readonly digest: string; readonly tag?: undefined };

/** A manifest as served: its record and, for GET, its exact bytes. */
export interface ManifestContent {
  readonly record: ManifestRecord;
  readonly body?: Uint8Array;
  /** In a cached repository: what the cache did (a stale answer, served while the upstream failed, says so). */
  readonly cache?: CacheOutcome;
}

/**
 * Pushing, pulling and deleting manifests by tag or digest.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-manifests
 */
export class ManifestService {
  constructor(
    private readonly store: BlobStore,
    private readonly blobs: BlobIndex,
    private readonly manifests: ManifestIndex,
    private readonly options: ManifestServiceOptions,
  ) {}

  /**
   * Resolves a reference to a stored manifest; with `withBody`, also its exact bytes.
   * @throws ManifestUnknownError when the tag or digest is unknown (an invalid tag is unknown too).
   */
  async get(name: string, reference: string, withBody: boolean): Promise<ManifestContent> {
    assertValidName(name);
    const ref = parseReference(reference);
    const content = await this.lookup(name, ref, reference, withBody);
    const { record, cache } = content;
    const events = this.options.events;
    recordCacheEvents(events, name, record.digest, cache, ref.tag);
    // A GET is a pull; a HEAD is a client deciding whether to pull.
    if (withBody && events?.wants('Manifest Pulled')) {
      events.record('Manifest Pulled', {
        repository: name,
        digest: record.digest,
        mediaType: record.mediaType,
        size: record.size,
        tag: ref.tag,
        ...pulledFrom(cache),
      });
    }
    return content;
  }

  private async lookup(name: string, ref: Reference, reference: string, withBody: boolean): Promise<ManifestContent> {
    const match = this.options.cache?.match(name);
    if (match) return this.getCached(name, ref, reference, withBody, match);
    let tagged: TaggedManifest | undefined;
    if (ref.tag !== undefined) tagged = await this.manifests.resolveTag(name, ref.tag);
    const content = await this.read(name, ref.digest ?? tagged?.digest, reference, withBody, tagged);
    if (!content) throw this.unknown(name, reference);
    return content;
  }

  /** The stored revision `digest` (a tag's, when `tagged` is given), or undefined. */
  private async read(
    name: string,
    digest: string | undefined,
    reference: string,
    withBody: boolean,
    tagged?: TaggedManifest,
  ): Promise<ManifestContent | undefined> {
    // What a HEAD answers with, and an inline manifest's bytes, the tag keeps: one read instead of two.
    if (tagged?.descriptor && !withBody) return { record: tagged.descriptor };
    if (tagged?.descriptor && tagged.body) {
      const pulledOn = tagged.pulledOn;
      return {
        record: { ...tagged.descriptor, body: tagged.body, ...(pulledOn ? { pulledOn } : {}) },
        body: tagged.body,
      };
    }
    const record = digest && (await this.manifests.getManifest(name, digest));
    if (!record) return undefined;
    if (!withBody) return { record };
    const body = record.body ?? (await this.readBody(record.key as string, name, reference));
    return { record, body };
  }

  /**
   * A manifest of a cached repository (docs/pull-through-cache.md, "Manifests"). By digest: stored,
   * or fetched, verified and stored. By tag: served while younger than the rule's TTL; then checked
   * upstream with a HEAD (no pull counted there), a new digest fetched and the tag moved; while the
   * upstream fails, the stored revision is served and marked stale.
   */
  private async getCached(
    name: string,
    ref: Reference,
    reference: string,
    withBody: boolean,
    match: CacheMatch,
  ): Promise<ManifestContent> {
    const clock = this.options.clock ?? systemClock;
    const origin = match.rule.upstream.origin;
    const hit: CacheOutcome = { outcome: 'hit', upstream: origin };
    if (ref.digest !== undefined) {
      const stored = await this.read(name, ref.digest, reference, withBody);
      if (stored) return { ...stored, cache: hit };
      return this.fetch(name, ref.digest, undefined, withBody, match);
    }
    const tag = ref.tag;
    const tagged = await this.manifests.resolveTag(name, tag);
    const now = clock.now();
    if (tagged && now - (tagged.checkedAt ?? 0) < match.rule.tagTtlSeconds * 1000) {
      const stored = await this.read(name, tagged.digest, reference, withBody, tagged);
      if (stored) return { ...stored, cache: hit };
    }
    let remote;
    try {
      remote = await match.rule.upstream.headManifest(match.remote, tag);
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      const stored = tagged && (await this.read(name, tagged.digest, reference, withBody, tagged));
      if (!stored) throw upstreamUnavailable(match, err);
      return {
        ...stored,
        cache: { outcome: 'stale', upstream: origin, upstreamMs: clock.now() - now, error: err.message },
      };
    }
    if (!remote) {
      throw new ManifestUnknownError(`manifest ${tag} is unknown to ${match.remote} at ${origin}`);
    }
    if (tagged && tagged.digest === remote.digest) {
      await this.manifests.markTagChecked(name, tag, tagged.digest, clock.now());
      const stored = await this.read(name, tagged.digest, reference, withBody, tagged);
      if (stored) return { ...stored, cache: { ...hit, upstreamMs: clock.now() - now } };
    }
    return this.fetch(name, remote.digest, tag, withBody, match);
  }

  /**
   * Fetches revision `digest` from the upstream, checks that its bytes have that digest, and stores
   * it (moving `tag` to it) as a push would, without requiring its blobs: they come on demand.
   */
  private async fetch(
    name: string,
    digest: string,
    tag: string | undefined,
    withBody: boolean,
    match: CacheMatch,
  ): Promise<ManifestContent> {
    const clock = this.options.clock ?? systemClock;
    const origin = match.rule.upstream.origin;
    const started = clock.now();
    const existing = await this.manifests.getManifest(name, digest);
    let record: ManifestRecord;
    let body: Uint8Array | undefined;
    if (existing) {
      // Already here (fetched by digest before): only the tag moves.
      record = existing;
      await this.manifests.putManifest(name, existing, tag);
    } else {
      const fetched = await upstreamCall(match, () =>
        match.rule.upstream.getManifest(match.remote, digest, this.options.maxManifestSize),
      );
      if (!fetched) throw new ManifestUnknownError(`manifest ${digest} is unknown to ${match.remote} at ${origin}`);
      const { algorithm } = parseDigest(digest);
      const actual = digestOf(fetched.body, algorithm);
      if (actual !== digest) {
        throw new UnavailableError(
          `${origin} answered manifest ${digest} of ${match.remote} with bytes whose digest is ${actual}; nothing was stored`,
          10,
        );
      }
      try {
        record = await this.persist(name, digest, fetched.mediaType, fetched.body, tag);
      } catch (err) {
        if (!(err instanceof ManifestInvalidError)) throw err;
        throw new ManifestUnknownError(
          `manifest ${digest} of ${match.remote} at ${origin} is not one this registry stores: ${err.message}`,
        );
      }
      body = fetched.body;
    }
    if (withBody) body ??= record.body ?? (await this.readBody(record.key as string, name, digest));
    return {
      record,
      ...(withBody ? { body } : {}),
      cache: { outcome: 'miss', upstream: origin, bytes: body?.length ?? 0, upstreamMs: clock.now() - started },
    };
  }

  /**
   * Records that a manifest `get` served (its `record`, which carries the stored day) was pulled
   * today: one conditional write when the stored day is another, nothing otherwise, so a manifest
   * costs at most one write a day however often it is pulled. Pulled by a tag (`reference`), the tag
   * records the day too, as a GET by tag reads the day from the tag: one more write, once a day.
   * Returns whether it wrote. Errors are the store's; a caller keeps them off the pull's outcome.
   */
  async recordPull(name: string, record: ManifestRecord, reference?: string): Promise<boolean> {
    const today = dayOf((this.options.clock ?? systemClock).now());
    if (record.pulledOn !== undefined && record.pulledOn >= today) return false;
    const tag = reference !== undefined && !looksLikeDigest(reference) ? reference : undefined;
    await this.manifests.recordPull(name, record.digest, today, tag);
    return true;
  }

  /**
   * Stores a manifest under its digest, and under the tag when the reference is one.
   * @throws SizeInvalidError (too large), ManifestInvalidError, DigestInvalidError (digest reference
   * that does not match the body), ManifestBlobUnknownError (a referenced blob or manifest is not in
   * the repository; a `subject` need not be).
   */
  async put(
    name: string,
    reference: string,
    contentType: string | undefined,
    body: Uint8Array,
  ): Promise<ManifestRecord> {
    assertValidName(name);
    refuseCacheWrite(this.options.cache, name);
    if (body.length > this.options.maxManifestSize) {
      throw new SizeInvalidError(
        `manifest is ${body.length} bytes; the limit is ${this.options.maxManifestSize}`,
        true,
      );
    }
    const ref = parseReference(reference, true);
    const algorithm = ref.digest ? parseDigest(ref.digest).algorithm : 'sha256';
    const digest = digestOf(body, algorithm);
    if (ref.digest && ref.digest !== digest) {
      throw new DigestInvalidError(`manifest body has digest ${digest}, not ${ref.digest}`, {
        expected: ref.digest,
        actual: digest,
      });
    }
    if (ref.tag !== undefined) await this.checkTagMutable(name, ref.tag, digest);
    const before = await this.tagBefore(name, ref.tag);
    const record = await this.persist(name, digest, contentType, body, ref.tag, true);
    const events = this.options.events;
    if (events) {
      const { mediaType, size } = record;
      events.record('Manifest Pushed', { repository: name, digest, mediaType, size, tag: ref.tag });
      if (ref.tag !== undefined && before !== digest) {
        events.record('Tag Changed', {
          repository: name,
          tag: ref.tag,
          digest,
          previousDigest: before,
          action: before ? 'moved' : 'created',
        });
      }
    }
    return record;
  }

  /** Where `tag` points before a push or delete changes it: read only when a `Tag Changed` event will say so. */
  private async tagBefore(name: string, tag: string | undefined): Promise<string | undefined> {
    if (tag === undefined || !this.options.events?.wants('Tag Changed')) return undefined;
    return this.manifests.getTag(name, tag);
  }

  /**
   * Stores a manifest whose digest is known to be `digest`: parsed and checked, its body inline or in
   * the blob store, indexed with its tag. With `checkRefs`, every blob and manifest it references
   * must be in the repository (a push); a cache stores without them (they come on demand).
   */
  private async persist(
    name: string,
    digest: string,
    contentType: string | undefined,
    body: Uint8Array,
    tag: string | undefined,
    checkRefs = false,
  ): Promise<ManifestRecord> {
    const algorithm = parseDigest(digest).algorithm;
    const parsed = parseManifest(body, contentType);
    // Annotations are kept only for the referrers API, in the index record, which must stay small.
    const annotations = parsed.subject ? parsed.annotations : undefined;
    if (annotations && JSON.stringify(annotations).length > MAX_REFERRER_ANNOTATIONS) {
      throw new ManifestInvalidError(
        `annotations of a manifest with a subject are limited to ${MAX_REFERRER_ANNOTATIONS} bytes of JSON, as they are served by the referrers API`,
      );
    }
    const [missingBlobs, missingManifests] = await Promise.all([
      checkRefs && parsed.blobs.length ? this.blobs.missingLinks(name, unique(parsed.blobs)) : [],
      checkRefs && parsed.manifests.length ? this.manifests.missingManifests(name, unique(parsed.manifests)) : [],
    ]);
    const missing = [...missingBlobs, ...missingManifests];
    if (missing.length > 0) {
      throw new ManifestBlobUnknownError(
        `manifest references ${missing.length} unknown blob(s) or manifest(s): ${missing.slice(0, 5).join(', ')}`,
        {
          missing,
        },
      );
    }
    const inline = body.length <= this.options.inlineLimit;
    const key = inline ? undefined : keys.manifest(digest, randomUUID().slice(0, 8));
    if (key) await this.store.put(key, body, algorithm === 'sha256' ? digest.slice(7) : undefined);
    const record: ManifestRecord = {
      digest,
      mediaType: parsed.mediaType,
      size: body.length,
      ...(inline ? { body } : { key }),
      subject: parsed.subject,
      artifactType: parsed.subject ? parsed.artifactType : undefined,
      annotations,
    };
    try {
      await this.manifests.putManifest(
        name,
        record,
        tag,
        checkRefs ? { blobs: unique(parsed.blobs), manifests: unique(parsed.manifests) } : undefined,
      );
    } catch (err) {
      if (!(err instanceof ConcurrentModificationError)) throw err;
      throw new ManifestBlobUnknownError(
        'a blob or manifest this manifest references was removed while it was being stored (garbage collection); push them again',
      );
    }
    return record;
  }

  /** An immutable tag may be set once and pushed again with the same manifest, never moved. */
  private async checkTagMutable(name: string, tag: string, digest: string): Promise<void> {
    if (!this.options.policy) return;
    const policy = await this.options.policy();
    if (!isImmutable(policy, name, tag)) return;
    const current = await this.manifests.getTag(name, tag);
    if (current !== undefined && current !== digest) {
      throw new DeniedError(`tag ${tag} of ${name} is immutable: it points at ${current}; push under a new tag`);
    }
  }

  /**
   * By digest, deletes the revision and its tags; by tag, deletes only the tag.
   * @throws ManifestUnknownError when there was nothing to delete.
   */
  async delete(name: string, reference: string): Promise<void> {
    assertValidName(name);
    refuseCacheWrite(this.options.cache, name);
    const ref = parseReference(reference);
    if (ref.tag === undefined) {
      if (!(await this.manifests.deleteManifest(name, ref.digest))) throw this.unknown(name, reference);
      // Its tags went with it; they get no events of their own.
      this.options.events?.record('Manifest Deleted', { repository: name, digest: ref.digest });
      return;
    }
    const before = await this.tagBefore(name, ref.tag);
    if (!(await this.manifests.deleteTag(name, ref.tag))) throw this.unknown(name, reference);
    // The tag was deleted, so it pointed somewhere; only a racing push can have hidden where.
    if (before !== undefined) {
      this.options.events?.record('Tag Changed', { repository: name, tag: ref.tag, digest: before, action: 'deleted' });
    }
  }

  private unknown(name: string, reference: string): ManifestUnknownError {
    return new ManifestUnknownError(`manifest ${reference} is unknown to repository ${name}`);
  }

  /** A body in the bucket that is gone (a delete raced this read) is an unknown manifest, not an unknown blob. */
  private async readBody(key: string, name: string, reference: string): Promise<Uint8Array> {
    try {
      return await this.store.get(key);
    } catch (err) {
      if (err instanceof BlobUnknownError) {
        throw this.unknown(name, reference);
      }
      throw err;
    }
  }
}

/**
 * Splits a reference into tag or digest. An invalid tag is reported as an unknown manifest when
 * reading (no such tag can exist) and as an invalid manifest reference when writing.
 */
export function parseReference(reference: string, forWrite = false): Reference {
  if (looksLikeDigest(reference)) return { digest: parseDigest(reference).value };
  if (!isValidTag(reference)) {
    const message = `invalid tag "${reference}": tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`;
    throw forWrite ? new ManifestInvalidError(message) : new ManifestUnknownError(message);
  }
  return { tag: reference };
}

/**
 * A cached repository is read-only to clients: what it holds is the upstream's, and the collector
 * cleans it up (docs/pull-through-cache.md).
 */
export function refuseCacheWrite(cache: CacheRules | undefined, name: string): void {
  if (cache?.covers(name)) {
    throw new DeniedError(`repository ${name} is a pull-through cache of another registry: it is read-only here`);
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
