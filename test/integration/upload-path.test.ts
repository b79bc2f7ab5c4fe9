import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { RegistryClient, sha256 } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const MiB = 1024 * 1024;

/**
 * The streaming upload path never stores bytes under a digest they do not have, and a body that
 * breaks off leaves nothing visible; what it had written is removed when the session is cancelled.
 */
describe('upload data path: wrong digests and interrupted bodies', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  beforeAll(async () => {
    registry = await startTestRegistry();
    client = new RegistryClient(registry.url);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  async function objects(prefix: string): Promise<string[]> {
    const out = await registry.clients.s3.send(
      new ListObjectsV2Command({ Bucket: registry.config.bucket, Prefix: prefix }),
    );
    return (out.Contents ?? []).map((o) => o.Key as string);
  }
  async function openMultiparts(): Promise<string[]> {
    const out = await registry.clients.s3.send(new ListMultipartUploadsCommand({ Bucket: registry.config.bucket }));
    return (out.Uploads ?? []).map((u) => u.Key as string);
  }
  async function start(name: string): Promise<string> {
    const res = await client.request('POST', `/v2/${name}/blobs/uploads/`);
    expect(res.status).toBe(202);
    return res.headers.get('location') as string;
  }

  test('a 40 MiB streamed PATCH finished with the wrong digest is DIGEST_INVALID and leaves nothing', async () => {
    const body = randomBytes(40 * MiB);
    const location = await start('path/wrong');
    const patch = await client.request('PATCH', location, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(patch.status).toBe(202);
    expect(patch.headers.get('range')).toBe(`0-${body.length - 1}`);
    const claimed = sha256('something else');
    const put = await client.request('PUT', `${location}?digest=${claimed}`);
    expect(put.status).toBe(400);
    expect(((await put.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('DIGEST_INVALID');
    expect((await client.request('HEAD', `/v2/path/wrong/blobs/${claimed}`)).status).toBe(404);
    expect((await client.request('HEAD', `/v2/path/wrong/blobs/${sha256(body)}`)).status).toBe(404);
    expect((await client.request('GET', location)).status).toBe(404);
    const id = location.split('/').pop() as string;
    expect((await objects('')).filter((k) => k.includes(id))).toEqual([]);
    expect((await openMultiparts()).filter((k) => k.includes(id))).toEqual([]);
  });

  test('a whole-blob PUT with the wrong digest is refused the same way', async () => {
    const body = randomBytes(24 * MiB);
    const location = await start('path/wrong-put');
    const claimed = sha256(randomBytes(8));
    const put = await client.request('PUT', `${location}?digest=${claimed}`, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(put.status).toBe(400);
    expect((await client.request('HEAD', `/v2/path/wrong-put/blobs/${claimed}`)).status).toBe(404);
  });

  test('a body that breaks off commits nothing; the session resumes, or its leftovers go on cancel', async () => {
    const location = await start('path/interrupted');
    const id = location.split('/').pop() as string;
    // Send 40 MiB of a declared 100 MiB, then drop the connection.
    await new Promise<void>((resolve) => {
      const req = request(new URL(location, registry.url), {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(100 * MiB) },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(randomBytes(40 * MiB), () => setTimeout(() => req.destroy(), 200));
    });
    await new Promise((r) => setTimeout(r, 500));
    const status = await client.request('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    // Parts written before the break are not part of the session; a retry starts from byte 0.
    const body = randomBytes(20 * MiB);
    const patch = await client.request('PATCH', location, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(patch.status).toBe(202);
    const del = await client.request('DELETE', location);
    expect(del.status).toBe(204);
    expect((await objects('')).filter((k) => k.includes(id))).toEqual([]);
    expect((await openMultiparts()).filter((k) => k.includes(id))).toEqual([]);
    expect((await client.request('GET', location)).status).toBe(404);
  });

  test('names deeper than the API routes are NAME_INVALID on the upload path too', async () => {
    const deep = Array.from({ length: registry.config.maxNameDepth + 1 }, (_, i) => `p${i}`).join('/');
    const res = await client.request('POST', `/v2/${deep}/blobs/uploads/`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('NAME_INVALID');
  });
});
