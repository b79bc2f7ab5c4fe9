import { request as httpRequest } from 'node:http';
import { RegistryClient } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * Sends a request with its path exactly as given: fetch and `new URL` resolve `..` and `%2e%2e`
 * before sending, so only a raw request shows what the registry does with such a path.
 */
function rawRequest(base: string, method: string, path: string, body?: string): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The first OCI error code of a body, or undefined for a body that is no OCI error. */
const codeOf = (text: string) =>
  text ? (JSON.parse(text) as { errors?: { code: string }[] }).errors?.[0]?.code : undefined;

/**
 * Paths with dot segments, sent raw as API Gateway passes them on: `/v2/a/../b/…` names `a/../b`,
 * which is no repository name, so it is refused and nothing acts on `b` (docs/access-control.md).
 */
describe.each([
  ['the functions', false],
  ['the upload data path', true],
])('raw paths (local mode, uploads through %s)', (_, uploader) => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader });
    const client = new RegistryClient(registry.url);
    await client.pushImage('edge/b', 'v1');
    await client.pushImage('edge/c', 'v1');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('dot segments in a path are not resolved: the name is NAME_INVALID and nothing acts on another repository', async () => {
    for (const dots of ['..', '%2e%2e', '%2E.']) {
      const list = await rawRequest(registry.url, 'GET', `/v2/edge/x/${dots}/b/tags/list`);
      expect({ dots, status: list.status, code: codeOf(list.body) }).toEqual({
        dots,
        status: 400,
        code: 'NAME_INVALID',
      });
      const upload = await rawRequest(registry.url, 'POST', `/v2/edge/x/${dots}/b/blobs/uploads/`);
      expect({ dots, status: upload.status, code: codeOf(upload.body), location: upload.headers.location }).toEqual({
        dots,
        status: 400,
        code: 'NAME_INVALID',
        location: undefined,
      });
    }
    // A plain path with a query still works: the query is split off by hand, not lost.
    const plain = await rawRequest(registry.url, 'GET', '/v2/edge/b/tags/list?n=0');
    expect({ status: plain.status, body: JSON.parse(plain.body) }).toEqual({
      status: 200,
      body: { name: 'edge/b', tags: [] },
    });
    const escape = await rawRequest(registry.url, 'GET', '/v2/edge/b/blobs/uploads/../../../c/tags/list');
    expect(escape.status).toBe(400);
    expect(codeOf(escape.body)).toBe('NAME_INVALID');
    // Routed and recorded as sent; with the upload data path on, its own server parsed them too.
    const served = registry.requests.filter((r) => r.path.includes('..') || r.path.toLowerCase().includes('%2e'));
    expect(served).toHaveLength(7);
    expect(served.filter((r) => r.group === 'uploader')).toHaveLength(uploader ? 4 : 0);
  });
});
