import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { ListMultipartUploadsCommand, ListObjectsV2Command, UploadPartCommand } from '@aws-sdk/client-s3';
import { DynamoDbMetadata } from '../../lambda/adapters/dynamodb/dynamodb-metadata';
import type { ChunkedUploadSession } from '../../lambda/core/ports/metadata';
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

  /** Keys under the blob's digest (`blobs/sha256/<hex>/`), where only bytes of that digest may be. */
  const underDigest = (digest: string) => objects(`blobs/${digest.replace(':', '/')}/`);

  test('a whole-blob PUT is one object straight under its digest: no multipart upload, nothing staged', async () => {
    const body = randomBytes(24 * MiB);
    const location = await start('path/whole');
    const id = location.split('/').pop() as string;
    const put = await client.request('PUT', `${location}?digest=${sha256(body)}`, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(sha256(body));
    expect(await underDigest(sha256(body))).toHaveLength(1);
    expect((await objects('')).filter((k) => k.includes(id))).toEqual([]);
    expect((await openMultiparts()).filter((k) => k.includes(id))).toEqual([]);
    const got = await client.request('GET', `/v2/path/whole/blobs/${sha256(body)}`);
    expect(got.status).toBe(307);
    const pulled = Buffer.from(await (await fetch(got.headers.get('location') as string)).arrayBuffer());
    expect(sha256(pulled)).toBe(sha256(body));
  });

  test('a whole-blob PUT with the wrong digest is refused the same way, and nothing lands under either digest', async () => {
    const body = randomBytes(24 * MiB);
    const location = await start('path/wrong-put');
    const id = location.split('/').pop() as string;
    const claimed = sha256(randomBytes(8));
    const put = await client.request('PUT', `${location}?digest=${claimed}`, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(put.status).toBe(400);
    const error = ((await put.json()) as { errors: { code: string; detail?: { actual?: string } }[] }).errors[0];
    expect(error?.code).toBe('DIGEST_INVALID');
    expect(error?.detail?.actual).toBe(sha256(body));
    expect((await client.request('HEAD', `/v2/path/wrong-put/blobs/${claimed}`)).status).toBe(404);
    expect((await client.request('HEAD', `/v2/path/wrong-put/blobs/${sha256(body)}`)).status).toBe(404);
    expect(await underDigest(claimed)).toEqual([]);
    expect(await underDigest(sha256(body))).toEqual([]);
    expect((await objects('')).filter((k) => k.includes(id))).toEqual([]);
    expect((await openMultiparts()).filter((k) => k.includes(id))).toEqual([]);
    expect((await client.request('GET', location)).status).toBe(404);
  });

  test('a whole-blob PUT that breaks off stores nothing, and the session takes the PUT again', async () => {
    const body = randomBytes(30 * MiB);
    const location = await start('path/whole-cut');
    await new Promise<void>((resolve) => {
      const req = request(new URL(`${location}?digest=${sha256(body)}`, registry.url), {
        method: 'PUT',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(body.subarray(0, 12 * MiB), () => setTimeout(() => req.destroy(), 200));
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(await underDigest(sha256(body))).toEqual([]);
    expect((await client.request('HEAD', `/v2/path/whole-cut/blobs/${sha256(body)}`)).status).toBe(404);
    const status = await client.request('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    const put = await client.request('PUT', `${location}?digest=${sha256(body)}`, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(put.status).toBe(201);
    expect(await underDigest(sha256(body))).toHaveLength(1);
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

  /** The session as the table holds it, for what the client cannot see (its multipart upload). */
  async function session(location: string): Promise<ChunkedUploadSession> {
    const metadata = new DynamoDbMetadata(registry.clients.dynamodb, registry.config.table);
    return (await metadata.get(location.split('/').pop() as string)) as ChunkedUploadSession;
  }

  test('a chunk after a streamed body: the parts are completed from S3 against the ledger, and the blob is exact', async () => {
    const body = randomBytes(21 * MiB);
    const location = await start('path/resumed');
    const first = await client.request('PATCH', location, {
      body: body.subarray(0, 20 * MiB),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(first.status).toBe(202);
    expect((await session(location)).multipart?.parts).toMatchObject({ count: 1, size: 16 * MiB });
    // More bytes after a natively hashed body: the upload is completed, read back, and copied as part 1.
    const more = await client.request('PATCH', location, {
      body: body.subarray(20 * MiB),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${20 * MiB}-${21 * MiB - 1}` },
    });
    expect(more.status).toBe(202);
    // Part 1 is the copy of the completed upload; the staged 4 MiB and the new 1 MiB make part 2.
    expect((await session(location)).multipart?.parts).toMatchObject({ count: 2, size: 21 * MiB });
    const put = await client.request('PUT', `${location}?digest=${sha256(body)}`);
    expect(put.status).toBe(201);
    const redirect = await client.request('GET', `/v2/path/resumed/blobs/${sha256(body)}`);
    const back = Buffer.from(await (await fetch(redirect.headers.get('location') as string)).arrayBuffer());
    expect(back.equals(body)).toBe(true);
  });

  test('a committed part overwritten in S3 is refused at the finish: BLOB_UPLOAD_INVALID, no blob', async () => {
    const body = randomBytes(20 * MiB);
    const location = await start('path/overwritten');
    const patch = await client.request('PATCH', location, {
      body: body.subarray(0, 18 * MiB),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${18 * MiB - 1}` },
    });
    expect(patch.status).toBe(202);
    // What a request that lost the race to commit could have done after the winner committed.
    const { multipart } = await session(location);
    await registry.clients.s3.send(
      new UploadPartCommand({
        Bucket: registry.config.bucket,
        Key: multipart!.key,
        UploadId: multipart!.id,
        PartNumber: 1,
        Body: randomBytes(16 * MiB),
      }),
    );
    const put = await client.request('PUT', `${location}?digest=${sha256(body)}`, {
      body: body.subarray(18 * MiB),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(put.status).toBe(400);
    // Refused by the ledger before S3 was asked to complete with whatever parts it lists.
    expect(((await put.json()) as { errors: { code: string; message: string }[] }).errors[0]).toMatchObject({
      code: 'BLOB_UPLOAD_INVALID',
      message: expect.stringMatching(/overwritten/),
    });
    expect((await client.request('HEAD', `/v2/path/overwritten/blobs/${sha256(body)}`)).status).toBe(404);
    expect((await client.request('DELETE', location)).status).toBe(204);
    expect((await openMultiparts()).filter((k) => k.includes(location.split('/').pop() as string))).toEqual([]);
  });

  test('names deeper than the API routes are NAME_INVALID on the upload path too', async () => {
    const deep = Array.from({ length: registry.config.maxNameDepth + 1 }, (_, i) => `p${i}`).join('/');
    const res = await client.request('POST', `/v2/${deep}/blobs/uploads/`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('NAME_INVALID');
  });
});
