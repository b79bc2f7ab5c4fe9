import { parseDigest } from '../digest';
import { NameUnknownError, PaginationInvalidError } from '../errors';
import { MediaTypes, type Descriptor } from '../manifest';
import { assertValidName, isValidName, isValidTag } from '../names';
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
   * One page of tags in lexical order, after `last` when it is given (an empty `last` is absent).
   * @throws NameUnknownError when the repository holds nothing at all.
   * @throws PaginationInvalidError when `last` is not a tag.
   * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-tags
   */
  async listTags(name: string, n?: number, last?: string): Promise<Page<string>> {
    assertValidName(name);
    const after = startAfter(last, isValidTag, 'a tag');
    const page = await this.manifests.listTags(name, pageSize(n), after);
    if (page.items.length === 0 && after === undefined && n !== 0 && !(await this.manifests.repositoryExists(name))) {
      throw new NameUnknownError(`repository ${name} is not known to this registry`);
    }
    return page;
  }

  /**
   * One page of repository names in lexical order, after `last` when it is given (an empty `last`
   * is absent).
   * @throws PaginationInvalidError when `last` is not a repository name.
   */
  async catalog(n?: number, last?: string): Promise<Page<string>> {
    return this.manifests.listRepositories(pageSize(n), startAfter(last, isValidName, 'a repository name'));
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

/**
 * Where a page starts. An empty `last` means no `last`, as in the reference registry (which reads
 * both the same way), rather than a refusal: clients that build `?n=&last=` from an empty previous
 * page get the first page, and the store never sees an empty key (DynamoDB refuses one). Any other
 * `last` must be what the list holds, as the spec asks ("a proper tag"): an arbitrary string could
 * also exceed the table's 1,024-byte sort key.
 */
function startAfter(last: string | undefined, valid: (value: string) => boolean, what: string): string | undefined {
  if (last === undefined || last === '') return undefined;
  if (!valid(last)) {
    const shown = last.length > 64 ? `${last.slice(0, 64)}…` : last;
    throw new PaginationInvalidError(`last must be ${what} (the last entry of the previous page), got "${shown}"`);
  }
  return last;
}

function pageSize(n: number | undefined): number {
  return n === undefined ? MAX_PAGE_SIZE : Math.min(n, MAX_PAGE_SIZE);
}
