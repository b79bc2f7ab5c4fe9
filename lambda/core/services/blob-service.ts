import { parseDigest } from '../digest';
import { BlobUnknownError } from '../errors';
import { assertValidName } from '../names';
import type { BlobStore } from '../ports/blob-store';
import type { BlobIndex, BlobRecord } from '../ports/metadata';
import { refuseCacheWrite } from './manifest-service';
import type { EventRecorder } from '../ports/events';
import {
  pulledFrom,
  recordCacheEvents,
  type BlobCache,
  type CacheOutcome,
  type CacheRules,
  type OpenFill,
} from './pull-through';

/** A blob GET's answer: a presigned URL to the stored bytes, or (a cached blob too large to fill here) where it is filled. */
export type BlobLocation =
  | { readonly record: BlobRecord; readonly url: string; readonly cache?: CacheOutcome; readonly fill?: undefined }
  | { readonly fill: string; readonly record?: undefined; readonly url?: undefined; readonly cache?: undefined };

/**
 * Reading, deleting and mounting blobs. A repository sees only the blobs linked into it.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pulling-blobs
 */
export class BlobService {
  constructor(
    private readonly store: BlobStore,
    private readonly blobs: BlobIndex,
    private readonly redirectTtlSeconds: number,
    /** Pull-through cache rules and their blob fills (docs/pull-through-cache.md). */
    private readonly cache?: { readonly rules: CacheRules; readonly blobs: BlobCache },
    /** Where pulls, deletes and mounts are told (docs/events.md). */
    private readonly events?: EventRecorder,
  ) {}

  /** The rules in force, when any: cached repositories refuse writes. */
  get cacheRules(): CacheRules | undefined {
    return this.cache?.rules;
  }

  /**
   * The blob's size and location, in one index read.
   * @throws BlobUnknownError when `name` has no link to `digest`.
   */
  async stat(name: string, digest: string): Promise<BlobRecord> {
    assertValidName(name);
    parseDigest(digest);
    const record = await this.blobs.getLink(name, digest);
    if (record) return record;
    const match = this.cache?.rules.match(name);
    if (match && this.cache) return this.cache.blobs.stat(name, digest, match);
    throw unknownBlob(name, digest);
  }

  /**
   * A short-lived URL to fetch the blob's bytes directly from the blob store, plus its record. In a
   * cached repository a blob not yet here is fetched first, or, too large for this request, its
   * fill path is answered instead.
   */
  async locate(name: string, digest: string): Promise<BlobLocation> {
    assertValidName(name);
    parseDigest(digest);
    const linked = await this.blobs.getLink(name, digest);
    if (linked) return this.pulled(name, await this.presigned(linked));
    const match = this.cache?.rules.match(name);
    if (!match || !this.cache) throw unknownBlob(name, digest);
    const cached = await this.cache.blobs.locate(name, digest, match);
    if (cached.fill !== undefined) return { fill: cached.fill };
    return this.pulled(name, { ...(await this.presigned(cached.record)), cache: cached.cache });
  }

  /**
   * `Blob Pulled` as the redirect to the bucket is issued (docs/events.md: whether the download then
   * completes, the registry does not learn), and what the cache did.
   */
  private pulled<T extends { record: BlobRecord; cache?: CacheOutcome }>(name: string, located: T): T {
    const { record, cache } = located;
    recordCacheEvents(this.events, name, record.digest, cache);
    if (this.events?.wants('Blob Pulled')) {
      this.events.record('Blob Pulled', {
        repository: name,
        digest: record.digest,
        size: record.size,
        ...pulledFrom(cache),
      });
    }
    return located;
  }

  /**
   * The upload data path's fill of a cached blob (`/v2/<name>/blobs/_fill/<digest>`): the stored
   * blob, or the upstream's bytes to stream to the client while they are stored.
   * @throws BlobUnknownError when no cache rule serves `name`.
   */
  async openFill(name: string, digest: string): Promise<{ record: BlobRecord } | OpenFill> {
    assertValidName(name);
    parseDigest(digest);
    const match = this.cache?.rules.match(name);
    if (!match || !this.cache) throw new BlobUnknownError(`repository ${name} is not a pull-through cache`);
    const opened = await this.cache.blobs.openFill(name, digest, match);
    if ('record' in opened) return { record: this.pulled(name, { record: opened.record }).record };
    // Pulled once the streamed bytes were verified and stored.
    return {
      ...opened,
      store: async (source) => {
        const record = await opened.store(source);
        this.pulled(name, { record, cache: { ...opened.cache, bytes: record.size } });
        return record;
      },
    };
  }

  /** A presigned GET of the stored blob. */
  async presigned(record: BlobRecord): Promise<{ record: BlobRecord; url: string }> {
    return { record, url: await this.store.presignGet(record.key, this.redirectTtlSeconds) };
  }

  /**
   * Unlinks the blob from the repository. Its bytes stay while other repositories link them.
   * @throws BlobUnknownError when there was no link.
   */
  async delete(name: string, digest: string): Promise<void> {
    assertValidName(name);
    refuseCacheWrite(this.cache?.rules, name);
    parseDigest(digest);
    if (!(await this.blobs.deleteLink(name, digest))) throw unknownBlob(name, digest);
    this.events?.record('Blob Deleted', { repository: name, digest });
  }

  /**
   * Links a blob of repository `from` into `name` without moving bytes. Returns undefined when `from`
   * has no such blob, so the caller falls back to an ordinary upload.
   */
  async mount(name: string, digest: string, from: string): Promise<BlobRecord | undefined> {
    assertValidName(name);
    assertValidName(from);
    parseDigest(digest);
    const record = await this.blobs.getLink(from, digest);
    if (!record) return undefined;
    await this.blobs.putLink(name, record);
    this.events?.record('Blob Pushed', { repository: name, digest, size: record.size, mountedFrom: from });
    return record;
  }
}

function unknownBlob(name: string, digest: string): BlobUnknownError {
  return new BlobUnknownError(`blob ${digest} is unknown to repository ${name}`);
}
