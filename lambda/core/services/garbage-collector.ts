import { matchesPattern } from '../auth/access';
import { parseManifest } from '../manifest';
import type { ImmutableTagRule, TagRetentionRule } from '../policy';
import type { BlobStore } from '../ports/blob-store';
import type { Clock } from '../ports/clock';
import type {
  BlobEntry,
  GcSnapshot,
  GcStore,
  ManifestEntry,
  ObjectLister,
  RepositorySnapshot,
  TagEntry,
} from '../ports/gc';
import { lastUsed, notPulledFor } from '../pulls';

export type { TagRetentionRule };

export interface GcOptions {
  /**
   * Nothing written, linked or referenced more recently than this is collected: the time a push has
   * between uploading its blobs and putting the manifest that references them.
   */
  readonly graceSeconds: number;
  /** Untagged manifests (not in an index, not a referrer of a live manifest) older than this go; undefined keeps them. */
  readonly untaggedRetentionSeconds?: number;
  readonly tagRules?: readonly TagRetentionRule[];
  /** Tags retention rules never remove. */
  readonly immutableTags?: readonly ImmutableTagRule[];
  /**
   * Manifests neither pulled nor pushed for this many days go with their tags, unless an immutable
   * tag, the grace period or a live manifest (an index, a subject) keeps them; undefined: no such rule.
   */
  readonly notPulledForDays?: number;
}

/** A manifest the not-pulled rule removes (or, in a dry run, would). */
export interface NotPulledManifest {
  readonly repository: string;
  readonly digest: string;
  /** The tags that go with it. */
  readonly tags: readonly string[];
  /** UTC day of its last recorded pull; null when none was. */
  readonly lastPulled: string | null;
  /** When it was pushed (ISO 8601); null when written before push times were kept. */
  readonly pushedAt: string | null;
}

export interface GcReport {
  readonly dryRun: boolean;
  readonly repositories: number;
  /** Repositories left with nothing, removed from the catalog. */
  readonly emptiedRepositories: number;
  readonly tags: number;
  readonly manifests: number;
  readonly links: number;
  readonly blobs: number;
  /** Unreferenced objects removed (or, in a dry run, that would be once they are old enough). */
  readonly objects: number;
  readonly bytes: number;
  /** Deletes a concurrent write won (kept, as it should be). */
  readonly skipped: number;
  /** Manifests removed because they were not pulled for `notPulledForDays` (included in `manifests`). */
  readonly notPulled: readonly NotPulledManifest[];
}

export type GcProgress = (phase: string, done: number, total: number) => void;

/**
 * How long an unreferenced object must have been seen so, at the least, whatever the grace period:
 * longer than any write takes from landing its object to recording it (a function's 15 minutes).
 */
export const ORPHAN_QUARANTINE_MS = 60 * 60 * 1000;

/** Prefixes of the objects the collector owns; upload staging (`uploads/`) is the upload sweeper's. */
const OWNED_PREFIXES = ['blobs/', 'manifests/'];

/**
 * Online garbage collection: mark what tags reach (through indexes and referrers), then delete what
 * nothing reaches, each delete conditional so that any push concurrent with the run wins over it.
 * No read-only window. See docs/garbage-collection.md for why no referenced blob can be lost.
 */
export class GarbageCollector {
  constructor(
    private readonly gc: GcStore,
    private readonly store: BlobStore,
    private readonly lister: ObjectLister,
    private readonly clock: Clock,
    private readonly options: GcOptions,
  ) {}

  async run(options: { dryRun?: boolean; progress?: GcProgress } = {}): Promise<GcReport> {
    const dryRun = options.dryRun ?? false;
    const progress = options.progress ?? (() => {});
    const now = this.clock.now();
    const cutoff = now - this.options.graceSeconds * 1000;
    const snapshot = await this.gc.snapshot();
    const counts = { tags: 0, manifests: 0, links: 0, blobs: 0, objects: 0, bytes: 0, skipped: 0 };
    const notPulled: NotPulledManifest[] = [];
    const count = (kind: keyof typeof counts, ok: boolean, bytes = 0) => {
      if (ok) {
        counts[kind]++;
        counts.bytes += bytes;
      } else counts.skipped++;
    };

    // 1. Tag retention rules, then what each repository still reaches.
    const repos = [...snapshot.repositories];
    let done = 0;
    for (const [name, repo] of repos) {
      for (const { tag, digest, updatedAt } of this.expiredTags(name, repo)) {
        count('tags', dryRun || (await this.gc.deleteTag(name, tag, digest, updatedAt)));
        repo.tags.delete(tag);
      }
      const stale = this.notPulled(name, repo, cutoff, now);
      const live = await this.reachable(repo, cutoff, now, stale);
      for (const entry of [...repo.manifests.values()].filter((m) => !live.manifests.has(m.digest))) {
        // Only a manifest the not-pulled rule took out of the roots can still have tags here.
        const tags: TagEntry[] = stale.has(entry.digest) ? tagsOf(repo, entry.digest) : [];
        const deleted = dryRun || (await this.gc.deleteManifest(name, entry, cutoff, tags));
        count('manifests', deleted);
        if (!deleted) continue;
        repo.manifests.delete(entry.digest);
        for (const { tag } of tags) repo.tags.delete(tag);
        counts.tags += tags.length;
        if (stale.has(entry.digest)) notPulled.push(notPulledReport(name, entry, tags));
      }
      for (const [digest, link] of [...repo.links]) {
        if (live.blobs.has(digest) || recent(link.linkedAt, link.refAt, cutoff)) continue;
        const deleted = dryRun || (await this.gc.deleteLink(name, digest, cutoff));
        count('links', deleted);
        if (deleted) repo.links.delete(digest);
      }
      progress('repositories', ++done, repos.length);
    }

    // Repositories left with nothing leave the catalog (unless a push renewed the entry meanwhile).
    let emptied = 0;
    if (!dryRun) {
      for (const [name, putAt] of snapshot.catalog) {
        const repo = snapshot.repositories.get(name);
        if (repo && (repo.manifests.size > 0 || repo.tags.size > 0 || repo.links.size > 0)) continue;
        if (await this.gc.deleteCatalogEntry(name, putAt)) emptied++;
      }
    }

    // 2. Blobs no repository links any more.
    const linked = new Set(repos.flatMap(([, repo]) => [...repo.links.keys()]));
    const unlinked = [...snapshot.blobs.values()].filter(
      (b) => !linked.has(b.digest) && (b.claimedAt !== undefined || b.lastLinkedAt < cutoff),
    );
    done = 0;
    for (const blob of unlinked) {
      count('blobs', await this.deleteBlob(blob, cutoff, now, dryRun), blob.size);
      progress('blobs', ++done, unlinked.length);
    }

    // 3. Objects nothing references (crashed writes, superseded copies), after two sightings.
    counts.objects += await this.sweepObjects(snapshot, unlinked, now, cutoff, dryRun, (bytes) => {
      counts.bytes += bytes;
    });
    return { dryRun, repositories: repos.length, emptiedRepositories: emptied, ...counts, notPulled };
  }

  /** Tags beyond each matching rule's `keepLast`, oldest first. */
  private expiredTags(name: string, repo: RepositorySnapshot) {
    const doomed: { tag: string; digest: string; updatedAt: number }[] = [];
    for (const rule of this.options.tagRules ?? []) {
      if (!matchesPattern(rule.repository, name)) continue;
      const matching = [...repo.tags]
        .filter(([tag]) => matchesPattern(rule.tag, tag) && !this.immutable(name, tag))
        .sort(([, a], [, b]) => b.updatedAt - a.updatedAt);
      for (const [tag, t] of matching.slice(rule.keepLast)) doomed.push({ tag, ...t });
    }
    return doomed;
  }

  private immutable(name: string, tag: string): boolean {
    return (this.options.immutableTags ?? []).some(
      (r) => matchesPattern(r.repository, name) && matchesPattern(r.tag, tag),
    );
  }

  /**
   * Digests of the manifests the not-pulled rule takes out of the roots: last pulled (or, never
   * pulled, pushed) `notPulledForDays` days ago or more, outside the grace period, and without an
   * immutable tag. One of them still stays when a live manifest reaches it.
   */
  private notPulled(name: string, repo: RepositorySnapshot, cutoff: number, now: number): Set<string> {
    const days = this.options.notPulledForDays;
    const stale = new Set<string>();
    if (days === undefined) return stale;
    for (const m of repo.manifests.values()) {
      if (recent(m.putAt, m.refAt, cutoff) || !notPulledFor(lastUsed(m), days, now)) continue;
      stale.add(m.digest);
    }
    for (const [tag, t] of repo.tags) if (stale.has(t.digest) && this.immutable(name, tag)) stale.delete(t.digest);
    return stale;
  }

  /**
   * The manifests and blobs a repository keeps: tagged manifests, recent ones, untagged ones within
   * their retention, and everything those reach through index children and referrers. Manifests in
   * `notPulled` are no roots, tagged or not.
   */
  private async reachable(repo: RepositorySnapshot, cutoff: number, now: number, notPulled: ReadonlySet<string>) {
    const retention = this.options.untaggedRetentionSeconds;
    const manifests = new Set<string>();
    const blobs = new Set<string>();
    const tagged = new Set([...repo.tags.values()].map((t) => t.digest));
    const roots = [...repo.manifests.values()].filter(
      (m) =>
        recent(m.putAt, m.refAt, cutoff) ||
        (!notPulled.has(m.digest) &&
          (retention === undefined || m.putAt >= now - retention * 1000 || tagged.has(m.digest))),
    );
    const referrersOf = new Map<string, ManifestEntry[]>();
    for (const m of repo.manifests.values()) {
      if (m.subject) referrersOf.set(m.subject, [...(referrersOf.get(m.subject) ?? []), m]);
    }
    const queue = roots.map((m) => m.digest);
    for (let digest = queue.pop(); digest !== undefined; digest = queue.pop()) {
      const entry = repo.manifests.get(digest);
      if (!entry || manifests.has(digest)) continue;
      manifests.add(digest);
      const refs = await this.references(entry);
      for (const b of refs.blobs) blobs.add(b);
      queue.push(...refs.manifests, ...(referrersOf.get(digest) ?? []).map((r) => r.digest));
    }
    return { manifests, blobs };
  }

  private async references(entry: ManifestEntry): Promise<{ blobs: string[]; manifests: string[] }> {
    const body = entry.body ?? (entry.key ? await this.store.get(entry.key) : undefined);
    if (!body) return { blobs: [], manifests: [] };
    const parsed = parseManifest(body, entry.mediaType);
    return { blobs: parsed.blobs, manifests: parsed.manifests };
  }

  /** Claims the blob (from then on nothing can link it), deletes its object, then its record. */
  private async deleteBlob(blob: BlobEntry, cutoff: number, now: number, dryRun: boolean): Promise<boolean> {
    if (dryRun) return true;
    if (!(await this.gc.claimBlob(blob.digest, cutoff, now))) return false;
    await this.store.delete([blob.key]);
    await this.gc.deleteBlob(blob.digest);
    return true;
  }

  /**
   * Objects under the collector's prefixes that no blob record or manifest names. A write lands its
   * object before its record, so an object is removed only when it was already unreferenced in an
   * earlier run at least a grace period ago, and still is.
   */
  private async sweepObjects(
    snapshot: GcSnapshot,
    deletedBlobs: readonly BlobEntry[],
    now: number,
    cutoff: number,
    dryRun: boolean,
    freed: (bytes: number) => void,
  ): Promise<number> {
    const gone = new Set(deletedBlobs.map((b) => b.key));
    const referenced = new Set<string>();
    for (const b of snapshot.blobs.values()) if (!gone.has(b.key)) referenced.add(b.key);
    for (const repo of snapshot.repositories.values()) {
      for (const m of repo.manifests.values()) if (m.key) referenced.add(m.key);
    }
    let removed = 0;
    const seen = new Set<string>();
    const quarantined = Math.min(cutoff, now - ORPHAN_QUARANTINE_MS);
    for (const prefix of OWNED_PREFIXES) {
      for await (const object of this.lister.list(prefix)) {
        if (referenced.has(object.key) || gone.has(object.key)) continue;
        seen.add(object.key);
        const firstSeen = snapshot.orphans.get(object.key);
        if (firstSeen !== undefined && firstSeen < quarantined && object.lastModified < quarantined) {
          removed++;
          freed(object.size);
          if (!dryRun) {
            await this.store.delete([object.key]);
            await this.gc.deleteOrphan(object.key);
          }
        } else if (firstSeen === undefined && !dryRun) {
          await this.gc.putOrphan(object.key, now);
        }
      }
    }
    // Candidates that are referenced again, or gone, are forgotten.
    if (!dryRun) for (const key of snapshot.orphans.keys()) if (!seen.has(key)) await this.gc.deleteOrphan(key);
    return removed;
  }
}

function tagsOf(repo: RepositorySnapshot, digest: string): TagEntry[] {
  return [...repo.tags].filter(([, t]) => t.digest === digest).map(([tag, t]) => ({ tag, updatedAt: t.updatedAt }));
}

function notPulledReport(repository: string, entry: ManifestEntry, tags: readonly TagEntry[]): NotPulledManifest {
  return {
    repository,
    digest: entry.digest,
    tags: tags.map((t) => t.tag).sort(),
    lastPulled: entry.pulledOn ?? null,
    pushedAt: entry.putAt > 0 ? new Date(entry.putAt).toISOString() : null,
  };
}

function recent(at: number, refAt: number | undefined, cutoff: number): boolean {
  return at >= cutoff || (refAt ?? 0) >= cutoff;
}
