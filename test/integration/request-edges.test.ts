import { RegistryClient } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

/** The first OCI error code of a body, or undefined for a body that is no OCI error. */
const codeOf = (text: string) =>
  text ? (JSON.parse(text) as { errors?: { code: string }[] }).errors?.[0]?.code : undefined;

/**
 * Inputs at the edges of what a request may say: empty or impossible pagination markers, malformed
 * upload ranges, a finishing PUT without its digest. Each gets the OCI code the spec names, never a
 * 500, through the functions and through the upload data path alike.
 */
describe.each([
  ['the functions', false],
  ['the upload data path', true],
])('request edges (local mode, uploads through %s)', (_, uploader) => {
  let registry: TestRegistry;
  let client: RegistryClient;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader });
    client = new RegistryClient(registry.url);
    await client.pushImage('edge/b', 'v1');
    await client.pushImage('edge/c', 'v1');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  async function expectError(res: Response, status: number, code: string): Promise<Response> {
    const text = await res.text();
    expect({ status: res.status, body: text }).toMatchObject({ status });
    expect(codeOf(text)).toBe(code);
    return res;
  }

  test('an empty `last` on the catalog and the tags list starts at the beginning', async () => {
    const all = (await (await client.request('GET', '/v2/_catalog')).json()) as { repositories: string[] };
    const emptyLast = await client.request('GET', '/v2/_catalog?last=');
    expect(emptyLast.status).toBe(200);
    expect(await emptyLast.json()).toEqual(all);
    const firstPage = await client.request('GET', '/v2/_catalog?n=1&last=');
    expect(await firstPage.json()).toEqual({ repositories: all.repositories.slice(0, 1) });
    const tags = await client.request('GET', '/v2/edge/b/tags/list?last=');
    expect(tags.status).toBe(200);
    expect(await tags.json()).toEqual({ name: 'edge/b', tags: ['v1'] });
  });

  test('a `last` that no tag or repository name can be is refused with 400, not passed to the table', async () => {
    const long = 'x'.repeat(1100);
    await expectError(await client.request('GET', `/v2/edge/b/tags/list?last=${long}`), 400, 'UNSUPPORTED');
    await expectError(await client.request('GET', `/v2/_catalog?last=${'a'.repeat(2100)}`), 400, 'UNSUPPORTED');
  });

  test('a malformed Content-Range on a chunk is 416 with the Range the session holds', async () => {
    const start = await client.request('POST', '/v2/edge/range/blobs/uploads/');
    const location = start.headers.get('location') as string;
    const first = await client.request('PATCH', location, {
      body: '0123456789',
      headers: { 'Content-Range': '0-9', 'Content-Type': 'application/octet-stream' },
    });
    expect(first.status).toBe(202);
    for (const range of ['9-0', 'abc', '-1-5']) {
      const res = await client.request('PATCH', location, {
        body: 'xyz',
        headers: { 'Content-Range': range, 'Content-Type': 'application/octet-stream' },
      });
      await expectError(res, 416, 'BLOB_UPLOAD_INVALID');
      expect({ range, header: res.headers.get('range') }).toEqual({ range, header: '0-9' });
      expect(res.headers.get('location')).toBe(location);
    }
    // Nothing was appended: the session still ends at byte 9.
    expect((await client.request('GET', location)).headers.get('range')).toBe('0-9');
  });

  test('a digest of an unsupported algorithm and a POST on an upload without its parameters are 400 UNSUPPORTED, not 415', async () => {
    const md5 = `md5:${'a'.repeat(32)}`;
    await expectError(await client.request('GET', `/v2/edge/b/blobs/${md5}`), 400, 'UNSUPPORTED');
    await expectError(await client.request('GET', `/v2/edge/b/manifests/${md5}`), 400, 'UNSUPPORTED');
    await expectError(await client.request('GET', `/v2/edge/b/referrers/${md5}`), 400, 'UNSUPPORTED');
    await expectError(
      await client.request('POST', `/v2/edge/b/blobs/uploads/?digest=${md5}`, { body: 'x' }),
      400,
      'UNSUPPORTED',
    );
    const start = await client.request('POST', '/v2/edge/post/blobs/uploads/');
    const location = start.headers.get('location') as string;
    await expectError(await client.request('POST', location), 400, 'UNSUPPORTED');
    // The session is untouched: still open and empty.
    expect((await client.request('GET', location)).headers.get('range')).toBe('0-0');
  });

  test('closing an upload without ?digest= is 400 DIGEST_INVALID', async () => {
    const start = await client.request('POST', '/v2/edge/nodigest/blobs/uploads/');
    const location = start.headers.get('location') as string;
    await expectError(
      await client.request('PUT', location, { body: 'abc', headers: { 'Content-Type': 'application/octet-stream' } }),
      400,
      'DIGEST_INVALID',
    );
    await expectError(await client.request('PUT', `${location}?digest=`), 400, 'DIGEST_INVALID');
  });
});
