import { parseDigest } from '../digest';
import { NameUnknownError } from '../errors';
import { MediaTypes, type Descriptor } from '../manifest';
import { assertValidName } from '../names';
import type { ManifestIndex, Page } from '../ports/metadata';

/** Largest page served when the client asks for more or for everything. */
export const MAX_PAGE_SIZE = 1000;

/** The image index served by the referrers API. */
export interface ReferrersIndex {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MediaTypes.ociIndex;
  readonly manifests: Descriptor[];
}

/**
 * Tags list, catalog and referrers.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#content-discovery
 */
export class DiscoveryService {
  constructor(private readonly manifests: ManifestIndex) {}

  /**
   * One page of tags in lexical order.
   * @throws NameUnknownError when the repository holds nothing at all.
   */
  async listTags(name: string, n?: number, last?: string): Promise<Page<string>> {
    assertValidName(name);
    const page = await this.manifests.listTags(name, pageSize(n), last);
    if (page.items.length === 0 && last === undefined && n !== 0 && !(await this.manifests.repositoryExists(name))) {
      throw new NameUnknownError(`repository ${name} is not known to this registry`);
    }
    return page;
  }

  /** One page of repository names in lexical order. */
  async catalog(n?: number, last?: string): Promise<Page<string>> {
    return this.manifests.listRepositories(pageSize(n), last);
  }

  /**
   * Manifests in `name` whose subject is `digest`, optionally only those of one artifact type. The
   * subject itself need not exist.
   */
  async referrers(name: string, digest: string, artifactType?: string): Promise<ReferrersIndex> {
    assertValidName(name);
    parseDigest(digest);
    const records = await this.manifests.listReferrers(name, digest);
    const manifests = records
      .filter((r) => artifactType === undefined || r.artifactType === artifactType)
      .map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
        ...(r.annotations !== undefined ? { annotations: r.annotations } : {}),
      }));
    return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
  }
}

function pageSize(n: number | undefined): number {
  return n === undefined ? MAX_PAGE_SIZE : Math.min(n, MAX_PAGE_SIZE);
}
