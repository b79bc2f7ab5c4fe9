import { createHash } from 'node:crypto';
import type { GcStore, ObjectLister } from '../ports/gc';

export interface RepositoryUsage {
  readonly repository: string;
  readonly manifests: number;
  readonly tags: number;
  readonly blobs: number;
  /** Bytes of every blob the repository links (shared blobs counted in each repository). */
  readonly bytes: number;
  /** Bytes of blobs no other repository links: what deleting the repository would free. */
  readonly exclusiveBytes: number;
}

export interface VerifyReport {
  readonly checked: number;
  readonly bytes: number;
  /** Blobs whose bytes do not hash to their digest, or whose object is missing. */
  readonly mismatches: { readonly digest: string; readonly key: string; readonly problem: string }[];
}

export type AuditProgress = (done: number, total: number, bytes: number) => void;

/** Read-only audits for operators: storage per repository, and re-hashing stored blobs. */
export class StorageAudit {
  constructor(
    private readonly gc: GcStore,
    private readonly objects: ObjectLister,
  ) {}

  /** Bytes per repository, largest first, from one consistent snapshot of the table. */
  async usage(): Promise<RepositoryUsage[]> {
    const snapshot = await this.gc.snapshot();
    const holders = new Map<string, number>();
    for (const repo of snapshot.repositories.values()) {
      for (const d of repo.links.keys()) holders.set(d, (holders.get(d) ?? 0) + 1);
    }
    const size = (d: string) => snapshot.blobs.get(d)?.size ?? 0;
    return [...snapshot.repositories]
      .map(([repository, repo]) => {
        const digests = [...repo.links.keys()];
        return {
          repository,
          manifests: repo.manifests.size,
          tags: repo.tags.size,
          blobs: digests.length,
          bytes: digests.reduce((sum, d) => sum + size(d), 0),
          exclusiveBytes: digests.filter((d) => holders.get(d) === 1).reduce((sum, d) => sum + size(d), 0),
        };
      })
      .sort((a, b) => b.bytes - a.bytes || a.repository.localeCompare(b.repository));
  }

  /**
   * Streams stored blobs back and hashes them: all of them, or a random sample of `sample`. Content
   * addressability checked end to end, as S3 holds it now.
   */
  async verify(options: { sample?: number; progress?: AuditProgress } = {}): Promise<VerifyReport> {
    const snapshot = await this.gc.snapshot();
    let blobs = [...snapshot.blobs.values()].filter((b) => b.claimedAt === undefined);
    if (options.sample !== undefined && options.sample < blobs.length) {
      blobs = blobs
        .map((b) => ({ b, r: Math.random() }))
        .sort((x, y) => x.r - y.r)
        .slice(0, options.sample)
        .map(({ b }) => b);
    }
    const mismatches: VerifyReport['mismatches'][number][] = [];
    let bytes = 0;
    let checked = 0;
    for (const blob of blobs) {
      const [algorithm, expected] = blob.digest.split(':') as [string, string];
      const hash = createHash(algorithm);
      let size = 0;
      try {
        for await (const chunk of this.objects.read(blob.key)) {
          hash.update(chunk);
          size += chunk.length;
        }
        const actual = hash.digest('hex');
        if (actual !== expected)
          mismatches.push({ digest: blob.digest, key: blob.key, problem: `hashes to ${algorithm}:${actual}` });
        else if (size !== blob.size)
          mismatches.push({ digest: blob.digest, key: blob.key, problem: `${size} bytes, recorded ${blob.size}` });
      } catch (err) {
        mismatches.push({ digest: blob.digest, key: blob.key, problem: `unreadable: ${(err as Error).message}` });
      }
      bytes += size;
      checked++;
      options.progress?.(checked, blobs.length, bytes);
    }
    return { checked, bytes, mismatches };
  }
}
