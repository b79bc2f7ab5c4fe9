import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { BuildMiddleware, MetadataBearer, MiddlewareStack, SerializeMiddleware } from '@smithy/types';
import { BlobUnknownError, BlobUploadInvalidError, DigestInvalidError } from '../../core/errors';
import type { BlobStore, MultipartListing, PartRef, PresignedPut, StoredPart } from '../../core/ports/blob-store';
import type { ObjectLister, StoredObject } from '../../core/ports/gc';
import { outageError } from '../outage';
import { GetUrlSigner } from './get-url-signer';

/** Where the store keeps its objects, and the clients it reaches S3 and signs URLs with. */
export interface S3BlobStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /**
   * Client that signs the URLs handed out (blob GETs, upload parts): `createAwsClients().presign`,
   * which may carry the endpoint clients reach S3 by and must compute no checksums
   * (`requestChecksumCalculation` and `responseChecksumValidation` `WHEN_REQUIRED`); presigning
   * refuses any other. Defaults to `client`, enough for a store that never presigns.
   */
  readonly presignClient?: S3Client;
}

/** The header of a body's SHA-256 (base64) that S3 checks the body against. */
const CHECKSUM_SHA256_HEADER = 'x-amz-checksum-sha256';
/** What a call does to its key, for the errors that mean different things for reads and writes. */
const READ = 'read';
const OTHER = 'other';
type CallKind = typeof READ | typeof OTHER;

/**
 * The blob store on S3. The only place S3 errors are seen: missing keys (and reads refused for want
 * of `s3:ListBucket`) become BlobUnknownError, checksum rejections DigestInvalidError, and what the
 * SDK's retries left of an outage (throttling, 5xx, timeouts, broken connections, a body cut off
 * while it streamed) UnavailableError.
 */
export class S3BlobStore implements BlobStore, ObjectLister {
  private readonly client: S3Client;
  private readonly presignClient: S3Client;
  private readonly bucket: string;
  private presignChecked?: Promise<void>;
  /** Signs blob GET URLs: one per store, so what it derives once serves every URL. */
  private readonly getUrls: GetUrlSigner;

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client;
    this.presignClient = options.presignClient ?? options.client;
    this.bucket = options.bucket;
    this.getUrls = new GetUrlSigner(this.presignClient, this.bucket);
  }

  async put(key: string, body: Uint8Array, sha256?: string): Promise<void> {
    await this.call(key, () =>
      this.client.send(
        unsignedPayload(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ContentType: 'application/octet-stream',
            ...(sha256 ? { ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64') } : {}),
          }),
        ),
      ),
    );
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, size: number, sha256: string): Promise<void> {
    // A body that fails or has the wrong length aborts the request: S3 keeps nothing of a PUT
    // whose body did not arrive whole.
    const abort = new AbortController();
    let failure: unknown;
    const source = Readable.from(exactly(body, size), { objectMode: false });
    source.once('error', (err) => {
      failure ??= err;
      abort.abort();
    });
    try {
      await this.call(key, () =>
        this.client.send(
          unsignedPayload(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: source,
              ContentLength: size,
              ContentType: 'application/octet-stream',
              // S3 hashes the body and refuses it unless it matches, before anything is stored. With
              // a checksum given, the SDK computes none of its own and sends the body as it comes.
              ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
            }),
          ),
          // The body takes as long as its sender does: no deadline for the whole request, only the
          // client's idle timeout (S3 itself gives up on a body that stops for about 20 s). The SDK
          // does not retry a streamed body, which cannot be sent again.
          { abortSignal: abort.signal, requestTimeout: 0 },
        ),
      );
    } catch (err) {
      throw failure ?? err;
    } finally {
      source.destroy();
    }
  }

  async get(key: string): Promise<Uint8Array> {
    return this.call(
      key,
      async () => {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        return (await out.Body?.transformToByteArray()) ?? new Uint8Array(0);
      },
      READ,
    );
  }

  async *read(key: string, start = 0): AsyncIterable<Uint8Array> {
    const out = await this.call(
      key,
      () =>
        this.client.send(
          unvalidated(
            new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(start > 0 ? { Range: `bytes=${start}-` } : {}) }),
          ),
        ),
      READ,
    );
    // The SDK retries until the headers arrive; a body cut off after that surfaces here.
    try {
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) yield chunk;
    } catch (err) {
      throw outageError(err, 'blob store') ?? err;
    }
  }

  async *listMultipartUploads(prefix: string): AsyncIterable<MultipartListing> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const out = await this.call(prefix, () =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
        ),
      );
      for (const u of out.Uploads ?? []) {
        if (u.Key && u.UploadId) {
          yield { key: u.Key, multipartId: u.UploadId, initiated: u.Initiated?.getTime() ?? 0 };
        }
      }
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      uploadIdMarker = out.IsTruncated ? out.NextUploadIdMarker : undefined;
    } while (keyMarker);
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      const out = await this.call(prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const o of out.Contents ?? []) {
        if (o.Key) yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified?.getTime() ?? 0 };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const out = await this.call(batch[0] as string, () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        ),
      );
      const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`S3 could not delete ${failed.length} object(s): ${failed[0]?.Code}`);
    }
  }

  async presignGet(key: string, expiresInSeconds: number): Promise<string> {
    await this.checkPresignClient();
    return this.getUrls.sign(key, expiresInSeconds);
  }

  async createMultipart(key: string): Promise<string> {
    const out = await this.call(key, () =>
      this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: 'application/octet-stream' }),
      ),
    );
    if (!out.UploadId) throw new Error('S3 returned no UploadId');
    return out.UploadId;
  }

  async uploadPart(key: string, multipartId: string, partNumber: number, body: Uint8Array): Promise<string> {
    const out = await this.call(key, () =>
      this.client.send(
        unsignedPayload(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: multipartId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
          }),
        ),
      ),
    );
    return requireEtag(out.ETag);
  }

  async uploadPartCopy(key: string, multipartId: string, partNumber: number, sourceKey: string): Promise<string> {
    const out = await this.call(key, () =>
      this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: multipartId,
          PartNumber: partNumber,
          CopySource: `${this.bucket}/${sourceKey.split('/').map(encodeURIComponent).join('/')}`,
        }),
      ),
    );
    return requireEtag(out.CopyPartResult?.ETag);
  }

  async completeMultipart(key: string, multipartId: string, parts: readonly PartRef[]): Promise<void> {
    await this.call(key, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: multipartId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
      ),
    );
  }

  async abortMultipart(key: string, multipartId: string): Promise<void> {
    try {
      await this.call(key, () =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: multipartId })),
      );
    } catch (err) {
      if (!(err instanceof BlobUnknownError)) throw err;
    }
  }

  async presignUploadPart(
    key: string,
    multipartId: string,
    partNumber: number,
    expiresInSeconds: number,
  ): Promise<string> {
    await this.checkPresignClient();
    return getSignedUrl(
      this.presignClient,
      new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: multipartId, PartNumber: partNumber }),
      { expiresIn: expiresInSeconds },
    );
  }

  async presignPut(key: string, size: number, sha256: string, expiresInSeconds: number): Promise<PresignedPut> {
    await this.checkPresignClient();
    const checksum = Buffer.from(sha256, 'hex').toString('base64');
    const url = await getSignedUrl(
      this.presignClient,
      new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentLength: size, ChecksumSHA256: checksum }),
      // As a signed header, not a query parameter: S3 then must be sent the checksum, and checks the
      // body against it; the length is signed too.
      { expiresIn: expiresInSeconds, unhoistableHeaders: new Set([CHECKSUM_SHA256_HEADER]) },
    );
    return { url, headers: { 'content-length': String(size), [CHECKSUM_SHA256_HEADER]: checksum } };
  }

  async checksum(key: string): Promise<{ size: number; sha256?: string } | undefined> {
    // A GET, not a HEAD: without s3:ListBucket a missing key is a 403, which only a GET's error body
    // tells apart from a bad signature. Only the headers are read; the body is dropped unread.
    let out;
    try {
      out = await this.call(
        key,
        () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' })),
        READ,
      );
    } catch (err) {
      if (err instanceof BlobUnknownError) return undefined;
      throw err;
    }
    (out.Body as Readable | undefined)?.destroy();
    // A composite checksum (of a multipart upload's parts, `<checksum>-<parts>`) is not the content's.
    const sha256 = out.ChecksumType !== 'COMPOSITE' && out.ChecksumSHA256 && !out.ChecksumSHA256.includes('-');
    return {
      size: out.ContentLength ?? 0,
      ...(sha256 ? { sha256: Buffer.from(out.ChecksumSHA256 as string, 'base64').toString('hex') } : {}),
    };
  }

  async listParts(key: string, multipartId: string): Promise<StoredPart[]> {
    const parts: StoredPart[] = [];
    let marker: string | undefined;
    do {
      const out = await this.call(key, () =>
        this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: multipartId,
            ...(marker ? { PartNumberMarker: marker } : {}),
          }),
        ),
      );
      for (const p of out.Parts ?? []) {
        parts.push({ partNumber: p.PartNumber ?? 0, etag: requireEtag(p.ETag), size: p.Size ?? 0 });
      }
      marker = out.IsTruncated ? out.NextPartNumberMarker : undefined;
    } while (marker);
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  /**
   * Refuses to presign with a client that computes checksums: it would sign the checksum of the
   * empty body it has into every PUT URL, which S3 implementations may hold the real body to, and a
   * URL that works against one server would fail against another. Checked once per store.
   */
  private checkPresignClient(): Promise<void> {
    this.presignChecked ??= (async () => {
      const { config } = this.presignClient;
      const [request, response] = await Promise.all([
        config.requestChecksumCalculation(),
        config.responseChecksumValidation(),
      ]);
      if (request !== 'WHEN_REQUIRED' || response !== 'WHEN_REQUIRED') {
        throw new Error(
          'presigning needs a client with requestChecksumCalculation and responseChecksumValidation WHEN_REQUIRED (createAwsClients().presign)',
        );
      }
    })();
    return this.presignChecked;
  }

  /** Runs one S3 call and translates its errors at this boundary. */
  private async call<T>(key: string, fn: () => Promise<T>, kind: CallKind = OTHER): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof S3ServiceException) {
        const status = err.$metadata.httpStatusCode;
        if (err.name === 'NoSuchKey' || err.name === 'NotFound' || err.name === 'NoSuchUpload') {
          throw new BlobUnknownError(`no object ${key}`);
        }
        // The functions may not list the bucket (no s3:ListBucket), and S3 then answers a read of a
        // missing key with 403 AccessDenied rather than 404, so as not to tell whether it exists.
        // The registry reads only keys it recorded, so a refused read means the object is gone (a
        // read racing a delete). Only AccessDenied: a bad signature, unknown key id or skewed clock
        // is also a 403, and must stay an error. Writes keep every 403 as an error.
        if (kind === READ && status === 403 && err.name === 'AccessDenied') {
          throw new BlobUnknownError(`no object ${key}`);
        }
        if (err.name === 'BadDigest' || err.name === 'XAmzContentChecksumMismatch' || err.name === 'InvalidDigest') {
          throw new DigestInvalidError('the blob store rejected the content: its checksum does not match the digest');
        }
        if (err.name === 'EntityTooSmall') {
          throw new BlobUploadInvalidError('a part other than the last is smaller than 5 MiB (5242880 bytes)');
        }
        if (err.name === 'InvalidPart' || err.name === 'InvalidPartOrder') {
          throw new BlobUploadInvalidError('a part changed or went missing while the upload was being finished');
        }
      }
      throw outageError(err, 'blob store') ?? err;
    }
  }
}

/**
 * Leaves the body out of the request signature. The signature would otherwise cover a SHA-256 of
 * every part and object body: a second full pass over the bytes (the registry already hashes them
 * for the digest, and the SDK adds a CRC32 checksum that S3 verifies). Integrity in transit comes
 * from that checksum and from TLS; only the body's authentication by the signature is given up,
 * which TLS provides as well.
 */
function unsignedPayload<C extends PutObjectCommand | UploadPartCommand>(command: C): C {
  const stack = command.middlewareStack as unknown as MiddlewareStack<object, MetadataBearer>;
  const middleware: BuildMiddleware<object, MetadataBearer> = (next) => async (args) => {
    const request = args.request as { headers?: Record<string, string> };
    if (request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    return next(args);
  };
  stack.add(middleware, { step: 'build', name: 'registryUnsignedPayload' });
  return command;
}

/**
 * Leaves out the SDK's check of the object's stored checksum on a streamed read. Whoever streams a
 * blob hashes every byte with SHA-256 anyway (verification, audit); the SDK's check would be a
 * second pass, in JavaScript for the CRC64NVME that whole multipart objects may carry.
 */
function unvalidated(command: GetObjectCommand): GetObjectCommand {
  const stack = command.middlewareStack as unknown as MiddlewareStack<object, MetadataBearer>;
  const middleware: SerializeMiddleware<object, MetadataBearer> = (next) => async (args) => {
    delete (args.input as { ChecksumMode?: string }).ChecksumMode;
    return next(args);
  };
  stack.addRelativeTo(middleware, {
    relation: 'after',
    toMiddleware: 'flexibleChecksumsInputMiddleware',
    name: 'registryNoResponseChecksum',
  });
  return command;
}

/** The body as it comes, failing as soon as it turns out longer or shorter than `size` bytes. */
async function* exactly(body: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Uint8Array> {
  let received = 0;
  for await (const chunk of body) {
    received += chunk.length;
    if (received > size) throw new BlobUploadInvalidError(`the body is longer than its ${size} bytes`);
    yield chunk;
  }
  if (received < size) throw new BlobUploadInvalidError(`the body ended after ${received} of its ${size} bytes`);
}

function requireEtag(etag: string | undefined): string {
  if (!etag) throw new Error('S3 returned no ETag for a part');
  return etag;
}
