import { randomBytes } from 'node:crypto';
import { RegistryClient, sha256 } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Bad input gets the OCI code the spec names and a clear message: never a 500, a hang or lost data. */
describe('error paths over HTTP (local mode)', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
    client = new RegistryClient(registry.url);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  async function expectError(res: Response, status: number, code: string): Promise<string> {
    const text = await res.text();
    expect({ status: res.status, body: text }).toMatchObject({ status });
    const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe(code);
    expect(body.errors[0]?.message.length).toBeGreaterThan(5);
    return body.errors[0]!.message;
  }

  test('GET /v2/ answers with the API version header', async () => {
    const res = await client.request('GET', '/v2/');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  test('a body over the Lambda payload limit gets 413 SIZE_INVALID naming the limit, and nothing is stored', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const res = await client.request('POST', `/v2/err/big/blobs/uploads/?digest=${sha256(body)}`, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    const message = await expectError(res, 413, 'SIZE_INVALID');
    expect(message).toContain('6291456');
    expect((await client.request('HEAD', `/v2/err/big/blobs/${sha256(body)}`)).status).toBe(404);
  });

  test('a monolithic push whose bytes do not match the digest is DIGEST_INVALID and the blob stays unknown', async () => {
    const claimed = sha256('claimed');
    const res = await client.request('POST', `/v2/err/digest/blobs/uploads/?digest=${claimed}`, {
      body: 'actual',
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    await expectError(res, 400, 'DIGEST_INVALID');
    await expectError(await client.request('HEAD', `/v2/err/digest/blobs/${claimed}`), 404, 'BLOB_UNKNOWN').catch(
      async () => {
        // HEAD has no body; the status is what matters.
        expect((await client.request('HEAD', `/v2/err/digest/blobs/${claimed}`)).status).toBe(404);
      },
    );
  });

  test('a chunked upload finished with the wrong digest is DIGEST_INVALID and its session is gone', async () => {
    const start = await client.request('POST', '/v2/err/chunked/blobs/uploads/');
    const location = start.headers.get('location') as string;
    await client.request('PATCH', location, {
      body: 'abc',
      headers: { 'Content-Range': '0-2', 'Content-Type': 'application/octet-stream' },
    });
    const wrong = sha256('not abc');
    await expectError(await client.request('PUT', `${location}?digest=${wrong}`), 400, 'DIGEST_INVALID');
    await expectError(await client.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect((await client.request('GET', `/v2/err/chunked/blobs/${wrong}`)).status).toBe(404);
  });

  test('an out-of-order chunk gets 416 with the Range the session holds', async () => {
    const start = await client.request('POST', '/v2/err/range/blobs/uploads/');
    const location = start.headers.get('location') as string;
    await client.request('PATCH', location, {
      body: '0123456789',
      headers: { 'Content-Range': '0-9', 'Content-Type': 'application/octet-stream' },
    });
    const res = await client.request('PATCH', location, {
      body: 'xyz',
      headers: { 'Content-Range': '20-22', 'Content-Type': 'application/octet-stream' },
    });
    expect(res.status).toBe(416);
    expect(res.headers.get('range')).toBe('0-9');
    expect(res.headers.get('location')).toBe(location);
    await expectError(res, 416, 'BLOB_UPLOAD_INVALID');
  });

  test('invalid names are NAME_INVALID, including encoded slashes and uppercase', async () => {
    await expectError(await client.request('GET', '/v2/Upper/Case/tags/list'), 400, 'NAME_INVALID');
    await expectError(await client.request('GET', '/v2/a%2Fb/tags/list'), 400, 'NAME_INVALID');
    await expectError(await client.request('GET', '/v2/a/..b/tags/list'), 400, 'NAME_INVALID');
    await expectError(await client.request('GET', `/v2/${'a'.repeat(256)}/tags/list`), 400, 'NAME_INVALID');
  });

  test('names deeper than the routes carry are NAME_INVALID with the limit in the message', async () => {
    const deep = Array.from({ length: registry.config.maxNameDepth + 1 }, (_, i) => `p${i}`).join('/');
    const message = await expectError(await client.request('GET', `/v2/${deep}/tags/list`), 400, 'NAME_INVALID');
    expect(message).toContain(String(registry.config.maxNameDepth));
    const okDepth = Array.from({ length: registry.config.maxNameDepth }, (_, i) => `p${i}`).join('/');
    const image = await client.pushImage(okDepth, 'deep');
    expect((await client.request('GET', `/v2/${okDepth}/manifests/${image.digest}`)).status).toBe(200);
  });

  test('unknown blobs, manifests, uploads and repositories get their own codes', async () => {
    await expectError(await client.request('GET', `/v2/err/none/blobs/${sha256('x')}`), 404, 'BLOB_UNKNOWN');
    await expectError(await client.request('GET', '/v2/err/none/manifests/latest'), 404, 'MANIFEST_UNKNOWN');
    await expectError(await client.request('GET', '/v2/err/none/manifests/.INVALID'), 404, 'MANIFEST_UNKNOWN');
    await expectError(
      await client.request('GET', '/v2/err/none/blobs/uploads/5f0c7a1e-0000-4000-8000-000000000000'),
      404,
      'BLOB_UPLOAD_UNKNOWN',
    );
    await expectError(await client.request('GET', '/v2/err/none/tags/list'), 404, 'NAME_UNKNOWN');
    await expectError(await client.request('GET', '/v2/err/none/blobs/sha256:short'), 400, 'DIGEST_INVALID');
  });

  test('unsupported methods get 405 UNSUPPORTED with Allow', async () => {
    const res = await client.request('POST', `/v2/err/none/blobs/${sha256('x')}`);
    expect(res.headers.get('allow')).toBe('GET, HEAD, DELETE');
    await expectError(res, 405, 'UNSUPPORTED');
    await expectError(await client.request('GET', '/nothing/here'), 404, 'UNSUPPORTED');
  });

  test('manifests: malformed, schema1, unknown references and wrong digests are refused with their codes', async () => {
    const put = (ref: string, body: string, type = OCI_MANIFEST) =>
      client.request('PUT', `/v2/err/manifests/manifests/${ref}`, { body, headers: { 'Content-Type': type } });
    await expectError(await put('bad', '{not json'), 400, 'MANIFEST_INVALID');
    const schema1 = await expectError(
      await put(
        'old',
        JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }),
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
      ),
      400,
      'MANIFEST_INVALID',
    );
    expect(schema1).toContain('schema1');
    const dangling = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('missing config'), size: 1 },
      layers: [],
    });
    await expectError(await put('dangling', dangling), 400, 'MANIFEST_BLOB_UNKNOWN');
    await expectError(await put(sha256('other bytes'), dangling), 400, 'DIGEST_INVALID');
    // The spec's v1.1.1 codes have no TAG_INVALID (a schema1 legacy code): a tag outside the grammar
    // makes the push an invalid manifest, checked before the references (a GET of it is 404, below).
    const badTag = await expectError(await put('bad tag!', dangling), 400, 'MANIFEST_INVALID');
    expect(badTag).toContain('invalid tag');
    await expectError(await client.request('GET', '/v2/err/manifests/manifests/bad%20tag!'), 404, 'MANIFEST_UNKNOWN');
    expect((await client.request('GET', '/v2/err/manifests/manifests/dangling')).status).toBe(404);
  });

  test('a 4 MiB manifest is accepted (through one request) and served byte for byte; a bigger one is 413', async () => {
    const name = 'err/large';
    const config = await client.pushBlob(name, '{}');
    const base = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [],
    };
    const padded = (size: number) => {
      const skeleton = JSON.stringify({ ...base, annotations: { pad: '' } });
      return JSON.stringify({ ...base, annotations: { pad: 'x'.repeat(size - skeleton.length) } });
    };
    const big = padded(4 * 1024 * 1024);
    expect(big.length).toBe(4 * 1024 * 1024);
    const res = await client.request('PUT', `/v2/${name}/manifests/big`, {
      body: big,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    expect(res.status).toBe(201);
    const got = await client.request('GET', `/v2/${name}/manifests/big`);
    expect(got.status).toBe(200);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(big));
    const tooBig = padded(4 * 1024 * 1024 + 1);
    await expectError(
      await client.request('PUT', `/v2/${name}/manifests/toobig`, {
        body: tooBig,
        headers: { 'Content-Type': OCI_MANIFEST },
      }),
      413,
      'SIZE_INVALID',
    );
  });

  test('tags list paginates with n, last and a Link header', async () => {
    const name = 'err/tags';
    const image = await client.pushImage(name, 'a');
    for (const tag of ['b', 'c', 'd']) {
      await client.request('PUT', `/v2/${name}/manifests/${tag}`, {
        body: image.body,
        headers: { 'Content-Type': OCI_MANIFEST },
      });
    }
    const first = await client.request('GET', `/v2/${name}/tags/list?n=2`);
    expect(await first.json()).toEqual({ name, tags: ['a', 'b'] });
    expect(first.headers.get('link')).toBe(`</v2/${name}/tags/list?n=2&last=b>; rel="next"`);
    const second = await client.request('GET', `/v2/${name}/tags/list?n=2&last=b`);
    expect(await second.json()).toEqual({ name, tags: ['c', 'd'] });
    expect(second.headers.get('link')).toBeNull();
    await expectError(await client.request('GET', `/v2/${name}/tags/list?n=-1`), 400, 'UNSUPPORTED');
  });

  test('referrers filter by artifactType and say so; manifests with a subject answer OCI-Subject', async () => {
    const name = 'err/referrers';
    const subject = await client.pushImage(name, 'subject');
    const descriptor = { mediaType: OCI_MANIFEST, digest: subject.digest, size: Buffer.byteLength(subject.body) };
    const push = async (artifactType: string) => {
      const res = await client.request('PUT', `/v2/${name}/manifests/${artifactType.replace(/\W/g, '-')}`, {
        body: JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType,
          config: {
            mediaType: 'application/vnd.oci.empty.v1+json',
            digest: await client.pushBlob(name, '{}'),
            size: 2,
          },
          layers: [],
          subject: descriptor,
          annotations: { kind: artifactType },
        }),
        headers: { 'Content-Type': OCI_MANIFEST },
      });
      expect(res.status).toBe(201);
      expect(res.headers.get('oci-subject')).toBe(subject.digest);
    };
    await push('application/vnd.example.sbom');
    await push('application/vnd.example.signature');
    const all = await client.request('GET', `/v2/${name}/referrers/${subject.digest}`);
    expect(all.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    expect(((await all.json()) as { manifests: unknown[] }).manifests).toHaveLength(2);
    const filtered = await client.request(
      'GET',
      `/v2/${name}/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`,
    );
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    const index = (await filtered.json()) as { manifests: Record<string, unknown>[] };
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]).toMatchObject({
      artifactType: 'application/vnd.example.sbom',
      annotations: { kind: 'application/vnd.example.sbom' },
    });
  });

  test('a blob GET redirects to a presigned URL on another host that serves Range requests', async () => {
    const body = randomBytes(4096);
    const digest = await client.pushBlob('err/redirect', body);
    const res = await client.request('GET', `/v2/err/redirect/blobs/${digest}`);
    expect(res.status).toBe(307);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    const location = new URL(res.headers.get('location') as string);
    expect(location.host).not.toBe(new URL(registry.url).host);
    const ranged = await fetch(location, { headers: { Range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(body.subarray(100, 200));
    const head = await client.request('HEAD', `/v2/err/redirect/blobs/${digest}`);
    expect(head.headers.get('content-length')).toBe('4096');
  });

  test('a repository cannot read a blob it never linked, even when another repository holds it', async () => {
    const digest = await client.pushBlob('err/owner', 'private bytes');
    expect((await client.request('HEAD', `/v2/err/stranger/blobs/${digest}`)).status).toBe(404);
    const mount = await client.request('POST', `/v2/err/stranger/blobs/uploads/?mount=${digest}&from=err/owner`);
    expect(mount.status).toBe(201);
    expect((await client.request('HEAD', `/v2/err/stranger/blobs/${digest}`)).status).toBe(200);
    const noSource = await client.request('POST', `/v2/err/third/blobs/uploads/?mount=${digest}&from=err/nobody`);
    expect(noSource.status).toBe(202);
  });
});
