import { createHash } from 'node:crypto';
import { MemoryBlobStore } from '../../../lambda/adapters/memory/memory-blob-store';
import type {
  GcSnapshot,
  GcStore,
  ManifestEntry,
  ObjectLister,
  RepositorySnapshot,
  StoredObject,
  TagEntry,
} from '../../../lambda/core/ports/gc';
import { GarbageCollector, type GcOptions } from '../../../lambda/core/services/garbage-collector';
import { ManualClock } from '../../support/memory-registry';

const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const DAY = 86_400_000;
/** 2027-01-15T10:00:00Z: "today" for every test. */
const NOW = Date.UTC(2027, 0, 15, 10);

/** The snapshot and the collector's deletes, in memory, with the same conditions as the table's. */
class FakeGcStore implements GcStore {
  readonly repositories = new Map<string, RepositorySnapshot>();
  readonly deleted: string[] = [];
  /** Pulls recorded after the snapshot was taken: name@digest → day. */
  readonly pulledSince = new Map<string, string>();

  repo(name: string): RepositorySnapshot {
    let r = this.repositories.get(name);
    if (!r) this.repositories.set(name, (r = { manifests: new Map(), tags: new Map(), links: new Map() }));
    return r;
  }
  async snapshot(): Promise<GcSnapshot> {
    const copy = new Map(
      [...this.repositories].map(([name, r]) => [
        name,
        { manifests: new Map(r.manifests), tags: new Map(r.tags), links: new Map(r.links) },
      ]),
    );
    return { repositories: copy, blobs: new Map(), orphans: new Map(), catalog: new Map() };
  }
  async deleteManifest(name: string, entry: ManifestEntry, _cutoff: number, tags: readonly TagEntry[] = []) {
    if (this.pulledSince.has(`${name}@${entry.digest}`)) return false;
    const r = this.repo(name);
    if (tags.some((t) => r.tags.get(t.tag)?.updatedAt !== t.updatedAt)) return false;
    r.manifests.delete(entry.digest);
    for (const t of tags) r.tags.delete(t.tag);
    this.deleted.push(`${name}@${entry.digest}`, ...tags.map((t) => `${name}:${t.tag}`));
    return true;
  }
  async deleteTag(name: string, tag: string) {
    this.repo(name).tags.delete(tag);
    this.deleted.push(`${name}:${tag}`);
    return true;
  }
  async deleteLink() {
    return true;
  }
  async claimBlob() {
    return true;
  }
  async deleteBlob() {}
  async deleteCatalogEntry() {
    return true;
  }
  async putOrphan() {}
  async deleteOrphan() {}
}

const noObjects: ObjectLister = {
  async *list(): AsyncIterable<StoredObject> {
    return;
  },
  async *read(): AsyncIterable<Uint8Array> {
    return;
  },
};

/** A manifest body (an image, or an index of `children`) and its entry as the snapshot would hold it. */
function manifest(seed: string, at: Partial<ManifestEntry> & { putAt: number }, children: string[] = []) {
  const body = children.length
    ? JSON.stringify({
        schemaVersion: 2,
        mediaType: INDEX,
        manifests: children.map((digest) => ({ mediaType: OCI, digest, size: 1 })),
      })
    : JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(seed), size: 1 },
        layers: [],
      });
  const entry: ManifestEntry = {
    digest: sha256(body),
    mediaType: children.length ? INDEX : OCI,
    size: body.length,
    body: Buffer.from(body),
    ...at,
  };
  return entry;
}

function setup(options: Partial<GcOptions> = {}) {
  const store = new FakeGcStore();
  const clock = new ManualClock(NOW);
  const collector = new GarbageCollector(store, new MemoryBlobStore(), noObjects, clock, {
    graceSeconds: 86_400,
    untaggedRetentionSeconds: 7 * 86_400,
    notPulledForDays: 1,
    ...options,
  });
  const add = (name: string, entry: ManifestEntry, ...tags: string[]) => {
    const r = store.repo(name);
    r.manifests.set(entry.digest, entry);
    for (const tag of tags) r.tags.set(tag, { digest: entry.digest, updatedAt: entry.putAt });
    return entry.digest;
  };
  return { store, clock, collector, add };
}

describe('garbage collection: not pulled for N days', () => {
  test('a manifest last pulled before yesterday goes with its tags; one pulled yesterday or today stays', async () => {
    const { store, collector, add } = setup();
    const old = add('app', manifest('a', { putAt: NOW - 30 * DAY, pulledOn: '2027-01-13' }), 'v1', 'stable');
    const yesterday = add('app', manifest('b', { putAt: NOW - 30 * DAY, pulledOn: '2027-01-14' }), 'v2');
    const today = add('app', manifest('c', { putAt: NOW - 30 * DAY, pulledOn: '2027-01-15' }), 'v3');

    const dry = await collector.run({ dryRun: true });
    expect(dry.notPulled).toEqual([
      {
        repository: 'app',
        digest: old,
        tags: ['stable', 'v1'],
        lastPulled: '2027-01-13',
        pushedAt: new Date(NOW - 30 * DAY).toISOString(),
      },
    ]);
    expect(dry).toMatchObject({ manifests: 1, tags: 2 });
    expect(store.deleted).toEqual([]);

    const run = await collector.run();
    expect(run.notPulled.map((m) => m.digest)).toEqual([old]);
    expect(store.deleted.sort()).toEqual([`app:stable`, `app:v1`, `app@${old}`].sort());
    expect([...store.repo('app').manifests.keys()].sort()).toEqual([yesterday, today].sort());
  });

  test('never pulled counts from the push; the grace period protects a fresh push whatever the days', async () => {
    const { collector, add } = setup({ graceSeconds: 3 * 86_400 });
    const pushedLongAgo = add('app', manifest('a', { putAt: NOW - 4 * DAY }), 'v1');
    add('app', manifest('b', { putAt: NOW - 2 * DAY }), 'v2');
    add('app', manifest('c', { putAt: NOW - 4 * DAY, refAt: NOW - DAY }));
    const report = await collector.run({ dryRun: true });
    expect(report.notPulled).toEqual([
      expect.objectContaining({ digest: pushedLongAgo, lastPulled: null, tags: ['v1'] }),
    ]);
  });

  test('a re-push after the last pull counts as use; a manifest from before push times counts as old', async () => {
    const { collector, add } = setup({ graceSeconds: 3600 });
    add('app', manifest('a', { putAt: NOW - 20 * 3_600_000, pulledOn: '2027-01-01' }), 'v1');
    const legacy = add('app', manifest('b', { putAt: 0 }), 'v0');
    const report = await collector.run({ dryRun: true });
    expect(report.notPulled).toEqual([
      { repository: 'app', digest: legacy, tags: ['v0'], lastPulled: null, pushedAt: null },
    ]);
  });

  test('an immutable tag keeps its manifest and the manifest its other tags', async () => {
    const { collector, add, store } = setup({ immutableTags: [{ repository: 'prod/*', tag: 'v*' }] });
    const locked = add('prod/app', manifest('a', { putAt: NOW - 30 * DAY }), 'v1', 'latest');
    const free = add('dev/app', manifest('a', { putAt: NOW - 30 * DAY }), 'v1');
    const report = await collector.run();
    expect(report.notPulled.map((m) => `${m.repository}@${m.digest}`)).toEqual([`dev/app@${free}`]);
    expect([...store.repo('prod/app').tags.keys()].sort()).toEqual(['latest', 'v1']);
    expect(store.repo('prod/app').manifests.has(locked)).toBe(true);
  });

  test('a live index keeps a child nobody pulls; a stale index goes with the children only it kept', async () => {
    // Untagged manifests are kept forever here, so what goes, goes by the rule.
    const { collector, add, store } = setup({ untaggedRetentionSeconds: undefined });
    const pulledChild = manifest('amd64', { putAt: NOW - 30 * DAY, pulledOn: '2027-01-15' });
    const idleChild = manifest('arm64', { putAt: NOW - 30 * DAY });
    add('multi', pulledChild);
    add('multi', idleChild);
    const index = add(
      'multi',
      manifest('', { putAt: NOW - 30 * DAY, pulledOn: '2027-01-15' }, [pulledChild.digest, idleChild.digest]),
      'v1',
    );
    expect((await collector.run({ dryRun: true })).notPulled).toEqual([]);

    store.repo('multi').manifests.set(index, { ...store.repo('multi').manifests.get(index)!, pulledOn: '2027-01-01' });
    const report = await collector.run();
    // The index goes by the rule, and so does the child no live index keeps now; the one pulled today stays.
    expect(report.notPulled.map((m) => m.digest).sort()).toEqual([index, idleChild.digest].sort());
    expect([...store.repo('multi').manifests.keys()]).toEqual([pulledChild.digest]);
  });

  test('a manifest pulled after the snapshot is kept, and without the rule nothing tagged goes', async () => {
    const { collector, add, store } = setup();
    const digest = add('app', manifest('a', { putAt: NOW - 30 * DAY, pulledOn: '2027-01-01' }), 'v1');
    store.pulledSince.set(`app@${digest}`, '2027-01-15');
    const report = await collector.run();
    expect(report).toMatchObject({ manifests: 0, tags: 0, skipped: 1, notPulled: [] });

    const off = setup({ notPulledForDays: undefined });
    off.add('app', manifest('a', { putAt: NOW - 300 * DAY }), 'v1');
    expect(await off.collector.run()).toMatchObject({ manifests: 0, tags: 0, notPulled: [] });
  });

  test('untagged retention "never" keeps untagged manifests but not those the rule removes', async () => {
    const { collector, add } = setup({ untaggedRetentionSeconds: undefined, notPulledForDays: 5 });
    const idle = add('app', manifest('a', { putAt: NOW - 6 * DAY }));
    add('app', manifest('b', { putAt: NOW - 4 * DAY }));
    const report = await collector.run({ dryRun: true });
    expect(report.notPulled.map((m) => m.digest)).toEqual([idle]);
    expect(report.manifests).toBe(1);
  });
});
