import { createHash, randomBytes } from 'node:crypto';
import { MemoryBlobStore } from '../../lambda/adapters/memory/memory-blob-store';
import { ConcurrentModificationError } from '../../lambda/core/errors';
import type {
  BlobIndex,
  ChunkedUploadSession,
  ManifestIndex,
  ManifestRecord,
  UploadSessionStore,
} from '../../lambda/core/ports/metadata';
import { UploadService } from '../../lambda/core/services/upload-service';

export type MetadataSubject = BlobIndex & ManifestIndex & UploadSessionStore;

const digest = (seed: string | number) =>
  `sha256:${Buffer.from(String(seed).padEnd(32, '.')).toString('hex').slice(0, 64).padEnd(64, '0')}`;
const uuid = () => {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

function manifest(seed: string, extra: Partial<ManifestRecord> = {}): ManifestRecord {
  const body = Buffer.from(`{"schemaVersion":2,"seed":"${seed}"}`);
  return {
    digest: digest(seed),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: body.length,
    body,
    ...extra,
  };
}

/** The behaviour every metadata store must have; run against the memory double and DynamoDB alike. */
export function metadataContract(label: string, subject: () => MetadataSubject): void {
  describe(`metadata contract: ${label}`, () => {
    let m: MetadataSubject;
    let repo: string;
    beforeEach(() => {
      m = subject();
      repo = `contract/${randomBytes(4).toString('hex')}`;
    });

    test('blob links are per repository', async () => {
      const record = { digest: digest(`blob-${repo}`), size: 42, key: 'blobs/x' };
      await m.putBlobIfAbsent(record);
      await m.putLink(repo, record);
      expect(await m.getLink(repo, record.digest)).toEqual(record);
      expect(await m.getLink(`${repo}-other`, record.digest)).toBeUndefined();
      expect(await m.deleteLink(repo, record.digest)).toBe(true);
      expect(await m.deleteLink(repo, record.digest)).toBe(false);
      expect(await m.getLink(repo, record.digest)).toBeUndefined();
    });

    test('missingLinks checks more digests than one batch holds', async () => {
      const digests = Array.from({ length: 130 }, (_, i) => digest(`many-${i}-${repo}`));
      await Promise.all(
        digests
          .filter((_, i) => i % 3 === 0)
          .map(async (d) => {
            await m.putBlobIfAbsent({ digest: d, size: 1, key: d });
            await m.putLink(repo, { digest: d, size: 1, key: d });
          }),
      );
      const missing = await m.missingLinks(repo, digests);
      expect(missing).toEqual(digests.filter((_, i) => i % 3 !== 0));
    });

    test('a link is refused unless the blob record exists and names the same object', async () => {
      const d = digest(`link-guard-${repo}`);
      await expect(m.putLink(repo, { digest: d, size: 1, key: 'never-recorded' })).rejects.toThrow(/garbage|gone/);
      await m.putBlobIfAbsent({ digest: d, size: 1, key: 'current' });
      await expect(m.putLink(repo, { digest: d, size: 1, key: 'stale' })).rejects.toThrow(/garbage|gone/);
      await m.putLink(repo, { digest: d, size: 1, key: 'current' });
      expect((await m.getLink(repo, d))?.key).toBe('current');
    });

    test('a manifest whose referenced link is gone is refused, and nothing of it is stored', async () => {
      const record = manifest('refs-gone');
      await expect(
        m.putManifest(repo, record, 'gone', { blobs: [digest(`absent-${repo}`)], manifests: [] }),
      ).rejects.toThrow();
      expect(await m.getManifest(repo, record.digest)).toBeUndefined();
      expect(await m.getTag(repo, 'gone')).toBeUndefined();
    });

    test('putBlobIfAbsent keeps the first record for a digest', async () => {
      const d = digest(`dedup-${repo}`);
      const first = await m.putBlobIfAbsent({ digest: d, size: 5, key: 'first' });
      const second = await m.putBlobIfAbsent({ digest: d, size: 5, key: 'second' });
      expect(first.key).toBe('first');
      expect(second.key).toBe('first');
      expect((await m.getBlob(d))?.key).toBe('first');
    });

    test('manifests round-trip with exact bytes and resolve through tags', async () => {
      const record = manifest('m1', { annotations: { a: 'b' }, artifactType: 'application/x-test' });
      await m.putManifest(repo, record, 'latest');
      const got = await m.getManifest(repo, record.digest);
      expect(Buffer.from(got?.body ?? [])).toEqual(Buffer.from(record.body ?? []));
      expect(got).toMatchObject({
        digest: record.digest,
        mediaType: record.mediaType,
        size: record.size,
        annotations: { a: 'b' },
      });
      expect(await m.getTag(repo, 'latest')).toBe(record.digest);
      expect(await m.repositoryExists(repo)).toBe(true);
      expect(await m.repositoryExists(`${repo}-none`)).toBe(false);
      expect(await m.missingManifests(repo, [record.digest, digest('nope')])).toEqual([digest('nope')]);
    });

    test('deleting a manifest removes its tags and referrer entry, not other tags', async () => {
      const subjectDigest = digest('subject');
      const a = manifest('a', { subject: subjectDigest });
      const b = manifest('b');
      await m.putManifest(repo, a, 'one');
      await m.putManifest(repo, a, 'two');
      await m.putManifest(repo, b, 'three');
      expect((await m.listReferrers(repo, subjectDigest)).map((r) => r.digest)).toEqual([a.digest]);
      expect(await m.deleteManifest(repo, a.digest)).toBe(true);
      expect(await m.deleteManifest(repo, a.digest)).toBe(false);
      expect(await m.getTag(repo, 'one')).toBeUndefined();
      expect(await m.getTag(repo, 'two')).toBeUndefined();
      expect(await m.getTag(repo, 'three')).toBe(b.digest);
      expect(await m.listReferrers(repo, subjectDigest)).toEqual([]);
    });

    test("a tag resolves to its revision's descriptor, moves with the tag, and goes with the revision", async () => {
      const a = manifest('resolve-a');
      const b = manifest('resolve-b');
      const before = Date.now();
      await m.putManifest(repo, a, 'moving');
      const resolved = await m.resolveTag(repo, 'moving');
      const { body, ...described } = resolved ?? { digest: '' };
      expect(described).toEqual({
        digest: a.digest,
        descriptor: { digest: a.digest, mediaType: a.mediaType, size: a.size },
        checkedAt: expect.any(Number),
      });
      // An inline manifest's bytes go with the tag: a GET by tag is one read.
      expect(Buffer.from(body ?? [])).toEqual(Buffer.from(a.body ?? []));
      // A tag's age (a pull-through cache's TTL) starts when it was set.
      expect(resolved?.checkedAt).toBeGreaterThanOrEqual(before - 5_000);
      await m.putManifest(repo, b, 'moving');
      expect((await m.resolveTag(repo, 'moving'))?.descriptor).toEqual({
        digest: b.digest,
        mediaType: b.mediaType,
        size: b.size,
      });
      expect(await m.resolveTag(repo, 'never-set')).toBeUndefined();
      // A check renews the age only while the tag still points where the checker saw it.
      await m.markTagChecked(repo, 'moving', a.digest, Date.now() + 3_600_000);
      expect((await m.resolveTag(repo, 'moving'))?.checkedAt).toBeLessThan(Date.now() + 1_800_000);
      await m.markTagChecked(repo, 'moving', b.digest, Date.now() + 3_600_000);
      expect((await m.resolveTag(repo, 'moving'))?.checkedAt).toBeGreaterThan(Date.now() + 1_800_000);
      await m.markTagChecked(repo, 'never-set', b.digest, Date.now());
      expect(await m.resolveTag(repo, 'never-set')).toBeUndefined();
      // More tags than one transaction deletes: none outlives the revision.
      for (let i = 0; i < 120; i++) await m.putManifest(repo, b, `many-${String(i).padStart(3, '0')}`);
      expect(await m.deleteManifest(repo, b.digest)).toBe(true);
      expect(await m.resolveTag(repo, 'moving')).toBeUndefined();
      expect(await m.resolveTag(repo, 'many-119')).toBeUndefined();
      expect((await m.listTags(repo, 1000)).items.filter((t) => t.startsWith('many-'))).toEqual([]);
    });

    test('a pull by tag records the day on the revision and on the tag, while the tag points there', async () => {
      const a = manifest('pulled-a');
      const b = manifest('pulled-b');
      await m.putManifest(repo, a, 'pulled');
      await m.recordPull(repo, a.digest, '2027-01-15', 'pulled');
      expect((await m.resolveTag(repo, 'pulled'))?.pulledOn).toBe('2027-01-15');
      expect((await m.getManifest(repo, a.digest))?.pulledOn).toBe('2027-01-15');
      // Never back to an earlier day.
      await m.recordPull(repo, a.digest, '2027-01-14', 'pulled');
      expect((await m.resolveTag(repo, 'pulled'))?.pulledOn).toBe('2027-01-15');
      // A moved tag starts afresh, and a late write for the revision it left does not touch it.
      await m.putManifest(repo, b, 'pulled');
      expect((await m.resolveTag(repo, 'pulled'))?.pulledOn).toBeUndefined();
      await m.recordPull(repo, a.digest, '2027-01-16', 'pulled');
      expect((await m.resolveTag(repo, 'pulled'))?.pulledOn).toBeUndefined();
      expect((await m.getManifest(repo, a.digest))?.pulledOn).toBe('2027-01-16');
      // Nor is a deleted tag written again.
      await m.deleteTag(repo, 'pulled');
      await m.recordPull(repo, b.digest, '2027-01-16', 'pulled');
      expect(await m.resolveTag(repo, 'pulled')).toBeUndefined();
      // A manifest kept outside the table leaves no bytes with its tag.
      const outside = manifest('pulled-outside', { body: undefined, key: 'manifests/pulled-outside' });
      await m.putManifest(repo, outside, 'outside');
      expect(await m.resolveTag(repo, 'outside')).toEqual({
        digest: outside.digest,
        descriptor: { digest: outside.digest, mediaType: outside.mediaType, size: outside.size },
        checkedAt: expect.any(Number),
      });
    });

    test('tags list in lexical order with exact pagination', async () => {
      const record = manifest('tags');
      const tags = Array.from({ length: 25 }, (_, i) => `t${String(i).padStart(2, '0')}`);
      for (const tag of [...tags].reverse()) await m.putManifest(repo, record, tag);
      expect(await m.listTags(repo, 100)).toEqual({ items: tags, more: false });
      expect(await m.listTags(repo, 10)).toEqual({ items: tags.slice(0, 10), more: true });
      expect(await m.listTags(repo, 10, 't09')).toEqual({ items: tags.slice(10, 20), more: true });
      expect(await m.listTags(repo, 10, 't19')).toEqual({ items: tags.slice(20), more: false });
      expect(await m.listTags(repo, 5, 't24')).toEqual({ items: [], more: false });
      expect(await m.deleteTag(repo, 't00')).toBe(true);
      expect((await m.listTags(repo, 1)).items).toEqual(['t01']);
    });

    test('the catalog lists repositories with pagination', async () => {
      const names = [`${repo}/a`, `${repo}/b`, `${repo}/c`];
      for (const name of names) await m.putManifest(name, manifest(name));
      const all = await m.listRepositories(1000);
      expect(all.items.filter((n) => n.startsWith(repo))).toEqual(names);
      const after = await m.listRepositories(1, `${repo}/a`);
      expect(after.items).toEqual([`${repo}/b`]);
    });

    test('upload sessions: create once, conditional update, delete', async () => {
      const session: ChunkedUploadSession = {
        id: uuid(),
        name: repo,
        kind: 'chunked',
        hashing: 'resumable',
        size: 0,
        hashState: new Uint8Array(randomBytes(116)),
        version: 0,
        tail: [],
        createdAt: 1_700_000_000_000,
        expiresAt: 1_700_086_400,
      };
      await m.create(session);
      await expect(m.create(session)).rejects.toBeInstanceOf(ConcurrentModificationError);
      const got = (await m.get(session.id)) as ChunkedUploadSession | undefined;
      expect(Buffer.from(got?.hashState ?? [])).toEqual(Buffer.from(session.hashState));
      const next = {
        ...session,
        size: 10,
        version: 1,
        multipart: { id: 'mp', key: 'blobs/assembled/x-1', parts: { count: 1, size: 10, chain: 'c'.repeat(64) } },
        tail: [{ key: 'k', size: 3 }],
      };
      await m.update(next, 0);
      await expect(m.update({ ...next, version: 2 }, 0)).rejects.toBeInstanceOf(ConcurrentModificationError);
      expect(await m.get(session.id)).toMatchObject({
        size: 10,
        version: 1,
        multipart: next.multipart,
        tail: next.tail,
      });
      await m.delete(session.id);
      expect(await m.get(session.id)).toBeUndefined();
    });

    test('an upload session records 10,000 parts, one request after another, and completes', async () => {
      // Parts of 4 bytes on the memory blob store: what is measured is the session's item, which the
      // service rewrites on every request and which must not grow with the parts it has recorded.
      const store = new MemoryBlobStore(1);
      const uploads = new UploadService(
        store,
        m,
        m,
        { now: () => Date.now() },
        {
          minPartSize: 1,
          partSize: 4,
          concurrency: 16,
          maxParts: 10_000,
          sessionTtlSeconds: 3600,
          maxRereadSize: 0,
          partUrlTtlSeconds: 900,
          verifyBudget: { milliseconds: 1000 },
        },
      );
      const blob = randomBytes(10_000 * 4);
      const perRequest = 100 * 4;
      const session = await uploads.start(repo);
      for (let start = 0; start < blob.length; start += perRequest) {
        const chunk = blob.subarray(start, start + perRequest);
        await uploads.append(repo, session.id, chunk, { start, end: start + perRequest - 1 });
      }
      const open = (await m.get(session.id)) as ChunkedUploadSession;
      expect(open.size).toBe(blob.length);
      expect(open.multipart?.parts).toMatchObject({ count: 10_000, size: blob.length });
      expect(open.tail).toEqual([]);
      const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
      const record = await uploads.complete(repo, session.id, digest);
      expect(record).toMatchObject({ digest, size: blob.length });
      expect(Buffer.from(await store.get(record.key)).equals(blob)).toBe(true);
      expect(await m.getLink(repo, digest)).toEqual(record);
      expect(await m.get(session.id)).toBeUndefined();
    }, 300_000);
  });
}
