import { parseDigest } from '../digest';
import { BlobUnknownError } from '../errors';
import { assertValidName } from '../names';
import type { BlobStore } from '../ports/blob-store';
import type { BlobIndex, BlobRecord } from '../ports/metadata';

/**
 * Reading, deleting and mounting blobs. A repository sees only the blobs linked into it.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pulling-blobs
 */
export class BlobService {
  constructor(
    private readonly store: BlobStore,
    private readonly blobs: BlobIndex,
    private readonly redirectTtlSeconds: number,
  ) {}

  /**
   * The blob's size and location, in one index read.
   * @throws BlobUnknownError when `name` has no link to `digest`.
   */
  async stat(name: string, digest: string): Promise<BlobRecord> {
    assertValidName(name);
    parseDigest(digest);
    const record = await this.blobs.getLink(name, digest);
    if (!record) throw new BlobUnknownError(`blob ${digest} is unknown to repository ${name}`);
    return record;
  }

  /** A short-lived URL to fetch the blob's bytes directly from the blob store, plus its record. */
  async locate(name: string, digest: string): Promise<{ record: BlobRecord; url: string }> {
    const record = await this.stat(name, digest);
    return { record, url: await this.store.presignGet(record.key, this.redirectTtlSeconds) };
  }

  /**
   * Unlinks the blob from the repository. Its bytes stay while other repositories link them.
   * @throws BlobUnknownError when there was no link.
   */
  async delete(name: string, digest: string): Promise<void> {
    assertValidName(name);
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
