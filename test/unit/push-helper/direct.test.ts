import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import {
  DirectUpload,
  MAX_PART_SIZE,
  NoDirectUploads,
  PartFlow,
  partSizeFor,
  type DirectUploadOptions,
} from '../../../tools/push-helper/direct';

const json = (value: unknown, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { 'Content-Type': 'application/json' } });

/** A registry that hands out numbered URLs (`…/part-<n>?batch=<k>`) and verifies at once. */
function fakeRegistry() {
  const requests: string[] = [];
  let batch = 0;
  const send = async (method: string, url: URL) => {
    requests.push(`${method} ${url.search}`);
    const parts = url.searchParams.get('parts');
    if (parts) {
      batch += 1;
      const [first, last] = parts.split('-').map(Number) as [number, number];
      return json({
        parts: Array.from({ length: last - first + 1 }, (_, i) => ({
          partNumber: first + i,
          url: `https://bucket.example/part-${first + i}?batch=${batch}`,
        })),
      });
    }
    return new Response(null, { status: 201 });
  };
  return { requests, send };
}

async function* body(...sizes: number[]) {
  for (const size of sizes) yield new Uint8Array(size);
}

describe('push helper: direct upload', () => {
  test('cuts bodies into parts, keeps the remainder for the last part, and finishes', async () => {
    const registry = fakeRegistry();
    const sent: string[] = [];
    const upload = new DirectUpload(
      new URL('https://registry.example/v2/a/blobs/uploads/u1'),
      {},
      {
        partSize: 10,
        concurrency: 2,
        send: registry.send,
        putPart: async (url, part, size) => {
          expect(part.reduce((sum, p) => sum + p.length, 0)).toBe(size);
          sent.push(`${new URL(url).pathname} ${size}`);
          return new Response(null, { status: 200 });
        },
      },
    );
    expect(await upload.open()).toBe(true);
    await upload.write(body(7, 7));
    await upload.write(body(12));
    expect((await upload.finish('sha256:x')).status).toBe(201);
    expect(sent.sort()).toEqual(['/part-1 10', '/part-2 10', '/part-3 6']);
    expect(upload.received).toBe(26);
    expect(registry.requests).toEqual(['POST ?parts=1-16', 'POST ?digest=sha256%3Ax']);
  });

  test('a part refused with 403 (its URL expired) goes again with a fresh URL; a 400 is final', async () => {
    const registry = fakeRegistry();
    const tried: string[] = [];
    const upload = new DirectUpload(
      new URL('https://registry.example/v2/a/blobs/uploads/u1'),
      {},
      {
        partSize: 4,
        concurrency: 1,
        send: registry.send,
        putPart: async (url) => {
          tried.push(url);
          if (url.endsWith('part-1?batch=1')) return new Response('expired', { status: 403 });
          if (url.includes('part-2')) return new Response('bad', { status: 400 });
          return new Response(null, { status: 200 });
        },
      },
    );
    await upload.open();
    await upload.write(body(4));
    await upload.write(body(4));
    // A part's failure surfaces with the next part or, at the latest, when the upload finishes.
    await expect(upload.finish('sha256:x')).rejects.toThrow(/refused part 2: 400 bad/);
    expect(tried).toEqual([
      'https://bucket.example/part-1?batch=1',
      'https://bucket.example/part-1?batch=2',
      'https://bucket.example/part-2?batch=2',
    ]);
  });

  test('a registry without direct uploads is told apart from one that refuses the request', async () => {
    const unsupported = new DirectUpload(
      new URL('https://r.example/v2/a/blobs/uploads/u'),
      {},
      {
        partSize: 4,
        concurrency: 1,
        send: async () => json({ errors: [{ code: 'UNSUPPORTED', message: 'POST is not supported here' }] }, 405),
      },
    );
    expect(await unsupported.open()).toBe(false);
    const unauthorized = new DirectUpload(
      new URL('https://r.example/v2/a/blobs/uploads/u'),
      {},
      {
        partSize: 4,
        concurrency: 1,
        send: async () => json({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, 401),
      },
    );
    await expect(unauthorized.open()).rejects.toMatchObject({ response: { status: 401 } });
  });

  test('parts are the pieces the client sent, not copies of them', async () => {
    const registry = fakeRegistry();
    const sent: (readonly Uint8Array[])[] = [];
    const upload = new DirectUpload(
      new URL('https://registry.example/v2/a/blobs/uploads/u1'),
      {},
      {
        partSize: 10,
        concurrency: 1,
        send: registry.send,
        putPart: async (_url, part) => {
          sent.push(part);
          return new Response(null, { status: 200 });
        },
      },
    );
    await upload.open();
    const pieces = [new Uint8Array(6).fill(1), new Uint8Array(6).fill(2)];
    await upload.write(
      (async function* () {
        yield* pieces;
      })(),
    );
    await upload.finish('sha256:x');
    // The second piece is split between the parts: views of it, the same memory.
    expect(sent[0]?.[0]).toBe(pieces[0]);
    expect(sent[0]?.[1]?.buffer).toBe(pieces[1]?.buffer);
    expect(sent.map((part) => part.map((p) => p.length))).toEqual([[6, 4], [2]]);
  });
});

describe('push helper: part sizes and parts in flight', () => {
  const MiB = 1024 * 1024;

  test("part sizes double every 1,000 parts, so S3's 10,000 parts hold terabytes", () => {
    expect(partSizeFor(1, 16 * MiB)).toBe(16 * MiB);
    expect(partSizeFor(1000, 16 * MiB)).toBe(16 * MiB);
    expect(partSizeFor(1001, 16 * MiB)).toBe(32 * MiB);
    expect(partSizeFor(10_000, 16 * MiB)).toBe(5 * 1024 * MiB);
    let total = 0;
    for (let n = 1; n <= 10_000; n++) total += partSizeFor(n, 16 * MiB);
    expect(total).toBeGreaterThan(10 * 1024 * 1024 * MiB);
  });

  /** A flow driven by a hand-moved clock: each round's parts take `seconds` each, all at once. */
  function drive(flow: PartFlow, clock: { ms: number }, rounds: { bytes: number; seconds: number }[]) {
    const widths: number[] = [];
    for (const { bytes, seconds } of rounds) {
      const width = flow.width();
      widths.push(width);
      const starts = Array.from({ length: width }, () => flow.started());
      clock.ms += seconds * 1000;
      for (const start of starts) flow.done(start, bytes);
    }
    return widths;
  }

  test('one more part in flight while that raises the rate, one fewer when the rate falls', () => {
    const clock = { ms: 0 };
    const flow = new PartFlow(16 * MiB, 8, () => clock.ms);
    // Each part takes a second whatever the width: the rate grows with every part added, up to the max.
    const widths = drive(flow, clock, Array(8).fill({ bytes: 16 * MiB, seconds: 1 }));
    expect(widths).toEqual([2, 3, 4, 5, 6, 7, 8, 8]);
    // Parts now take four times as long: the rate falls, and the width with it.
    expect(drive(flow, clock, [{ bytes: 16 * MiB, seconds: 4 }])).toEqual([8]);
    expect(flow.width()).toBe(7);
  });

  test('a rate that no longer grows keeps the width', () => {
    const clock = { ms: 0 };
    const flow = new PartFlow(16 * MiB, 8, () => clock.ms);
    // Two parts per second in total, however many go at once.
    const rounds = [2, 3, 4, 5].map((width) => ({ bytes: 16 * MiB, seconds: width / 2 }));
    expect(drive(flow, clock, rounds)).toEqual([2, 3, 3, 3]);
  });

  test('parts grow to about half a second of sending at the measured rate, within their bounds', () => {
    const clock = { ms: 0 };
    const fast = new PartFlow(16 * MiB, 4, () => clock.ms);
    drive(fast, clock, [{ bytes: 16 * MiB, seconds: 0.1 }]);
    expect(fast.partSize()).toBe(MAX_PART_SIZE);
    const slow = new PartFlow(16 * MiB, 4, () => clock.ms);
    drive(slow, clock, [{ bytes: 16 * MiB, seconds: 8 }]);
    expect(slow.partSize()).toBe(16 * MiB);
    const middle = new PartFlow(8 * MiB, 4, () => clock.ms);
    drive(middle, clock, [{ bytes: 16 * MiB, seconds: 0.25 }]);
    expect(middle.partSize()).toBe(32 * MiB);
  });
});

describe('push helper: spooled upload, one checked PUT', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'spool-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A spooling upload of `id` towards a registry answering with `send`. */
  const spooled = (id: string, send: DirectUploadOptions['send'], extra: Partial<DirectUploadOptions> = {}) =>
    new DirectUpload(
      new URL(`https://registry.example/v2/a/blobs/uploads/${id}`),
      {},
      {
        partSize: 10,
        concurrency: 2,
        send,
        spoolDir: dir,
        ...extra,
      },
    );

  const bytes = (...sizes: number[]) => sizes.map((size, i) => new Uint8Array(size).fill(i + 1));
  async function* pieces(chunks: Uint8Array[]) {
    yield* chunks;
  }

  /** A registry that offers `?put=` (or refuses it as unsupported), parts, and verifies at once. */
  function registryWithPut(put: 'offered' | 'unsupported') {
    const requests: string[] = [];
    const send = async (method: string, url: URL) => {
      requests.push(`${method} ${url.search}`);
      if (url.searchParams.has('put')) {
        if (put === 'unsupported') return json({ errors: [{ code: 'UNSUPPORTED', message: '?put' }] }, 400);
        return json({ url: 'https://bucket.example/blob', headers: { 'x-amz-checksum-sha256': 'c2hh' } });
      }
      const parts = url.searchParams.get('parts');
      if (parts)
        return json({ parts: [1, 2, 3].map((n) => ({ partNumber: n, url: `https://bucket.example/part-${n}` })) });
      return new Response(null, { status: method === 'DELETE' ? 204 : 201 });
    };
    return { requests, send };
  }

  test("the client's bytes wait on disk; then one PUT with the signed headers, then the finish", async () => {
    const registry = registryWithPut('offered');
    const put: { url: string; headers: Record<string, string>; body: Buffer }[] = [];
    const upload = spooled('u1', registry.send, {
      putFile: async (url, headers, path) => {
        put.push({ url, headers, body: readFileSync(path) });
        return new Response(null, { status: 200 });
      },
    });
    expect(await upload.open()).toBe(true);
    const chunks = bytes(7, 7, 12);
    await upload.write(pieces(chunks.slice(0, 2)));
    await upload.write(pieces(chunks.slice(2)));
    expect(registry.requests).toEqual([]);
    expect((await upload.finish('sha256:x')).status).toBe(201);
    expect(registry.requests).toEqual(['POST ?put=26&digest=sha256%3Ax', 'POST ?digest=sha256%3Ax']);
    expect(put.map((p) => [p.url, p.headers])).toEqual([
      ['https://bucket.example/blob', { 'x-amz-checksum-sha256': 'c2hh' }],
    ]);
    expect(put[0]?.body).toEqual(Buffer.concat(chunks));
    expect(readdirSync(dir)).toEqual([]);
  });

  test('bytes the blob store refuses as another digest are DIGEST_INVALID, and the upload is cancelled', async () => {
    const registry = registryWithPut('offered');
    const upload = spooled('u1', registry.send, {
      putFile: async () => new Response('<Error><Code>BadDigest</Code></Error>', { status: 400 }),
    });
    await upload.open();
    await upload.write(pieces(bytes(5)));
    const answer = await upload.finish('sha256:x');
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('DIGEST_INVALID');
    expect(registry.requests).toEqual(['POST ?put=5&digest=sha256%3Ax', 'DELETE ']);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a registry without ?put= gets parts from the file; one without direct uploads gets the file back', async () => {
    const registry = registryWithPut('unsupported');
    const sent: number[] = [];
    const upload = spooled('u1', registry.send, {
      putPart: async (_, __, size) => {
        sent.push(size);
        return new Response(null, { status: 200 });
      },
    });
    await upload.open();
    await upload.write(pieces(bytes(7, 7, 12)));
    expect((await upload.finish('sha256:x')).status).toBe(201);
    expect(sent.sort()).toEqual([10, 10, 6]);
    expect(registry.requests).toEqual([
      'POST ?put=26&digest=sha256%3Ax',
      'POST ?parts=1-16',
      'POST ?digest=sha256%3Ax',
    ]);
    expect(readdirSync(dir)).toEqual([]);

    const none = spooled('u2', async () => json({ errors: [{ code: 'UNSUPPORTED', message: 'no' }] }, 405));
    await none.open();
    await none.write(pieces(bytes(3)));
    const handedOver = (await none.finish('sha256:x').catch((err: unknown) => err)) as NoDirectUploads;
    expect(handedOver).toBeInstanceOf(NoDirectUploads);
    const { path } = handedOver.spool;
    expect(readFileSync(path)).toEqual(Buffer.from(bytes(3)[0] as Uint8Array));
    await handedOver.spool.remove();
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(path)).toBe(false);
  });

  test('a whole blob named up front streams into one PUT without waiting on disk', async () => {
    const registry = registryWithPut('offered');
    const streamed: Buffer[] = [];
    const upload = spooled('u1', registry.send, {
      putStream: async (_, headers, body) => {
        expect(headers).toEqual({ 'x-amz-checksum-sha256': 'c2hh' });
        for await (const chunk of body) streamed.push(chunk as Buffer);
        return new Response(null, { status: 200 });
      },
    });
    await upload.open();
    const chunks = bytes(6, 6);
    const answer = await upload.putStreamed('sha256:x', 12, Readable.from(chunks.map((c) => Buffer.from(c))));
    expect(answer?.status).toBe(201);
    expect(Buffer.concat(streamed)).toEqual(Buffer.concat(chunks));
    expect(registry.requests).toEqual(['POST ?put=12&digest=sha256%3Ax', 'POST ?digest=sha256%3Ax']);
    expect(readdirSync(dir)).toEqual([]);

    // Towards a registry without ?put=, nothing is read and the upload goes on as before.
    const older = spooled('u2', registryWithPut('unsupported').send);
    await older.open();
    const body = Readable.from([Buffer.from('abc')]);
    expect(await older.putStreamed('sha256:x', 3, body)).toBeUndefined();
    expect(older.received).toBe(0);
    await older.discard();
  });
});
