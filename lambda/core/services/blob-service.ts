import { parseDigest } from '../digest';
import { BlobUnknownError } from '../errors';
import { assertValidName } from '../names';
import type { BlobStore } from '../ports/blob-store';
import type { BlobIndex, BlobRecord } from '../ports/metadata';
import { refuseCacheWrite } from './manifest-service';
import type { BlobCache, CacheOutcome, CacheRules, OpenFill } from './pull-through';

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
    throw new BlobUnknownError(`blob ${digest} is unknown to repository ${name}`);
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
    const match = linked ? undefined : this.cache?.rules.match(name);
    if (!linked && !match) throw new BlobUnknownError(`blob ${digest} is unknown to repository ${name}`);
    if (linked || !this.cache || !match) return this.presigned(linked as BlobRecord);
    const cached = await this.cache.blobs.locate(name, digest, match);
    if (cached.fill !== undefined) return { fill: cached.fill };
    return { ...(await this.presigned(cached.record)), cache: cached.cache };
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
    return this.cache.blobs.openFill(name, digest, match);
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
    if (!(await this.blobs.deleteLink(name, digest))) {
      throw new BlobUnknownError(`blob ${digest} is unknown to repository ${name}`);
    }
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
    return record;
  }
}
