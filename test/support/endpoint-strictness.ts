import { createHash, randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/**
 * Refusals S3 makes that a test may depend on, and that an S3 implementation standing in for it
 * (LocalStack, moto) may not make. The embedded servers make them all; against an external endpoint
 * global setup probes each one, and a test that depends on one the endpoint lacks is skipped with
 * the reason, instead of failing for the endpoint or passing without checking anything.
 */
export const STRICTNESSES = {
  presignedSignature: 'refuse a presigned GET URL whose signature was altered',
  presignedExpiry: 'refuse a presigned GET URL once it has expired',
  putSha256: 'refuse a PutObject body whose x-amz-checksum-sha256 does not match it',
  putCrc32: 'refuse a PutObject body whose x-amz-checksum-crc32 does not match it',
  partSha256: 'refuse an UploadPart body whose x-amz-checksum-sha256 does not match it',
  presignedPutChecksum:
    'refuse a presigned PutObject sent without the x-amz-checksum-sha256 header it was signed with, or with a body that does not match it',
} as const;

/** One refusal of S3 that tests may depend on; see `STRICTNESSES`. */
export type Strictness = keyof typeof STRICTNESSES;

/**
 * Where global setup leaves the strictnesses the run's endpoint lacks, for the test files to read.
 * `REGISTRY_ENDPOINT_NAME` (e.g. "moto 5.2.5") names the endpoint in the reasons; its URL otherwise.
 */
const ENV = 'REGISTRY_ENDPOINT_LACKS';

/**
 * Probes the endpoint `s3` reaches for each strictness, in a bucket of its own that it removes
 * again, and records in the environment (which test files inherit) the ones it lacks.
 * @returns the strictnesses the endpoint lacks.
 */
export async function probeEndpoint(s3: S3Client, presign: S3Client): Promise<Strictness[]> {
  const Bucket = `registry-probe-${randomUUID().slice(0, 8)}`;
  await s3.send(new CreateBucketCommand({ Bucket }));
  const keys: string[] = [];
  const put = async (Key: string, Body: Uint8Array, ChecksumSHA256?: string) => {
    keys.push(Key);
    await s3.send(new PutObjectCommand({ Bucket, Key, Body, ...(ChecksumSHA256 ? { ChecksumSHA256 } : {}) }));
  };
  const stored = (Key: string) =>
    s3.send(new GetObjectCommand({ Bucket, Key })).then(
      () => true,
      () => false,
    );
  const refuses = async (write: () => Promise<unknown>, Key?: string) => {
    const accepted = await write().then(
      () => true,
      () => false,
    );
    return !accepted && (Key === undefined || !(await stored(Key)));
  };
  const body = Buffer.from('probe');
  const wrongSha256 = createHash('sha256').update('not the body').digest('base64');
  try {
    await put('signed', body);
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'signed' }), { expiresIn: 1 });
    const tampered = url.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000');
    const strict: Record<Strictness, boolean> = {
      presignedSignature: (await fetch(tampered)).status === 403,
      presignedExpiry: await new Promise((r) => setTimeout(r, 2100)).then(
        async () => (await fetch(url)).status === 403,
      ),
      putSha256: await refuses(() => put('sha256', body, wrongSha256), 'sha256'),
      putCrc32: await refuses(
        () => s3.send(withWrongCrc32(new PutObjectCommand({ Bucket, Key: 'crc32', Body: body }))),
        'crc32',
      ),
      partSha256: false,
      presignedPutChecksum: false,
    };
    // Signed as the registry signs a whole blob's URL (S3BlobStore.presignPut).
    keys.push('presigned-put');
    const checksum = createHash('sha256').update(body).digest('base64');
    const putUrl = await getSignedUrl(
      presign,
      new PutObjectCommand({ Bucket, Key: 'presigned-put', ContentLength: body.length, ChecksumSHA256: checksum }),
      { expiresIn: 60, unhoistableHeaders: new Set(['x-amz-checksum-sha256']) },
    );
    const accepted = (init: RequestInit) =>
      fetch(putUrl, { method: 'PUT', ...init }).then(
        (res) => res.ok,
        () => false,
      );
    strict.presignedPutChecksum =
      !(await accepted({ body })) &&
      !(await accepted({ body: Buffer.from('PROBE'), headers: { 'x-amz-checksum-sha256': checksum } })) &&
      !(await stored('presigned-put'));
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket, Key: 'part', ChecksumAlgorithm: 'SHA256' }),
    );
    try {
      strict.partSha256 = await refuses(() =>
        s3.send(
          new UploadPartCommand({
            Bucket,
            Key: 'part',
            UploadId,
            PartNumber: 1,
            Body: body,
            ChecksumSHA256: wrongSha256,
          }),
        ),
      );
    } finally {
      await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: 'part', UploadId }));
    }
    const lacks = (Object.keys(strict) as Strictness[]).filter((s) => !strict[s]);
    process.env[ENV] = lacks.join(',');
    return lacks;
  } finally {
    await cleanUp(s3, Bucket, keys);
  }
}

/** Replaces the CRC32 the SDK computed with that of no bytes, after the SDK computed it. */
function withWrongCrc32<C extends PutObjectCommand>(command: C): C {
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers?.['x-amz-checksum-crc32']) request.headers['x-amz-checksum-crc32'] = 'AAAAAA==';
      return next(args);
    },
    { step: 'build', priority: 'low', name: 'probeWrongCrc32' },
  );
  return command;
}

async function cleanUp(s3: S3Client, Bucket: string, keys: string[]): Promise<void> {
  for (const Key of keys) await s3.send(new DeleteObjectCommand({ Bucket, Key })).catch(() => undefined);
  const { Uploads = [] } = await s3.send(new ListMultipartUploadsCommand({ Bucket })).catch(() => ({ Uploads: [] }));
  for (const { Key, UploadId } of Uploads) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
  }
  await s3.send(new DeleteBucketCommand({ Bucket })).catch(() => undefined);
}

/**
 * The strictnesses the run's endpoint lacks, with why each test depending on one is skipped: none
 * on the embedded servers (their tests always assert), those the probe found against an external one.
 */
export function endpointLacks(): ReadonlyMap<Strictness, string> {
  const found = (process.env[ENV] ?? '').split(',').filter((s): s is Strictness => s in STRICTNESSES);
  const endpoint = process.env.REGISTRY_ENDPOINT_NAME ?? process.env.AWS_ENDPOINT_URL ?? 'the endpoint';
  return new Map(found.map((s) => [s, `${endpoint} does not ${STRICTNESSES[s]}, as S3 does`]));
}

/**
 * `test`, or `test.skip` with the reason in its title when the run's endpoint lacks a strictness the
 * test depends on (the summary reporter lists skipped tests with their titles). Decided when the
 * file is collected, from what global setup probed.
 */
export function strictTest(
  needs: Strictness | readonly Strictness[],
  lacking: ReadonlyMap<Strictness, string>,
): (name: string, fn: jest.ProvidesCallback, timeout?: number) => void {
  const missing = (typeof needs === 'string' ? [needs] : needs).filter((s) => lacking.has(s));
  if (missing.length === 0) return (name, fn, timeout) => test(name, fn, timeout);
  const reason = missing.map((s) => lacking.get(s)).join('; ');
  return (name, fn, timeout) => test.skip(`${name} [skipped: ${reason}]`, fn, timeout);
}

/**
 * `test`, or `test.skip` with `why` in its title when the run uses an external endpoint
 * (REGISTRY_EXTERNAL_ENDPOINTS=1): for tests that start and stop local mode's own servers, or that
 * are sized for them.
 */
export function embeddedServersTest(why: string): (name: string, fn: jest.ProvidesCallback, timeout?: number) => void {
  if (process.env.REGISTRY_EXTERNAL_ENDPOINTS !== '1') return (name, fn, timeout) => test(name, fn, timeout);
  return (name, fn, timeout) => test.skip(`${name} [skipped: ${why}]`, fn, timeout);
}
