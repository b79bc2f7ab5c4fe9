import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutBucketPolicyCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3BlobStore } from '../../lambda/adapters/s3/s3-blob-store';
import { BlobUnknownError } from '../../lambda/core/errors';
import { freePort, LOCAL_REGION } from '../../tools/local/emulators';
import { versitygwBinary } from '../../tools/local/tools';

// The functions may not list the bucket (no s3:ListBucket), so on AWS a read of a key that is gone
// answers 403 AccessDenied, not 404. versitygw answers a missing key 404 whatever the caller may do,
// but with its IAM on it refuses a read outside what a bucket policy grants with the same 403
// AccessDenied; that is the answer these tests read through the store. The server is started for
// this file only, with accounts of its own, whatever endpoint the rest of the run uses.

const ROOT = { accessKeyId: 'accessroot', secretAccessKey: 'accessrootsecret' };
const READER = { accessKeyId: 'accessreader', secretAccessKey: 'accessreadersecret' };
const BUCKET = 'registry-access';

let server: ChildProcess | undefined;
let dir: string;
let endpoint: string;
let reader: S3BlobStore;
const clients: S3Client[] = [];

const s3 = (credentials: { accessKeyId: string; secretAccessKey: string }) => {
  const client = new S3Client({ endpoint, region: LOCAL_REGION, forcePathStyle: true, credentials });
  clients.push(client);
  return client;
};

beforeAll(async () => {
  const versitygw = versitygwBinary();
  dir = mkdtempSync(join(tmpdir(), 'registry-access-'));
  mkdirSync(join(dir, 'data'));
  mkdirSync(join(dir, 'iam'));
  endpoint = `http://127.0.0.1:${await freePort()}`;
  server = spawn(
    versitygw,
    ['--port', endpoint.slice('http://'.length), '--iam-dir', join(dir, 'iam'), '--quiet', 'posix', join(dir, 'data')],
    {
      env: { ...process.env, ROOT_ACCESS_KEY: ROOT.accessKeyId, ROOT_SECRET_KEY: ROOT.secretAccessKey },
      stdio: 'ignore',
    },
  );
  for (let tries = 0; ; tries++) {
    if (
      await fetch(endpoint).then(
        () => true,
        () => false,
      )
    )
      break;
    if (tries > 100 || server.exitCode !== null) throw new Error('versitygw did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  execFileSync(
    versitygw,
    [
      'admin',
      '--access',
      ROOT.accessKeyId,
      '--secret',
      ROOT.secretAccessKey,
      '--endpoint-url',
      endpoint,
      'create-user',
      '--access',
      READER.accessKeyId,
      '--secret',
      READER.secretAccessKey,
      '--role',
      'user',
    ],
    { stdio: 'ignore' },
  );
  const root = s3(ROOT);
  await root.send(new CreateBucketCommand({ Bucket: BUCKET }));
  // Like the functions' grants: object reads and writes under one prefix, no s3:ListBucket.
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: [READER.accessKeyId] },
        Action: ['s3:GetObject', 's3:PutObject'],
        Resource: [`arn:aws:s3:::${BUCKET}/granted/*`],
      },
    ],
  };
  await root.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify(policy) }));
  await root.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'granted/present', Body: 'granted bytes' }));
  await root.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'refused/present', Body: 'refused bytes' }));
  reader = new S3BlobStore({ client: s3(READER), bucket: BUCKET });
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server?.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function readAll(source: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

describe('S3 store without s3:ListBucket (403 AccessDenied for what it may not read)', () => {
  test('the server refuses reads outside the grant with 403 AccessDenied, and serves those inside', async () => {
    expect(Buffer.from(await reader.get('granted/present')).toString()).toBe('granted bytes');
    const refused = await s3(READER)
      .send(new PutObjectCommand({ Bucket: BUCKET, Key: 'refused/written', Body: 'x' }))
      .catch((err: unknown) => err);
    expect(refused).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  });

  test('a whole, streamed or ranged read refused with 403 AccessDenied is an absent object', async () => {
    for (const key of ['refused/present', 'refused/missing']) {
      await expect(reader.get(key)).rejects.toBeInstanceOf(BlobUnknownError);
      await expect(readAll(reader.read(key))).rejects.toBeInstanceOf(BlobUnknownError);
      await expect(readAll(reader.read(key, 3))).rejects.toBeInstanceOf(BlobUnknownError);
    }
    expect(await readAll(reader.read('granted/present', 8))).toBe('bytes');
  });

  test('a write refused with 403 stays an error, and so does a read refused for a wrong signature', async () => {
    const write = await reader.put('refused/written', Buffer.from('x')).catch((err: unknown) => err);
    expect(write).not.toBeInstanceOf(BlobUnknownError);
    expect(write).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    const forged = new S3BlobStore({ client: s3({ ...READER, secretAccessKey: 'wrong' }), bucket: BUCKET });
    const read = await forged.get('granted/present').catch((err: unknown) => err);
    expect(read).not.toBeInstanceOf(BlobUnknownError);
    expect(read).toMatchObject({ $metadata: { httpStatusCode: 403 } });
  });
});
