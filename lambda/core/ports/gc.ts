/**
 * What garbage collection reads and the conditional deletes it makes. Each delete is conditional
 * on what the snapshot saw and on the grace period, so a write that happened after the snapshot
 * always wins over the collector (docs/garbage-collection.md).
 */
import type { ManifestRecord } from './metadata';

/** A manifest revision as the snapshot saw it, with the timestamps the grace period is checked on. */
export interface ManifestEntry extends Pick<
  ManifestRecord,
  'digest' | 'mediaType' | 'size' | 'body' | 'key' | 'subject'
> {
  /** Epoch ms of the last PUT (0 when written before timestamps were kept). */
  readonly putAt: number;
  /** Epoch ms of the last time a manifest push referenced it (an index), if ever. */
  readonly refAt?: number;
  /** UTC day (`YYYY-MM-DD`) of its last recorded pull, if ever. */
  readonly pulledOn?: string;
}

/** A tag as the snapshot saw it, for a delete conditional on it being unchanged. */
export interface TagEntry {
  readonly tag: string;
  readonly updatedAt: number;
}

export interface RepositorySnapshot {
  readonly manifests: Map<string, ManifestEntry>;
  /** tag → digest and when the tag was last set. */
  readonly tags: Map<string, { readonly digest: string; readonly updatedAt: number }>;
  /** digest → when linked and last referenced by a manifest push. */
  readonly links: Map<string, { readonly linkedAt: number; readonly refAt?: number }>;
}

export interface BlobEntry {
  readonly digest: string;
  readonly key: string;
  readonly size: number;
  readonly lastLinkedAt: number;
  /** Set while a collector is deleting it (epoch ms of the claim). */
  readonly claimedAt?: number;
}

export interface GcSnapshot {
  readonly repositories: Map<string, RepositorySnapshot>;
  readonly blobs: Map<string, BlobEntry>;
  /** Object keys seen unreferenced by earlier runs, with when they were first seen so. */
  readonly orphans: Map<string, number>;
  /** Catalog entries: repository → when a manifest push last renewed it (0 if never recorded). */
  readonly catalog: Map<string, number>;
}

export interface GcStore {
  /** Every repository's manifests, tags and links, every blob record, strongly consistent per item. */
  snapshot(): Promise<GcSnapshot>;
  /**
   * Deletes a manifest revision (and its referrers entry) unless it was put again or pulled since
   * the snapshot, or referenced by a push after `cutoff`; with `tags`, those tags too, atomically,
   * each unless it was set again since the snapshot. False when a condition failed (nothing goes).
   */
  deleteManifest(name: string, entry: ManifestEntry, cutoff: number, tags?: readonly TagEntry[]): Promise<boolean>;
  /** Deletes a tag if it still points where it did and was not set again. */
  deleteTag(name: string, tag: string, digest: string, updatedAt: number): Promise<boolean>;
  /** Deletes a link unless it was made or referenced after `cutoff`. */
  deleteLink(name: string, digest: string, cutoff: number): Promise<boolean>;
  /**
   * Claims a blob for deletion unless it was linked after `cutoff` (or is already claimed by a run
   * that is still young); from then on nothing can link it.
   */
  claimBlob(digest: string, cutoff: number, now: number): Promise<boolean>;
  /** Removes a claimed blob's record (after its object is gone). */
  deleteBlob(digest: string): Promise<void>;
  /** Removes a repository's catalog entry unless a manifest push renewed it since the snapshot. */
  deleteCatalogEntry(name: string, putAt: number): Promise<boolean>;
  putOrphan(key: string, firstSeen: number): Promise<void>;
  deleteOrphan(key: string): Promise<void>;
}

/** An object in the blob store, as listed. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  /** Epoch ms. */
  readonly lastModified: number;
}

/** Listing the blob store (S3 ListObjectsV2) and reading objects as streams, for audits. */
export interface ObjectLister {
  list(prefix: string): AsyncIterable<StoredObject>;
  /** The object's bytes in chunks; throws BlobUnknownError when absent. */
  read(key: string): AsyncIterable<Uint8Array>;
}
