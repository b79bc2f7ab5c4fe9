import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { MemoryBlobStore } from '../../lambda/adapters/memory/memory-blob-store';
import { S3BlobStore } from '../../lambda/adapters/s3/s3-blob-store';
import { BlobUnknownError, DigestInvalidError } from '../../lambda/core/errors';
import type { AwsClients } from '../../lambda/adapters/aws-clients';
import { checksumParameters, freshStorage, testClients } from '../support/aws';
import { endpointLacks, strictTest } from '../support/endpoint-strictness';
import { blobStoreContract, type BlobStoreSubject } from './blob-store.contract';

/** S3's refusals the run's S3 server does not make (none on the embedded servers). */
const lacking = endpointLacks();
const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

blobStoreContract('memory', () => ({ store: new MemoryBlobStore(), fetchable: false }));

let clients: AwsClients;
let s3: BlobStoreSubject;
let bucket: string;
beforeAll(async () => {
  clients = testClients();
  ({ bucket } = await freshStorage(clients));
  s3 = { store: new S3BlobStore({ client: clients.s3, bucket, presignClient: clients.presign }), fetchable: true };
});
afterAll(() => {
  clients.s3.destroy();
  clients.dynamodb.destroy();
});
blobStoreContract('s3', () => s3, lacking);

describe('s3 request framing', () => {
  /** Headers of every S3 request as signed and sent, by operation. */
  const sent: { operation: string; headers: Record<string, string> }[] = [];
  beforeAll(() => {
    clients.s3.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers: Record<string, string> };
        sent.push({ operation: String(context.commandName), headers: { ...request.headers } });
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low', name: 'captureSentHeaders' },
    );
  });

  it('leaves part and object bodies out of the signature but sends a CRC32', async () => {
    const { store } = s3;
    const part = new Uint8Array(5 * 1024 * 1024).fill(7);
    const id = await store.createMultipart('framing/multi');
    await store.uploadPart('framing/multi', id, 1, part);
    await store.abortMultipart('framing/multi', id);
    await store.put('framing/single', new Uint8Array([1, 2, 3]));
    const writes = sent.filter((s) => s.operation === 'UploadPartCommand' || s.operation === 'PutObjectCommand');
    expect(writes.map((w) => w.operation)).toEqual(['UploadPartCommand', 'PutObjectCommand']);
    for (const { headers } of writes) {
      expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(headers['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
      expect(headers.authorization).toContain('x-amz-content-sha256');
    }
    // A streamed read is hashed by whoever reads it: the SDK does not check the stored checksum too.
    for await (const chunk of store.read('framing/single')) expect(chunk.length).toBe(3);
    await store.get('framing/single');
    const reads = sent.filter((s) => s.operation === 'GetObjectCommand').map((s) => s.headers['x-amz-checksum-mode']);
    expect(reads.slice(-2)).toEqual([undefined, 'ENABLED']);
    // Other calls keep the SDK's signed payload hash.
    const create = sent.find((s) => s.operation === 'CreateMultipartUploadCommand');
    expect(create?.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('streams a whole object in one PutObject with the sha256 S3 checks, as it comes, unsigned', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 5, 9);
    const hex = createHash('sha256').update(body).digest('hex');
    const from = sent.length;
    await s3.store.putStream(
      'framing/streamed',
      (async function* () {
        yield body.subarray(0, 1024 * 1024);
        yield body.subarray(1024 * 1024);
      })(),
      body.length,
      hex,
    );
    const calls = sent.slice(from);
    expect(calls.map((c) => c.operation)).toEqual(['PutObjectCommand']);
    const headers = calls[0]!.headers;
    expect(headers['x-amz-checksum-sha256']).toBe(Buffer.from(hex, 'hex').toString('base64'));
    expect(headers['content-length']).toBe(String(body.length));
    expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    // No checksum of the SDK's own, so no aws-chunked framing either: the body goes as it arrives.
    expect(headers['x-amz-checksum-crc32']).toBeUndefined();
    expect(headers['content-encoding']).toBeUndefined();
    expect(headers['transfer-encoding']).toBeUndefined();
    expect(sha256Hex(Buffer.from(await s3.store.get('framing/streamed')))).toBe(hex);
  });

  strictTest('putCrc32', lacking)('S3 refuses object bytes that do not match the CRC32 sent with them', async () => {
    // The CRC32 is what protects an unsigned body in transit: bytes that do not match it are refused
    // and nothing is stored.
    const corrupting = testClients();
    corrupting.s3.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers: Record<string, string> };
        if (request.headers['x-amz-checksum-crc32']) request.headers['x-amz-checksum-crc32'] = 'AAAAAA==';
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'corruptChecksum' },
    );
    const corrupted = new S3BlobStore({ client: corrupting.s3, bucket });
    await expect(corrupted.put('framing/corrupt', new Uint8Array([1, 2, 3]))).rejects.toThrow(DigestInvalidError);
    await expect(s3.store.get('framing/corrupt')).rejects.toThrow(BlobUnknownError);
    corrupting.s3.destroy();
    corrupting.dynamodb.destroy();
  });

  const wrongSha256 = createHash('sha256').update('other bytes').digest('base64');

  strictTest('putSha256', lacking)('S3 refuses an object whose x-amz-checksum-sha256 does not match it', async () => {
    const Key = 'framing/sha256-object';
    const put = clients.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key, Body: Buffer.from('actual'), ChecksumSHA256: wrongSha256 }),
    );
    await expect(put).rejects.toMatchObject({ name: expect.stringMatching(/^(BadDigest|InvalidDigest)$/) });
    await expect(s3.store.get(Key)).rejects.toThrow(BlobUnknownError);
  });

  strictTest('partSha256', lacking)('S3 refuses a part whose x-amz-checksum-sha256 does not match it', async () => {
    const Key = 'framing/sha256-part';
    const { UploadId } = await clients.s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key, ChecksumAlgorithm: 'SHA256' }),
    );
    try {
      const part = { Bucket: bucket, Key, UploadId, PartNumber: 1, Body: Buffer.from('actual part') };
      await expect(
        clients.s3.send(new UploadPartCommand({ ...part, ChecksumSHA256: wrongSha256 })),
      ).rejects.toMatchObject({ name: expect.stringMatching(/^(BadDigest|InvalidDigest)$/) });
      expect((await clients.s3.send(new ListPartsCommand({ Bucket: bucket, Key, UploadId }))).Parts ?? []).toEqual([]);
      // The same part with its own checksum is kept.
      const right = createHash('sha256').update(part.Body).digest('base64');
      await clients.s3.send(new UploadPartCommand({ ...part, ChecksumSHA256: right }));
      const { Parts = [] } = await clients.s3.send(new ListPartsCommand({ Bucket: bucket, Key, UploadId }));
      expect(Parts.map((p) => p.PartNumber)).toEqual([1]);
    } finally {
      await clients.s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
    }
  });
});

describe('s3 presigned URLs', () => {
  test('carry no checksum parameter: none of the empty body they were signed without, none asked of reads', async () => {
    const { store } = s3;
    await store.put('presigned/object', new Uint8Array([1, 2, 3]));
    const id = await store.createMultipart('presigned/multi');
    try {
      const part = await store.presignUploadPart('presigned/multi', id, 1, 60);
      const get = await store.presignGet('presigned/object', 60);
      expect([checksumParameters(part), checksumParameters(get)]).toEqual([[], []]);
      // A part URL still takes its bytes, and a GET URL still serves them.
      expect((await fetch(part, { method: 'PUT', body: new Uint8Array(1024).fill(1) })).status).toBe(200);
      expect(Buffer.from(await (await fetch(get)).arrayBuffer())).toEqual(Buffer.from([1, 2, 3]));
    } finally {
      await store.abortMultipart('presigned/multi', id);
    }
  });

  test('are refused from a client that would sign checksums into them', async () => {
    // The store's main client computes checksums (it sends bodies); presigning with it is a mistake.
    const careless = new S3BlobStore({ client: clients.s3, bucket });
    await expect(careless.presignGet('presigned/object', 60)).rejects.toThrow(/WHEN_REQUIRED/);
    await expect(careless.presignUploadPart('presigned/multi', 'id', 1, 60)).rejects.toThrow(/WHEN_REQUIRED/);
  });
});
