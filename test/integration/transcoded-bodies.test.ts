import { request as httpRequest } from 'node:http';
import { RegistryClient, sha256 } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** Not UTF-8: a lone byte 0xff, and a 4-byte sequence cut short (one U+FFFD, as long as it). */
const NOT_UTF8 = Buffer.from([0xff, 0xf0, 0x90, 0x80]);

/** Sends bytes as they are, with Content-Length or (chunked) without. */
function send(
  base: string,
  method: string,
  path: string,
  body: Buffer,
  headers: Record<string, string>,
  chunked: boolean,
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { hostname, port, method, path, headers: chunked ? headers : { ...headers, 'Content-Length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), headers: res.headers }),
        );
      },
    );
    req.on('error', reject);
    if (chunked) req.write(body.subarray(0, 2));
    req.end(chunked ? body.subarray(2) : body);
  });
}

const codeOf = (text: string) => (JSON.parse(text) as { errors: { code: string }[] }).errors[0]?.code;

/**
 * Bodies the gateway passes on as text (a `+json` or `text/*` Content-Type) lose the bytes that are
 * not UTF-8. The registry must never store them or name their digest as if the client had sent them:
 * such a manifest is MANIFEST_INVALID and such a chunk SIZE_INVALID, whatever the framing, and
 * nothing is stored (docs/storage.md, "Request bodies").
 */
describe('bodies that do not arrive as sent (local mode, uploads through the functions)', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  let manifest: (annotation: Buffer) => Buffer;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
    client = new RegistryClient(registry.url);
    const config = await client.pushBlob('text/app', '{}');
    const [head, tail] = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [],
      annotations: { raw: '@@' },
    }).split('@@') as [string, string];
    manifest = (annotation) => Buffer.concat([Buffer.from(head), annotation, Buffer.from(tail)]);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test.each([
    ['with Content-Length', false],
    ['chunked', true],
  ])(
    'a manifest with bytes that are not UTF-8, sent as +json %s, is MANIFEST_INVALID and not stored',
    async (_, chunked) => {
      const body = manifest(NOT_UTF8);
      for (const reference of [`bad-${String(chunked)}`, sha256(body)]) {
        const res = await send(
          registry.url,
          'PUT',
          `/v2/text/app/manifests/${reference}`,
          body,
          { 'Content-Type': OCI_MANIFEST },
          chunked,
        );
        expect({ reference, status: res.status, code: codeOf(res.text) }).toEqual({
          reference,
          status: 400,
          code: 'MANIFEST_INVALID',
        });
        expect(res.text).toContain('did not arrive as sent');
        expect((await client.request('HEAD', `/v2/text/app/manifests/${reference}`)).status).toBe(404);
      }
      // What the gateway made of the bytes (U+FFFD for each run that is not UTF-8) is not stored either.
      const decoded = Buffer.from(body.toString('utf8'));
      expect((await client.request('HEAD', `/v2/text/app/manifests/${sha256(decoded)}`)).status).toBe(404);
    },
  );

  test('a manifest holding U+FFFD itself is refused as +json (it cannot be told apart) and accepted escaped', async () => {
    const literal = manifest(Buffer.from('\ufffd'));
    const refused = await send(
      registry.url,
      'PUT',
      '/v2/text/app/manifests/literal',
      literal,
      { 'Content-Type': OCI_MANIFEST },
      false,
    );
    expect([refused.status, codeOf(refused.text)]).toEqual([400, 'MANIFEST_INVALID']);
    const escaped = manifest(Buffer.from('\\ufffd'));
    const accepted = await send(
      registry.url,
      'PUT',
      '/v2/text/app/manifests/escaped',
      escaped,
      { 'Content-Type': OCI_MANIFEST },
      false,
    );
    expect(accepted.status).toBe(201);
    expect(accepted.headers['docker-content-digest']).toBe(sha256(escaped));
  });

  test.each([
    ['with Content-Length', false],
    ['chunked', true],
  ])(
    'a chunk with bytes that are not UTF-8, sent as text/plain %s, is SIZE_INVALID and the session keeps its bytes',
    async (_, chunked) => {
      const start = await client.request('POST', '/v2/text/app/blobs/uploads/');
      const location = start.headers.get('location') as string;
      const first = await client.request('PATCH', location, {
        body: 'abc',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-2' },
      });
      expect(first.status).toBe(202);
      const chunk = Buffer.concat([Buffer.from('de'), NOT_UTF8]);
      const patch = await send(registry.url, 'PATCH', location, chunk, { 'Content-Type': 'text/plain' }, chunked);
      expect([patch.status, codeOf(patch.text)]).toEqual([400, 'SIZE_INVALID']);
      expect((await client.request('GET', location)).headers.get('range')).toBe('0-2');
      // The same bytes as octet-stream go through, and the blob is the bytes sent.
      const whole = Buffer.concat([Buffer.from('abc'), chunk]);
      const put = await send(
        registry.url,
        'PUT',
        `${location}?digest=${sha256(whole)}`,
        chunk,
        { 'Content-Type': 'application/octet-stream' },
        chunked,
      );
      expect(put.status).toBe(201);
    },
  );

  test('a monolithic push sent as application/json with bytes that are not UTF-8 is SIZE_INVALID', async () => {
    const body = Buffer.concat([Buffer.from('{'), NOT_UTF8, Buffer.from('}')]);
    const res = await send(
      registry.url,
      'POST',
      `/v2/text/app/blobs/uploads/?digest=${sha256(body)}`,
      body,
      { 'Content-Type': 'application/json' },
      false,
    );
    expect([res.status, codeOf(res.text)]).toEqual([400, 'SIZE_INVALID']);
    expect((await client.request('HEAD', `/v2/text/app/blobs/${sha256(body)}`)).status).toBe(404);
  });
});
