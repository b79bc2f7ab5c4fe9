import { DirectUpload } from '../../../tools/push-helper/direct';

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
        putPart: async (url, part) => {
          sent.push(`${new URL(url).pathname} ${part.length}`);
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
    await expect(upload.write(body(4))).rejects.toThrow(/refused part 2: 400 bad/);
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
});
