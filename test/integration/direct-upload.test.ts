import { randomBytes } from 'node:crypto';
import type { DynamoDbMetadata } from '../../lambda/adapters/dynamodb/dynamodb-metadata';
import type { Clock } from '../../lambda/core/ports/clock';
import type { BlobIndex } from '../../lambda/core/ports/metadata';
import { MAX_PART_URLS } from '../../lambda/core/services/upload-service';
import { composeUploadSweeper, DIRECT_UPLOAD_OPTIONS } from '../../lambda/handlers/compose';
import { VERIFIED_HEADER } from '../../lambda/http/endpoints';
import { checksumParameters, testS3Endpoint } from '../support/aws';
import { endpointLacks, strictTest } from '../support/endpoint-strictness';
import { sha256 } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';
import { inventory, uploadsAt } from '../support/uploads';

const MiB = 1024 * 1024;
const lacking = endpointLacks();
const clockAt = (ms: number): Clock => ({ now: () => ms });

/** The real blob index, except that its `method` fails once (the table out of reach for a moment). */
function failingOnce(method: 'putBlobIfAbsent' | 'putLink') {
  return (real: DynamoDbMetadata): BlobIndex => {
    let failures = 1;
    const index = Object.create(real) as BlobIndex;
    const original = real[method].bind(real) as (...args: unknown[]) => Promise<unknown>;
    (index as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      if (failures-- > 0) throw new Error('the table is unreachable');
      return original(...args);
    };
    return index;
  };
}

interface PartUrlsBody {
  parts: { partNumber: number; url: string }[];
}

/**
 * Direct uploads, the push helper's protocol: the client PUTs its bytes to S3 through presigned
 * part URLs, never through the registry; the registry completes the multipart upload and reads every
 * byte back before the blob exists. Run against a registry without the upload data path (the
 * functions' 6 MB limit), where the helper is needed.
 */
describe('direct uploads (presigned multipart)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const api = (path: string, init: RequestInit = {}) =>
    fetch(new URL(path, registry.url), { redirect: 'manual', ...init });

  async function start(name: string): Promise<string> {
    const res = await api(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(202);
    return res.headers.get('location') as string;
  }

  async function partUrls(location: string, first: number, last: number): Promise<PartUrlsBody['parts']> {
    const res = await api(`${location}?parts=${first}-${last}`, { method: 'POST' });
    expect(res.status).toBe(200);
    return ((await res.json()) as PartUrlsBody).parts;
  }

  async function putParts(location: string, parts: Uint8Array[], numbers = parts.map((_, i) => i + 1)) {
    const urls = await partUrls(location, Math.min(...numbers), Math.max(...numbers));
    await Promise.all(
      parts.map(async (part, i) => {
        const url = urls.find((u) => u.partNumber === numbers[i])?.url as string;
        const res = await fetch(url, { method: 'PUT', body: part });
        expect(res.status).toBe(200);
      }),
    );
  }

  async function errorCode(res: Response): Promise<string> {
    return ((await res.json()) as { errors: { code: string }[] }).errors[0]?.code as string;
  }

  const cut = (bytes: Uint8Array, ...sizes: number[]) => {
    let at = 0;
    return sizes.map((size) => bytes.subarray(at, (at += size)));
  };

  test('bytes go to storage through part URLs; the blob exists once the registry read them back', async () => {
    const bytes = randomBytes(11 * MiB);
    const digest = sha256(bytes);
    const location = await start('direct/app');
    const before = registry.requests.length;

    const urls = await partUrls(location, 1, 3);
    expect(urls.map((u) => u.partNumber)).toEqual([1, 2, 3]);
    for (const { url, partNumber } of urls) {
      // Each URL names one part of one multipart upload, on the blob store, for a limited time.
      const u = new URL(url);
      expect(u.origin).toBe(testS3Endpoint());
      expect(u.pathname).toMatch(/\/blobs\/assembled\/[0-9a-f-]{36}-[0-9a-f]{8}$/);
      expect(u.searchParams.get('partNumber')).toBe(String(partNumber));
      expect(u.searchParams.get('uploadId')).toBeTruthy();
      expect(Number(u.searchParams.get('X-Amz-Expires'))).toBe(DIRECT_UPLOAD_OPTIONS.partUrlTtlSeconds);
      expect(u.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
      // No checksum of the empty body the URL was signed without: the part's bytes would be held to it.
      expect(checksumParameters(url)).toEqual([]);
    }
    await putParts(location, cut(bytes, 5 * MiB, 5 * MiB, 1 * MiB));
    expect((await api(`/v2/direct/app/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);

    const done = await api(`${location}?digest=${digest}`, { method: 'POST' });
    expect(done.status).toBe(201);
    expect(done.headers.get('docker-content-digest')).toBe(digest);
    expect(done.headers.get('location')).toBe(`/v2/direct/app/blobs/${digest}`);
    // No request to the registry carried a byte of the blob.
    const served = registry.requests.slice(before);
    expect(served.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200', 'POST 200', 'HEAD 404', 'POST 201']);

    const redirect = await api(`/v2/direct/app/blobs/${digest}`);
    expect(redirect.status).toBe(307);
    expect(checksumParameters(redirect.headers.get('location') as string)).toEqual([]);
    const back = Buffer.from(await (await fetch(redirect.headers.get('location') as string)).arrayBuffer());
    expect(sha256(back)).toBe(digest);

    const left = await inventory(registry);
    expect(left.multiparts).toEqual([]);
    expect(left.sessions).toEqual([]);
    expect(left.blobs.filter((k) => k.startsWith('blobs/assembled/'))).toHaveLength(1);
  });

  test('bytes that do not hash to the digest are DIGEST_INVALID and leave nothing behind', async () => {
    const before = await inventory(registry);
    const bytes = randomBytes(6 * MiB);
    const location = await start('direct/bad');
    await putParts(location, cut(bytes, 5 * MiB, 1 * MiB));
    const claimed = sha256(randomBytes(16));
    const res = await api(`${location}?digest=${claimed}`, { method: 'POST' });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('DIGEST_INVALID');
    expect((await api(`/v2/direct/bad/blobs/${claimed}`, { method: 'HEAD' })).status).toBe(404);
    expect((await api(`/v2/direct/bad/blobs/${sha256(bytes)}`, { method: 'HEAD' })).status).toBe(404);
    expect((await api(location)).status).toBe(404);
    expect(await inventory(registry)).toEqual(before);
  });

  test('missing or undersized parts are BLOB_UPLOAD_INVALID, with what is wrong', async () => {
    const before = await inventory(registry);
    const bytes = randomBytes(11 * MiB);
    const gap = await start('direct/gap');
    await putParts(gap, cut(bytes, 5 * MiB, 1 * MiB), [1, 3]);
    const gapped = await api(`${gap}?digest=${sha256(bytes)}`, { method: 'POST' });
    expect(gapped.status).toBe(400);
    const gapBody = (await gapped.json()) as { errors: { code: string; message: string }[] };
    expect(gapBody.errors[0]).toMatchObject({
      code: 'BLOB_UPLOAD_INVALID',
      message: expect.stringMatching(/part 2 is missing/),
    });

    const small = await start('direct/small');
    await putParts(small, cut(bytes, 1 * MiB, 5 * MiB));
    const tooSmall = await api(`${small}?digest=${sha256(bytes.subarray(0, 6 * MiB))}`, { method: 'POST' });
    expect(tooSmall.status).toBe(400);
    expect(((await tooSmall.json()) as { errors: { message: string }[] }).errors[0]?.message).toMatch(/5 MiB/);

    // Cancelling aborts the multipart uploads whose finish was refused. Compared with what the bucket
    // held before, not with nothing: a test before this one that failed midway leaves its own.
    for (const location of [gap, small]) expect((await api(location, { method: 'DELETE' })).status).toBe(204);
    expect((await inventory(registry)).multiparts).toEqual(before.multiparts);
  });

  test('direct and registry-borne bytes do not mix, and part ranges are bounded', async () => {
    const direct = await start('direct/mix');
    await partUrls(direct, 1, 1);
    const patch = await api(direct, { method: 'PATCH', body: randomBytes(1024) });
    expect(patch.status).toBe(400);
    expect(await errorCode(patch)).toBe('BLOB_UPLOAD_INVALID');
    const put = await api(`${direct}?digest=${sha256('')}`, { method: 'PUT' });
    expect(await errorCode(put)).toBe('BLOB_UPLOAD_INVALID');

    const patched = await start('direct/mix');
    expect((await api(patched, { method: 'PATCH', body: randomBytes(1024) })).status).toBe(202);
    const late = await api(`${patched}?parts=1-1`, { method: 'POST' });
    expect(late.status).toBe(400);
    expect(await errorCode(late)).toBe('BLOB_UPLOAD_INVALID');

    for (const parts of ['0-1', '2-1', '1-10001', `1-${MAX_PART_URLS + 1}`, 'x']) {
      const res = await api(`${direct}?parts=${parts}`, { method: 'POST' });
      expect([parts, res.status, await errorCode(res)]).toEqual([parts, 400, 'BLOB_UPLOAD_INVALID']);
    }
    expect(await errorCode(await api(direct, { method: 'POST' }))).toBe('UNSUPPORTED');
    for (const location of [direct, patched]) await api(location, { method: 'DELETE' });
  });

  test('verification goes on over as many requests as its budget needs, with its state saved between', async () => {
    const bytes = randomBytes(11 * MiB);
    const digest = sha256(bytes);
    const location = await start('direct/rounds');
    await putParts(location, cut(bytes, 5 * MiB, 5 * MiB, 1 * MiB));
    const id = location.split('/').pop() as string;
    const uploads = uploadsAt(registry, { now: () => Date.now() }, 86_400, {
      verifyBudget: { milliseconds: 60_000, bytes: 4 * MiB },
    });
    const progress: string[] = [];
    for (;;) {
      const step = await uploads.finishDirect('direct/rounds', id, digest);
      if (step.done) break;
      progress.push(`${step.verified}/${step.total}`);
    }
    // The first request also completes the multipart upload. Each one resumes where the last stopped.
    expect(progress.map((p) => Number(p.split('/')[0]) >= 4 * MiB)).toEqual([true, true]);
    expect(progress.at(-1)?.endsWith(`/${11 * MiB}`)).toBe(true);
    expect(Number(progress[1]?.split('/')[0])).toBeGreaterThan(Number(progress[0]?.split('/')[0]));
    expect((await api(`/v2/direct/rounds/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);

    // Without a byte limit the first request hashes natively; one that runs out of time drops its
    // work, and the requests after it hash resumably from the start.
    const slow = await start('direct/rounds');
    const slowBytes = randomBytes(6 * MiB);
    await putParts(slow, cut(slowBytes, 5 * MiB, 1 * MiB));
    let ticks = 0;
    const ticking = uploadsAt(registry, { now: () => (ticks += 10) }, 86_400, { verifyBudget: { milliseconds: 200 } });
    const steps: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const step = await ticking.finishDirect('direct/rounds', slow.split('/').pop() as string, sha256(slowBytes));
      if (step.done) break;
      steps.push(step.verified);
    }
    expect(steps[0]).toBe(0);
    expect(steps.length).toBeGreaterThan(2);
    expect(steps.slice(1).every((v, i) => v > (steps[i] as number))).toBe(true);
    expect((await api(`/v2/direct/rounds/blobs/${sha256(slowBytes)}`, { method: 'HEAD' })).status).toBe(200);

    // Over HTTP, a round that is not the last is a 202 saying how far it got.
    const other = await start('direct/rounds');
    await putParts(other, cut(randomBytes(6 * MiB), 5 * MiB, 1 * MiB));
    const otherId = other.split('/').pop() as string;
    const partial = await uploads.finishDirect('direct/rounds', otherId, digest).catch((e: Error) => e);
    expect(partial).toMatchObject({ done: false, verified: expect.any(Number), total: 6 * MiB });
    const rest = await api(`${other}?digest=${digest}`, { method: 'POST' });
    expect(rest.status).toBe(400); // the rest is verified in this request and does not match
  });

  test('a request that verified every byte but failed to record the blob leaves the next one nothing to redo', async () => {
    const bytes = randomBytes(6 * MiB);
    const digest = sha256(bytes);
    const location = await start('direct/retry');
    await putParts(location, cut(bytes, 5 * MiB, 1 * MiB));
    const flaky = uploadsAt(registry, { now: () => Date.now() }, 86_400, {}, failingOnce('putBlobIfAbsent'));
    const id = location.split('/').pop() as string;
    await expect(flaky.finishDirect('direct/retry', id, digest)).rejects.toThrow(/unreachable/);
    const reads = registry.requests.length;
    const done = await api(`${location}?digest=${digest}`, { method: 'POST' });
    expect(done.status).toBe(201);
    // No second read-back: the digest of the first one was saved with the session.
    expect(registry.requests.slice(reads)[0]?.calls.get('s3.GetObject')).toBeUndefined();
    expect(registry.requests.slice(reads)[0]?.calls.get('dynamodb.PutItem')).toBeGreaterThan(0);
    const redirect = await api(`/v2/direct/retry/blobs/${digest}`);
    const back = Buffer.from(await (await fetch(redirect.headers.get('location') as string)).arrayBuffer());
    expect(sha256(back)).toBe(digest);

    // The blob recorded but its link failed: the retry links the same object and keeps it.
    const linkBytes = randomBytes(6 * MiB);
    const linkDigest = sha256(linkBytes);
    const again = await start('direct/retry');
    await putParts(again, cut(linkBytes, 5 * MiB, 1 * MiB));
    const flakyLink = uploadsAt(registry, { now: () => Date.now() }, 86_400, {}, failingOnce('putLink'));
    await expect(flakyLink.finishDirect('direct/retry', again.split('/').pop() as string, linkDigest)).rejects.toThrow(
      /unreachable/,
    );
    expect((await api(`${again}?digest=${linkDigest}`, { method: 'POST' })).status).toBe(201);
    const linked = await api(`/v2/direct/retry/blobs/${linkDigest}`);
    const linkedBack = await fetch(linked.headers.get('location') as string);
    expect(linkedBack.status).toBe(200);
    expect(sha256(Buffer.from(await linkedBack.arrayBuffer()))).toBe(linkDigest);
  });

  test('cancelling frees the parts, or the assembled object; so does the sweeper once a session expired', async () => {
    const before = await inventory(registry);
    const cancelled = await start('direct/cancel');
    await putParts(cancelled, cut(randomBytes(6 * MiB), 5 * MiB, 1 * MiB));
    expect((await api(cancelled, { method: 'DELETE' })).status).toBe(204);

    const assembled = await start('direct/cancel');
    await putParts(assembled, cut(randomBytes(6 * MiB), 5 * MiB, 1 * MiB));
    const uploads = uploadsAt(registry, { now: () => Date.now() }, 86_400, {
      verifyBudget: { milliseconds: 60_000, bytes: 1 },
    });
    const step = await uploads.finishDirect('direct/cancel', assembled.split('/').pop() as string, sha256(''));
    expect(step).toMatchObject({ done: false, total: 6 * MiB });
    expect((await inventory(registry)).multiparts).toEqual(before.multiparts);
    expect((await api(assembled, { method: 'DELETE' })).status).toBe(204);
    expect(await inventory(registry)).toEqual(before);

    // Sessions of a day and a half ago: one still taking parts, one assembled and half verified.
    const past = Date.now() - 1.5 * 86_400 * 1000;
    const old = uploadsAt(registry, clockAt(past), 86_400, { verifyBudget: { milliseconds: 60_000, bytes: 1 } });
    const sessions = [await old.start('direct/expired'), await old.start('direct/expired')];
    for (const session of sessions) {
      const [url] = await old.partUrls('direct/expired', session.id, 1, 1);
      expect((await fetch(url?.url as string, { method: 'PUT', body: randomBytes(2 * MiB) })).status).toBe(200);
    }
    await old.finishDirect('direct/expired', (sessions[1] as { id: string }).id, sha256(''));
    const swept = await composeUploadSweeper(registry.config, registry.clients, clockAt(Date.now())).sweep();
    expect(swept).toMatchObject({ sessions: 2, multipartAborted: 1, failed: 0 });
    expect(await inventory(registry)).toEqual(before);
  });

  test('a request that verifies only part of the bytes answers 202 with how far it got', async () => {
    const small = await startTestRegistry({
      uploader: false,
      directVerifyBudget: { milliseconds: 60_000, bytes: 2 * MiB },
    });
    try {
      const bytes = randomBytes(5 * MiB);
      const digest = sha256(bytes);
      const res = await fetch(new URL('/v2/direct/partial/blobs/uploads/', small.url), { method: 'POST' });
      const location = new URL(res.headers.get('location') as string, small.url);
      const urls = await fetch(new URL(`${location.pathname}?parts=1-1`, small.url), { method: 'POST' });
      const [part] = ((await urls.json()) as PartUrlsBody).parts;
      expect((await fetch(part?.url as string, { method: 'PUT', body: bytes })).status).toBe(200);
      const answers: string[] = [];
      for (let i = 0; i < 5; i++) {
        const step = await fetch(new URL(`${location.pathname}?digest=${digest}`, small.url), { method: 'POST' });
        answers.push(`${step.status} ${step.headers.get(VERIFIED_HEADER) ?? ''}`.trim());
        if (step.status !== 202) break;
        expect(step.headers.get('location')).toBe(location.pathname);
      }
      expect(answers[0]).toMatch(new RegExp(`^202 \\d+/${5 * MiB}$`));
      expect(answers.at(-1)).toBe('201');
      expect(answers.length).toBeGreaterThanOrEqual(3);
    } finally {
      await small.stop();
    }
  });

  describe('one checksummed PUT (POST ?put=<size>&digest=)', () => {
    interface SinglePut {
      url: string;
      headers: Record<string, string>;
    }

    async function singlePut(location: string, size: number, digest: string): Promise<SinglePut> {
      const res = await api(`${location}?put=${size}&digest=${digest}`, { method: 'POST' });
      expect(res.status).toBe(200);
      return (await res.json()) as SinglePut;
    }

    strictTest('presignedPutChecksum', lacking)(
      'storage checks the bytes against the digest; the registry then reads nothing back',
      async () => {
        const bytes = randomBytes(7 * MiB);
        const digest = sha256(bytes);
        const location = await start('direct/single');
        const before = registry.requests.length;
        const target = await singlePut(location, bytes.length, digest);
        const u = new URL(target.url);
        expect(u.origin).toBe(testS3Endpoint());
        expect(u.pathname).toMatch(/\/blobs\/assembled\/[0-9a-f-]{36}-[0-9a-f]{8}$/);
        expect(Number(u.searchParams.get('X-Amz-Expires'))).toBe(DIRECT_UPLOAD_OPTIONS.partUrlTtlSeconds);
        // The checksum and the length are signed headers, not parameters a client could leave out.
        expect(u.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host;x-amz-checksum-sha256');
        expect(checksumParameters(target.url)).toEqual([]);
        expect(target.headers).toEqual({
          'content-length': String(bytes.length),
          'x-amz-checksum-sha256': Buffer.from(digest.slice('sha256:'.length), 'hex').toString('base64'),
        });

        // Without the checksum header, with another checksum, or with other bytes: refused, nothing kept.
        const checksum = target.headers['x-amz-checksum-sha256'] as string;
        const other = Buffer.from(bytes);
        other[0] = (other[0] as number) ^ 1;
        // A server may refuse before it reads the body and close the connection while it is being sent.
        const refusal = (init: RequestInit) =>
          fetch(target.url, { method: 'PUT', ...init }).then(
            (res) => res.status,
            (err: Error) => {
              if (/ECONNRESET|EPIPE|socket/i.test(String((err.cause as Error | undefined)?.message ?? err)))
                return 'reset';
              throw err;
            },
          );
        const refused = [
          await refusal({ body: bytes }),
          await refusal({
            body: other,
            headers: { 'x-amz-checksum-sha256': Buffer.from(sha256(other).slice(7), 'hex').toString('base64') },
          }),
          await refusal({ body: other, headers: { 'x-amz-checksum-sha256': checksum } }),
        ];
        // 403 for the request the URL was not signed for, 400 BadDigest for other bytes.
        [403, 403, 400].forEach((status, k) => expect([status, 'reset']).toContain(refused[k]));
        const early = await api(`${location}?digest=${digest}`, { method: 'POST' });
        expect(early.status).toBe(400);
        expect(await errorCode(early)).toBe('BLOB_UPLOAD_INVALID');

        // Asking again gives a URL for the same object; parts can no longer be asked for.
        const again = await singlePut(location, bytes.length, digest);
        expect(new URL(again.url).pathname).toBe(u.pathname);
        expect((await api(`${location}?parts=1-1`, { method: 'POST' })).status).toBe(400);
        expect((await api(`${location}?put=${bytes.length + 1}&digest=${digest}`, { method: 'POST' })).status).toBe(
          400,
        );

        expect(
          (await fetch(again.url, { method: 'PUT', body: bytes, headers: { 'x-amz-checksum-sha256': checksum } }))
            .status,
        ).toBe(200);
        const done = await api(`${location}?digest=${digest}`, { method: 'POST' });
        expect(done.status).toBe(201);
        expect(done.headers.get('docker-content-digest')).toBe(digest);
        const redirect = await api(`/v2/direct/single/blobs/${digest}`);
        expect(redirect.status).toBe(307);
        expect(sha256(Buffer.from(await (await fetch(redirect.headers.get('location') as string)).arrayBuffer()))).toBe(
          digest,
        );
        expect(registry.requests.slice(before).every((r) => r.method !== 'PATCH' && r.method !== 'PUT')).toBe(true);
        expect((await inventory(registry)).sessions).toEqual([]);
      },
    );

    test('a finish that names another digest, a sha512 digest or an oversized blob is refused', async () => {
      const before = await inventory(registry);
      const bytes = randomBytes(1024);
      const location = await start('direct/single-bad');
      const target = await singlePut(location, bytes.length, sha256(bytes));
      expect((await fetch(target.url, { method: 'PUT', body: bytes, headers: target.headers })).status).toBe(200);
      const wrong = await api(`${location}?digest=${sha256(randomBytes(8))}`, { method: 'POST' });
      expect(wrong.status).toBe(400);
      expect(await errorCode(wrong)).toBe('DIGEST_INVALID');
      expect((await api(location)).status).toBe(404);
      expect(await inventory(registry)).toEqual(before);

      const fresh = await start('direct/single-bad');
      const sha512 = `sha512:${'a'.repeat(128)}`;
      const refusals = [
        await api(`${fresh}?put=10&digest=${sha512}`, { method: 'POST' }),
        await api(`${fresh}?put=${5 * 1024 * MiB + 1}&digest=${sha256(bytes)}`, { method: 'POST' }),
        await api(`${fresh}?put=ten&digest=${sha256(bytes)}`, { method: 'POST' }),
      ];
      expect(await Promise.all(refusals.map(async (r) => `${r.status} ${await errorCode(r)}`))).toEqual([
        '400 DIGEST_INVALID',
        '400 SIZE_INVALID',
        '400 BLOB_UPLOAD_INVALID',
      ]);
      expect((await api(fresh, { method: 'DELETE' })).status).toBe(204);
    });

    test('an expired session frees the object its URL wrote', async () => {
      const before = await inventory(registry);
      const past = Date.now() - 1.5 * 86_400 * 1000;
      const old = uploadsAt(registry, clockAt(past), 86_400);
      const session = await old.start('direct/single-expired');
      const bytes = randomBytes(2048);
      const target = await old.singlePut('direct/single-expired', session.id, bytes.length, sha256(bytes));
      expect((await fetch(target.url, { method: 'PUT', body: bytes, headers: target.headers })).status).toBe(200);
      const swept = await composeUploadSweeper(registry.config, registry.clients, clockAt(Date.now())).sweep();
      expect(swept).toMatchObject({ sessions: 1, failed: 0 });
      expect(await inventory(registry)).toEqual(before);
    });
  });
});
