import { Readable } from 'node:stream';
import { RegistryClient, sha256 } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

/**
 * AWS calls per operation, counted at the SDK's wire step while local mode serves each request.
 * Deterministic, unlike timings: the budget below is what a deployed registry pays per request.
 */
describe('AWS call budget per operation', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const table: { operation: string; calls: string }[] = [];

  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
    client = new RegistryClient(registry.url);
  });
  afterAll(async () => {
    await registry?.stop();
    const width = Math.max(...table.map((r) => r.operation.length));
    const lines = table.map((r) => `  ${r.operation.padEnd(width)}  ${r.calls}`);
    process.stdout.write(`\nAWS calls per operation (local mode, counted per request):\n${lines.join('\n')}\n`);
  });

  /** Runs one request and returns the calls it made, keyed `service.Operation`. */
  async function measure(
    operation: string,
    send: () => Promise<Response>,
    expectedStatus: number,
    onResponse?: (res: Response) => void,
    /** The registry that serves it: by default the one without the upload data path. */
    on: TestRegistry = registry,
  ) {
    const before = on.requests.length;
    const res = await send();
    await res.arrayBuffer();
    onResponse?.(res);
    expect(res.status).toBe(expectedStatus);
    const served = on.requests.slice(before);
    expect(served).toHaveLength(1);
    const calls = Object.fromEntries(served[0]!.calls);
    table.push({
      operation,
      calls:
        Object.entries(calls)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || '(none)',
    });
    return calls;
  }
  const total = (calls: Record<string, number>, service: string) =>
    Object.entries(calls)
      .filter(([k]) => k.startsWith(`${service}.`))
      .reduce((sum, [, v]) => sum + v, 0);

  test('pull: blob HEAD and GET and manifest HEAD and GET by tag cost one DynamoDB read and no S3 call', async () => {
    const image = await client.pushImage('budget/app', 'v1');
    const manifest = JSON.parse(image.body);
    const layer = manifest.layers[0].digest;

    const head = await measure('blob HEAD', () => client.request('HEAD', `/v2/budget/app/blobs/${layer}`), 200);
    expect(head).toEqual({ 'dynamodb.GetItem': 1 });
    const get = await measure(
      'blob GET (307 to S3)',
      () => client.request('GET', `/v2/budget/app/blobs/${layer}`),
      307,
    );
    expect(get).toEqual({ 'dynamodb.GetItem': 1 });

    // The first pull of the day records it: one conditional write (test below).
    const byTag = await measure('manifest GET by tag', () => client.request('GET', '/v2/budget/app/manifests/v1'), 200);
    // The tag keeps an inline manifest's bytes: one read.
    expect(total(byTag, 'dynamodb') - (byTag['dynamodb.UpdateItem'] ?? 0)).toBe(1);
    expect(total(byTag, 's3')).toBe(0);
    const byDigest = await measure(
      'manifest GET by digest',
      () => client.request('GET', `/v2/budget/app/manifests/${image.digest}`),
      200,
    );
    expect(byDigest).toEqual({ 'dynamodb.GetItem': 1 });
    const headTag = await measure(
      'manifest HEAD by tag',
      () => client.request('HEAD', '/v2/budget/app/manifests/v1'),
      200,
    );
    // The tag keeps the revision's descriptor: what docker and containerd ask first costs one read.
    expect(headTag).toEqual({ 'dynamodb.GetItem': 1 });
  });

  test("pulls record the day: the day's first GET writes once, later GETs and HEADs write nothing", async () => {
    const image = await client.pushImage('budget/pulled', 'v1');
    const first = await measure(
      "manifest GET by tag, the day's first",
      () => client.request('GET', '/v2/budget/pulled/manifests/v1'),
      200,
    );
    // The revision's day and the tag's (a GET by tag reads the day from the tag).
    expect(first).toEqual({ 'dynamodb.GetItem': 1, 'dynamodb.UpdateItem': 2 });
    const again = await measure(
      'manifest GET by tag, again that day',
      () => client.request('GET', '/v2/budget/pulled/manifests/v1'),
      200,
    );
    expect(again).toEqual({ 'dynamodb.GetItem': 1 });
    const byDigest = await measure(
      'manifest GET by digest, again that day',
      () => client.request('GET', `/v2/budget/pulled/manifests/${image.digest}`),
      200,
    );
    expect(byDigest).toEqual({ 'dynamodb.GetItem': 1 });

    // HEAD never records; a GET by digest is a pull like one by tag.
    const other = await client.pushImage('budget/pulled', 'v2');
    const head = await measure(
      'manifest HEAD by digest',
      () => client.request('HEAD', `/v2/budget/pulled/manifests/${other.digest}`),
      200,
    );
    expect(head).toEqual({ 'dynamodb.GetItem': 1 });
    const firstByDigest = await measure(
      "manifest GET by digest, the day's first",
      () => client.request('GET', `/v2/budget/pulled/manifests/${other.digest}`),
      200,
    );
    expect(firstByDigest).toEqual({ 'dynamodb.GetItem': 1, 'dynamodb.UpdateItem': 1 });
  });

  test('push: calls per upload step', async () => {
    const body = 'chunked blob '.repeat(100);
    let location = '';
    const start = await measure(
      'upload POST (start)',
      () => client.request('POST', '/v2/budget/push/blobs/uploads/'),
      202,
      (res) => {
        location = res.headers.get('location') as string;
      },
    );
    expect(start).toEqual({ 'dynamodb.PutItem': 1 });
    const patch = await measure(
      'upload PATCH (chunk, staged)',
      () =>
        client.request('PATCH', location, {
          body: body.slice(0, 500),
          headers: { 'Content-Range': '0-499', 'Content-Type': 'application/octet-stream' },
        }),
      202,
    );
    expect(total(patch, 's3')).toBe(1);
    const put = await measure(
      'upload PUT ?digest= (finish)',
      () =>
        client.request('PUT', `${location}?digest=${sha256(body)}`, {
          body: body.slice(500),
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      201,
    );
    // The last chunk joins the staged one in memory: one read of the staged chunk, one write of the blob.
    expect(put['s3.GetObject']).toBe(1);
    expect(put['s3.PutObject']).toBe(1);
    await measure(
      'monolithic POST ?digest=',
      () =>
        client.request('POST', `/v2/budget/push/blobs/uploads/?digest=${sha256('mono')}`, {
          body: 'mono',
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      201,
    );
    await measure(
      'mount POST ?mount=&from=',
      () => client.request('POST', `/v2/budget/other/blobs/uploads/?mount=${sha256('mono')}&from=budget/push`),
      201,
    );
    const config = await client.pushBlob('budget/push', '{}');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(body), size: body.length }],
    });
    const putManifest = await measure(
      'manifest PUT by tag',
      () =>
        client.request('PUT', '/v2/budget/push/manifests/latest', {
          body: manifest,
          headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        }),
      201,
    );
    expect(total(putManifest, 's3')).toBe(0);
    await measure('tags list', () => client.request('GET', '/v2/budget/push/tags/list'), 200);
    await measure('catalog', () => client.request('GET', '/v2/_catalog?n=10'), 200);
    await measure('referrers', () => client.request('GET', `/v2/budget/push/referrers/${sha256(manifest)}`), 200);
    await measure(
      'manifest DELETE by digest',
      () => client.request('DELETE', `/v2/budget/push/manifests/${sha256(manifest)}`),
      202,
    );
    await measure('blob DELETE', () => client.request('DELETE', `/v2/budget/push/blobs/${config}`), 202);
  });

  test('push: a chunked upload that fills a multipart part, and a direct upload (push helper)', async () => {
    const MiB = 1024 * 1024;
    const body = Buffer.alloc(7 * MiB + 100, 7);
    let location = '';
    await measure(
      'upload POST (start, chunked)',
      () => client.request('POST', '/v2/budget/parts/blobs/uploads/'),
      202,
      (res) => {
        location = res.headers.get('location') as string;
      },
    );
    const chunk = (start: number, end: number) =>
      client.request('PATCH', location, {
        body: body.subarray(start, end),
        headers: { 'Content-Range': `${start}-${end - 1}`, 'Content-Type': 'application/octet-stream' },
      });
    expect(await measure('upload PATCH (3 MiB, staged)', () => chunk(0, 3 * MiB), 202)).toEqual({
      'dynamodb.GetItem': 1,
      's3.PutObject': 1,
      'dynamodb.PutItem': 1,
    });
    // With the staged chunk it makes a part: the first part starts the multipart upload.
    expect(await measure('upload PATCH (3 MiB, first part)', () => chunk(3 * MiB, 6 * MiB), 202)).toEqual({
      'dynamodb.GetItem': 1,
      's3.GetObject': 1,
      's3.CreateMultipartUpload': 1,
      's3.UploadPart': 1,
      'dynamodb.PutItem': 1,
      's3.DeleteObjects': 1,
    });
    expect(await measure('upload PATCH (1 MiB, staged after a part)', () => chunk(6 * MiB, 7 * MiB), 202)).toEqual({
      'dynamodb.GetItem': 1,
      's3.PutObject': 1,
      'dynamodb.PutItem': 1,
    });
    // The staged chunk and the last one become the last part.
    const finish = await measure(
      'upload PUT ?digest= (multipart finish)',
      () =>
        client.request('PUT', `${location}?digest=${sha256(body)}`, {
          body: body.subarray(7 * MiB),
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      201,
    );
    // The parts are listed from S3 and checked against the session's ledger (docs/storage.md).
    expect(finish).toEqual({
      'dynamodb.GetItem': 2,
      's3.ListParts': 1,
      's3.GetObject': 1,
      's3.UploadPart': 1,
      's3.CompleteMultipartUpload': 1,
      's3.DeleteObjects': 1,
      'dynamodb.PutItem': 1,
      'dynamodb.TransactWriteItems': 1,
      'dynamodb.DeleteItem': 1,
    });

    const direct = Buffer.alloc(6 * MiB, 3);
    await measure(
      'upload POST (start, direct)',
      () => client.request('POST', '/v2/budget/direct/blobs/uploads/'),
      202,
      (res) => {
        location = res.headers.get('location') as string;
      },
    );
    const partUrls = await measure(
      'upload POST ?parts=1-2 (direct)',
      () => client.request('POST', `${location}?parts=1-2`),
      200,
    );
    expect(partUrls).toEqual({ 'dynamodb.GetItem': 1, 's3.CreateMultipartUpload': 1, 'dynamodb.PutItem': 1 });
    // The measured answer was consumed by the count; a second request presigns the same parts again.
    const urlsRes = await client.request('POST', `${location}?parts=1-2`);
    const urls = ((await urlsRes.json()) as { parts: { partNumber: number; url: string }[] }).parts;
    for (const [i, part] of [direct.subarray(0, 5 * MiB), direct.subarray(5 * MiB)].entries()) {
      expect((await fetch(urls[i]!.url, { method: 'PUT', body: part })).status).toBe(200);
    }
    const verify = await measure(
      'upload POST ?digest= (direct finish)',
      () => client.request('POST', `${location}?digest=${sha256(direct)}`),
      201,
    );
    expect(verify).toEqual({
      'dynamodb.GetItem': 2,
      's3.ListParts': 1,
      's3.CompleteMultipartUpload': 1,
      's3.GetObject': 1,
      'dynamodb.PutItem': 3,
      'dynamodb.TransactWriteItems': 1,
      'dynamodb.DeleteItem': 1,
    });
  });

  test('push through the upload data path: a streamed PATCH and an empty PUT (docker), a whole-blob PUT (oras) is one PutObject', async () => {
    const MiB = 1024 * 1024;
    const streaming = await startTestRegistry({ uploader: true });
    try {
      const http = new RegistryClient(streaming.url);
      const start = async () => {
        const res = await http.request('POST', '/v2/budget/streamed/blobs/uploads/');
        expect(res.status).toBe(202);
        return res.headers.get('location') as string;
      };
      const octets = { 'Content-Type': 'application/octet-stream' };
      // 40 MiB: two 16 MiB parts while the body streams, and the 8 MiB left as a third.
      const layer = Buffer.alloc(40 * MiB, 5);
      let location = await start();
      const patch = await measure(
        'uploader PATCH (40 MiB streamed, 3 parts)',
        () => http.request('PATCH', location, { body: layer, headers: octets }),
        202,
        undefined,
        streaming,
      );
      expect(patch).toEqual({
        'dynamodb.GetItem': 1,
        's3.CreateMultipartUpload': 1,
        's3.UploadPart': 3,
        'dynamodb.PutItem': 1,
      });
      const finish = await measure(
        'uploader PUT ?digest= (empty, after a streamed PATCH)',
        () => http.request('PUT', `${location}?digest=${sha256(layer)}`),
        201,
        undefined,
        streaming,
      );
      // Its parts were written by an earlier request: listed from S3 and checked against the ledger.
      // (A streamed PUT on a session holding bytes goes through append and complete, each of which
      // reads the session: 3 reads of it, and 1 of the blob record.)
      expect(finish).toEqual({
        'dynamodb.GetItem': 4,
        's3.ListParts': 1,
        's3.CompleteMultipartUpload': 1,
        'dynamodb.PutItem': 1,
        'dynamodb.TransactWriteItems': 1,
        'dynamodb.DeleteItem': 1,
      });
      const whole = Buffer.alloc(40 * MiB, 6);
      location = await start();
      const put = await measure(
        'uploader PUT ?digest= (40 MiB whole blob)',
        () => http.request('PUT', `${location}?digest=${sha256(whole)}`, { body: whole, headers: octets }),
        201,
        undefined,
        streaming,
      );
      // With its length declared, the whole blob is one PutObject straight under its digest, which S3
      // checks against the digest: no multipart upload, no copy, nothing to list or complete.
      expect(put).toEqual({
        'dynamodb.GetItem': 2,
        's3.PutObject': 1,
        'dynamodb.PutItem': 1,
        'dynamodb.TransactWriteItems': 1,
        'dynamodb.DeleteItem': 1,
      });
      // The same blob into another repository: its bytes are checked, not stored again.
      const other = await http.request('POST', '/v2/budget/streamed-too/blobs/uploads/');
      expect(other.status).toBe(202);
      const again = await measure(
        'uploader PUT ?digest= (40 MiB whole blob, stored already)',
        () =>
          http.request('PUT', `${other.headers.get('location')}?digest=${sha256(whole)}`, {
            body: whole,
            headers: octets,
          }),
        201,
        undefined,
        streaming,
      );
      expect(again).toEqual({ 'dynamodb.GetItem': 2, 'dynamodb.TransactWriteItems': 1, 'dynamodb.DeleteItem': 1 });
      // A body without a declared length (Transfer-Encoding: chunked) cannot be one PutObject: parts.
      location = await start();
      const chunkedBody = Buffer.alloc(40 * MiB, 7);
      const unsized = await measure(
        'uploader PUT ?digest= (40 MiB whole blob, chunked body)',
        () =>
          fetch(new URL(`${location}?digest=${sha256(chunkedBody)}`, streaming.url), {
            method: 'PUT',
            body: Readable.toWeb(Readable.from([chunkedBody.subarray(0, 20 * MiB), chunkedBody.subarray(20 * MiB)])),
            headers: octets,
            duplex: 'half',
          } as RequestInit),
        201,
        undefined,
        streaming,
      );
      // The request wrote every part itself: nothing to list.
      expect(unsized).toEqual({
        'dynamodb.GetItem': 2,
        's3.CreateMultipartUpload': 1,
        's3.UploadPart': 3,
        's3.CompleteMultipartUpload': 1,
        'dynamodb.PutItem': 1,
        'dynamodb.TransactWriteItems': 1,
        'dynamodb.DeleteItem': 1,
      });
    } finally {
      await streaming.stop();
    }
  });
});
