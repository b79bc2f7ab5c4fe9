import { createHash, randomBytes } from 'node:crypto';
import { BlobUploadUnknownError } from '../../../lambda/core/errors';
import type { ChunkedUploadSession, ExpiredUploadSessions } from '../../../lambda/core/ports/metadata';
import { UploadSweeper, type SweepResult } from '../../../lambda/core/services/upload-sweeper';
import { memoryRegistry } from '../../support/memory-registry';

const NAME = 'library/app';
/** memoryRegistry's session lifetime and the sweeper's default grace. */
const TTL = 3600;
const GRACE = 900;

/** Services on memory doubles (parts of 16 bytes at least), a sweeper on the same doubles and clock. */
function setup() {
  const registry = memoryRegistry({ minPartSize: 16 });
  const sweeper = new UploadSweeper(registry.store, registry.metadata, registry.clock);
  /** Opens a session and appends `sizes` as chunks with Content-Range. */
  const open = async (...sizes: number[]): Promise<ChunkedUploadSession> => {
    const session = await registry.services.uploads.start(NAME);
    let offset = 0;
    for (const size of sizes) {
      await registry.services.uploads.append(NAME, session.id, randomBytes(size), {
        start: offset,
        end: offset + size - 1,
      });
      offset += size;
    }
    return (await registry.metadata.get(session.id)) as ChunkedUploadSession;
  };
  const staged = () => [...registry.store.objects.keys()].filter((k) => k.startsWith('uploads/')).sort();
  return { ...registry, sweeper, open, staged };
}

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const bytesOf = (s: ChunkedUploadSession) =>
  (s.multipart?.parts.size ?? 0) + s.tail.reduce((sum, p) => sum + p.size, 0);

describe('UploadSweeper', () => {
  test('expired sessions of every shape leave nothing behind; a fresh session and committed blobs stay', async () => {
    const { services, store, metadata, clock, sweeper, open, staged } = setup();
    const blob = randomBytes(40);
    const committed = await services.uploads.putWhole(NAME, digestOf(blob), blob);
    const empty = await open();
    const tailOnly = await open(5, 4);
    const multipart = await open(20, 7);
    expect(empty).toMatchObject({ size: 0, tail: [] });
    expect(empty.multipart).toBeUndefined();
    expect(tailOnly.multipart).toBeUndefined();
    expect(tailOnly.tail).toHaveLength(2);
    expect(multipart.multipart).toBeDefined();
    expect(multipart.multipart?.parts.count).toBeGreaterThan(0);
    expect(multipart.tail.length).toBeGreaterThan(0);

    clock.advance(TTL + GRACE + 1);
    const fresh = await open(3);
    const objectsBefore = [...store.objects.keys()];

    const result = await sweeper.sweep();
    expect(result).toEqual({
      sessions: 3,
      objects: tailOnly.tail.length + multipart.tail.length,
      multipartAborted: 1,
      bytes: 9 + 27,
      skipped: 0,
      failed: 0,
      errors: [],
      complete: true,
      orphans: 0,
    });
    expect(bytesOf(tailOnly) + bytesOf(multipart)).toBe(36);
    expect([...metadata.uploads.keys()]).toEqual([fresh.id]);
    expect(staged()).toEqual(fresh.tail.map((t) => t.key).sort());
    expect(store.multiparts.size).toBe(0);
    // Only the dead sessions' staged chunks went; the committed blob is where it was.
    const gone = objectsBefore.filter((k) => !store.objects.has(k)).sort();
    expect(gone).toEqual([...tailOnly.tail, ...multipart.tail].map((t) => t.key).sort());
    expect(store.objects.has(committed.key)).toBe(true);
    await expect(services.uploads.status(NAME, tailOnly.id)).rejects.toBeInstanceOf(BlobUploadUnknownError);
    expect((await services.uploads.status(NAME, fresh.id)).size).toBe(3);

    // Idempotent: a second sweep finds nothing.
    expect(await sweeper.sweep()).toMatchObject({ sessions: 0, objects: 0, multipartAborted: 0, bytes: 0 });
  });

  test('a session is swept only once its grace period after expiry has passed', async () => {
    const { clock, sweeper, open, metadata } = setup();
    const session = await open(5);
    clock.advance(TTL + 1); // expired: the registry already treats it as unknown
    expect((await sweeper.sweep()).sessions).toBe(0);
    clock.advance(GRACE);
    expect((await sweeper.sweep()).sessions).toBe(1);
    expect(await metadata.get(session.id)).toBeUndefined();
  });

  test('a dry run counts exactly what a sweep then removes, and changes nothing', async () => {
    const { clock, sweeper, open, store, metadata } = setup();
    await open();
    await open(5, 4);
    await open(20, 7);
    clock.advance(TTL + GRACE + 1);
    const objects = store.objects.size;
    const dry = await sweeper.sweep({ dryRun: true });
    expect(store.objects.size).toBe(objects);
    expect(metadata.uploads.size).toBe(3);
    expect(store.multiparts.size).toBe(1);
    expect(await sweeper.sweep()).toEqual(dry);
  });

  test('a session a request extended after it was listed is left alone, with all its bytes', async () => {
    const { clock, services, open, store, metadata } = setup();
    const session = await open(20, 3);
    clock.advance(TTL + GRACE + 1);
    // The index lags: it lists the old version, and a request's write lands before the conditional delete.
    const lagging: ExpiredUploadSessions = {
      listExpired: async (now, limit, cursor) => {
        const page = await metadata.listExpired(now, limit, cursor);
        const current = (await metadata.get(session.id))!;
        await metadata.update(
          { ...current, version: current.version + 1, expiresAt: current.expiresAt + 10_000 },
          current.version,
        );
        return page;
      },
      get: (id) => metadata.get(id),
      deleteIfUnchanged: (id, version) => metadata.deleteIfUnchanged(id, version),
    };
    const result = await new UploadSweeper(store, lagging, clock).sweep();
    expect(result).toMatchObject({ sessions: 0, skipped: 1, objects: 0, multipartAborted: 0 });
    const kept = (await metadata.get(session.id)) as ChunkedUploadSession;
    expect(store.multiparts.has(kept.multipart!.id)).toBe(true);
    for (const t of kept.tail) expect(store.objects.has(t.key)).toBe(true);
    expect((await services.uploads.status(NAME, session.id)).size).toBe(23);
  });

  test('objects and multipart uploads already gone are fine (the lifecycle rules got there first)', async () => {
    const { clock, sweeper, open, store, metadata } = setup();
    const session = await open(20, 3);
    await store.abortMultipart(session.multipart!.key, session.multipart!.id);
    await store.delete(session.tail.map((t) => t.key));
    clock.advance(TTL + GRACE + 1);
    expect(await sweeper.sweep()).toMatchObject({ sessions: 1, failed: 0 });
    expect(metadata.uploads.size).toBe(0);
  });

  test('limit, paging and the async progress callback', async () => {
    const { clock, store, metadata, open } = setup();
    for (let i = 0; i < 5; i++) await open(5);
    clock.advance(TTL + GRACE + 1);
    const sweeper = new UploadSweeper(store, metadata, clock, { pageSize: 2, concurrency: 2 });
    const seen: number[] = [];
    const progress = async (totals: Readonly<SweepResult>) => {
      await new Promise((r) => setImmediate(r));
      seen.push(totals.sessions);
    };
    expect(await sweeper.sweep({ limit: 3 }, progress)).toMatchObject({ sessions: 3, objects: 3, complete: false });
    expect(seen).toHaveLength(3);
    expect(Math.max(...seen)).toBe(3);
    expect(metadata.uploads.size).toBe(2);
    expect(await sweeper.sweep({}, progress)).toMatchObject({ sessions: 2, bytes: 10, complete: true });
    expect(metadata.uploads.size).toBe(0);
  });

  test('a deadline already passed starts nothing', async () => {
    const { clock, sweeper, open, metadata } = setup();
    await open(5);
    clock.advance(TTL + GRACE + 1);
    expect(await sweeper.sweep({ deadline: clock.now() })).toMatchObject({ sessions: 0, complete: false });
    expect(metadata.uploads.size).toBe(1);
  });

  test('olderThanSeconds also removes sessions opened that long ago that have not expired', async () => {
    const { clock, sweeper, open, metadata } = setup();
    const old = await open(5);
    clock.advance(1800);
    const young = await open(5);
    // Both were written within their lifetime: neither expired.
    await open(); // and one more, younger still
    expect((await sweeper.sweep()).sessions).toBe(0);
    expect(await sweeper.sweep({ olderThanSeconds: 1000, dryRun: true })).toMatchObject({ sessions: 1 });
    expect(await sweeper.sweep({ olderThanSeconds: 1000 })).toMatchObject({ sessions: 1, objects: 1, bytes: 5 });
    expect(await metadata.get(old.id)).toBeUndefined();
    expect(await metadata.get(young.id)).toBeDefined();
  });

  test('a blob store failure after the session went is counted, reported, and does not stop the sweep', async () => {
    const { clock, open, store, metadata } = setup();
    await open(5);
    await open(6);
    clock.advance(TTL + GRACE + 1);
    let calls = 0;
    const flaky = Object.create(store) as typeof store;
    flaky.delete = async (keys) => {
      if (calls++ === 0) throw new Error('SlowDown');
      return store.delete(keys);
    };
    const result = await new UploadSweeper(flaky, metadata, clock, { concurrency: 1 }).sweep();
    // The chunk the failed delete left behind names a session that is gone: the same sweep's
    // leftover pass frees it.
    expect(result).toMatchObject({ sessions: 2, failed: 1, objects: 2, orphans: 1 });
    expect(result.errors).toEqual([expect.stringContaining('SlowDown')]);
    expect(metadata.uploads.size).toBe(0);
    expect([...store.objects.keys()].filter((k) => k.startsWith('uploads/'))).toEqual([]);
  });

  test('leftovers no session names are freed once older than the grace; a live session keeps its own', async () => {
    const { clock, open, store, metadata } = setup();
    const live = await open(5);
    const multipart = await store.createMultipart('blobs/assembled/gone-session-0a1b2c3d');
    await store.put('uploads/gone-session/0-0a1b2c3d', new Uint8Array(7));
    // Written now, by the test's clock (the memory store stamps real time).
    store.written.set('uploads/gone-session/0-0a1b2c3d', clock.now());
    const listed = store.multiparts.get(multipart);
    if (listed) listed.initiated = clock.now();
    const sweeper = new UploadSweeper(store, metadata, clock, { orphanGraceSeconds: 3600 });
    // Young leftovers may belong to a request still at work: kept.
    const young = await sweeper.sweep({ dryRun: true });
    clock.advance(3601);
    const result = await sweeper.sweep();
    expect(young.orphans).toBe(0);
    expect(result).toMatchObject({ sessions: 0, orphans: 2, multipartAborted: 1, objects: 1, bytes: 7 });
    expect(store.multiparts.has(multipart)).toBe(false);
    expect(store.objects.has('uploads/gone-session/0-0a1b2c3d')).toBe(false);
    expect(await metadata.get(live.id)).toBeDefined();
    expect(live.tail.every((t) => store.objects.has(t.key))).toBe(true);
  });
});
