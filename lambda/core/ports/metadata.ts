/**
 * The registry's metadata (DynamoDB in production), cut into the small stores each service needs.
 * Implementations translate vendor errors: a lost conditional write becomes
 * `ConcurrentModificationError`, throttling becomes `UnavailableError`.
 */
import type { UploadSession } from './upload-session';

export type * from './upload-session';

/** Where a blob's bytes live and how big they are. */
export interface BlobRecord {
  readonly digest: string;
  readonly size: number;
  /** Object key in the blob store. */
  readonly key: string;
}

export interface BlobIndex {
  /** The blob as linked into repository `name`, or undefined when that repository cannot read it. One read. */
  getLink(name: string, digest: string): Promise<BlobRecord | undefined>;
  /** Links a stored blob into a repository (idempotent). */
  putLink(name: string, record: BlobRecord): Promise<void>;
  /** Removes a repository's link; returns false when there was none. */
  deleteLink(name: string, digest: string): Promise<boolean>;
  /** Digests among `digests` that are NOT linked into `name`. */
  missingLinks(name: string, digests: readonly string[]): Promise<string[]>;
  /** The registry-wide record of a stored blob, if any. */
  getBlob(digest: string): Promise<BlobRecord | undefined>;
  /**
   * Records a newly stored blob unless one is already recorded for that digest, and returns the
   * record that wins (the existing one when there was one), so each digest has one object.
   */
  putBlobIfAbsent(record: BlobRecord): Promise<BlobRecord>;
}

/** A stored manifest revision. `body` is inline when small; otherwise `key` names its object. */
export interface ManifestRecord {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly body?: Uint8Array;
  readonly key?: string;
  /** Digest of the manifest's `subject`, for the referrers API. */
  readonly subject?: string;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  /** The UTC day (`YYYY-MM-DD`) of the last GET of this revision, if it was ever recorded (read only). */
  readonly pulledOn?: string;
}

/** A tag as the store keeps it: the revision it points at and, for tags set since it is kept there, its descriptor. */
export interface TaggedManifest {
  readonly digest: string;
  /** The revision's media type and size, what a HEAD by tag answers with. */
  readonly descriptor?: Pick<ManifestRecord, 'digest' | 'mediaType' | 'size'>;
  /**
   * Epoch ms the tag was last set or, in a pull-through cache, last found unchanged upstream
   * (`markTagChecked`): how old the cache's word on it is.
   */
  readonly checkedAt?: number;
  /**
   * The revision's bytes, when the tag keeps them (`putManifest` stores a manifest kept inline with
   * its tag too): a GET by tag is then one read.
   */
  readonly body?: Uint8Array;
  /** The last day the revision was pulled by this tag (`recordPull` with the tag). */
  readonly pulledOn?: string;
}

/** What a manifest references in its repository: blobs (config, layers) and manifests (an index's children). */
export interface ManifestRefs {
  readonly blobs: readonly string[];
  readonly manifests: readonly string[];
}

export interface Page<T> {
  readonly items: T[];
  /** True when more items follow the last one returned. */
  readonly more: boolean;
}

export interface ManifestIndex {
  getManifest(name: string, digest: string): Promise<ManifestRecord | undefined>;
  /**
   * Stores a manifest revision and, atomically with it, the tag (if any) and the repository's
   * catalog entry. Marks what it references as referenced now, on condition that each still exists.
   * @throws ConcurrentModificationError when a referenced blob link or manifest is gone.
   */
  putManifest(name: string, record: ManifestRecord, tag?: string, refs?: ManifestRefs): Promise<void>;
  /** Deletes a revision together with every tag pointing at it; false when it did not exist. */
  deleteManifest(name: string, digest: string): Promise<boolean>;
  /**
   * Records `day` as the revision's last pull: one conditional write, which does nothing to a
   * revision that is gone (it is never recreated) or that already holds `day` or a later one. With
   * `tag` (a pull by tag), the tag records it too, in a write of its own that does nothing to a tag
   * that moved or is gone.
   */
  recordPull(name: string, digest: string, day: string, tag?: string): Promise<void>;
  /** Digests among `digests` that are not manifests of `name`. */
  missingManifests(name: string, digests: readonly string[]): Promise<string[]>;
  /** The digest a tag points at. One read. */
  getTag(name: string, tag: string): Promise<string | undefined>;
  /**
   * The revision a tag points at, with its descriptor when the tag keeps one (`putManifest` stores
   * it with the tag): a HEAD by tag in one read. A tag never outlives its revision (deleting a
   * revision deletes its tags first or with it), so the descriptor is the stored revision's. One read.
   */
  resolveTag(name: string, tag: string): Promise<TaggedManifest | undefined>;
  deleteTag(name: string, tag: string): Promise<boolean>;
  /**
   * Records that a cached repository's tag was found unchanged upstream at `at` (epoch ms): one
   * conditional write, which does nothing when the tag no longer points at `digest`.
   */
  markTagChecked(name: string, tag: string, digest: string, at: number): Promise<void>;
  /** Tags in lexical order, strictly after `last`, at most `limit`. */
  listTags(name: string, limit: number, last?: string): Promise<Page<string>>;
  /** Manifests whose subject is `subject`, in repository `name`. */
  listReferrers(name: string, subject: string): Promise<ManifestRecord[]>;
  /** Repository names in lexical order, strictly after `last`, at most `limit`. */
  listRepositories(limit: number, last?: string): Promise<Page<string>>;
  /** True when the repository holds any manifest, tag or blob link. */
  repositoryExists(name: string): Promise<boolean>;
}

/** Upload sessions by id, each replaced whole and only conditionally on its version. */
export interface UploadSessionStore {
  /** Creates a session; the id must be new. */
  create(session: UploadSession): Promise<void>;
  /** Strongly consistent read. */
  get(id: string): Promise<UploadSession | undefined>;
  /**
   * Replaces the session if its stored version still equals `expectedVersion`.
   * @throws ConcurrentModificationError otherwise.
   */
  update(session: UploadSession, expectedVersion: number): Promise<void>;
  delete(id: string): Promise<void>;
  /**
   * Deletes the session if its stored version still equals `version`, and returns what it held, so
   * its bytes can be freed; undefined when a request changed it since, or it is gone.
   */
  deleteIfUnchanged(id: string, version: number): Promise<UploadSession | undefined>;
}

/** An upload session as the expiry index lists it. */
export interface ExpiringUpload {
  readonly id: string;
  /** The version the listing saw; act on it only conditionally (the index may lag a moment). */
  readonly version: number;
  /** Epoch seconds. */
  readonly expiresAt: number;
  /** Epoch milliseconds. */
  readonly createdAt: number;
}

/** One page of a listing that continues from an opaque cursor. */
export interface CursorPage<T> {
  readonly items: T[];
  /** Pass it back for the next page; undefined when this was the last. */
  readonly cursor?: string;
}

/** How the upload sweeper finds dead sessions and removes them without racing live requests. */
export interface ExpiredUploadSessions extends Pick<UploadSessionStore, 'get' | 'deleteIfUnchanged'> {
  /**
   * Sessions whose `expiresAt` is at or before `nowSeconds`, at most `limit` per page. Eventually
   * consistent: a session extended or removed a moment ago may still be listed.
   */
  listExpired(nowSeconds: number, limit: number, cursor?: string): Promise<CursorPage<ExpiringUpload>>;
}
