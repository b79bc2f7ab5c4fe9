import { createHash, randomUUID } from 'node:crypto';
import { concatBytes } from '../../core/bytes';
import { BlobUnknownError, BlobUploadInvalidError, DigestInvalidError } from '../../core/errors';
import type { BlobStore, MultipartListing, PartRef, PresignedPut, StoredPart } from '../../core/ports/blob-store';
import type { StoredObject } from '../../core/ports/gc';

/** Test double of the blob store, with S3's multipart rules (part size, ETag check). Not a product. */
export class MemoryBlobStore implements BlobStore {
  readonly objects = new Map<string, Uint8Array>();
  readonly multiparts = new Map<
    string,
    { key: string; initiated?: number; parts: Map<number, { etag: string; body: Uint8Array }> }
  >();
  /** When each object was written (epoch ms), for listings. */
  readonly written = new Map<string, number>();
  /** The SHA-256 (hex) each object was written with and checked against, as S3 keeps it. */
  readonly checksums = new Map<string, string>();

  constructor(private readonly minPartSize = 5 * 1024 * 1024) {}

  async put(key: string, body: Uint8Array, sha256?: string): Promise<void> {
    if (sha256 && createHash('sha256').update(body).digest('hex') !== sha256) {
      throw new DigestInvalidError('checksum mismatch');
    }
    // A copy: the caller may reuse its buffer (Buffer's own slice would not copy).
    this.objects.set(key, new Uint8Array(body));
    this.written.set(key, Date.now());
    if (sha256) this.checksums.set(key, sha256);
    else this.checksums.delete(key);
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, size: number, sha256: string): Promise<void> {
    const chunks: Uint8Array[] = [];
    let received = 0;
    for await (const chunk of body) {
      received += chunk.length;
      if (received > size) throw new BlobUploadInvalidError(`the body is longer than its ${size} bytes`);
      chunks.push(chunk);
    }
    if (received < size) throw new BlobUploadInvalidError(`the body ended after ${received} of its ${size} bytes`);
    await this.put(key, concatBytes(chunks), sha256);
  }

  async get(key: string): Promise<Uint8Array> {
    const body = this.objects.get(key);
    if (!body) throw new BlobUnknownError(`no object ${key}`);
    return body;
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      this.objects.delete(key);
      this.checksums.delete(key);
    }
  }

  async presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return `memory://${key}?expires=${expiresInSeconds}`;
  }

  async createMultipart(key: string): Promise<string> {
    const id = randomUUID();
    this.multiparts.set(id, { key, initiated: Date.now(), parts: new Map() });
    return id;
  }

  async uploadPart(key: string, multipartId: string, partNumber: number, body: Uint8Array): Promise<string> {
    const mp = this.multipart(key, multipartId);
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    mp.parts.set(partNumber, { etag, body: new Uint8Array(body) });
    return etag;
  }

  async uploadPartCopy(key: string, multipartId: string, partNumber: number, sourceKey: string): Promise<string> {
    return this.uploadPart(key, multipartId, partNumber, await this.get(sourceKey));
  }

  async completeMultipart(key: string, multipartId: string, parts: readonly PartRef[]): Promise<void> {
    const mp = this.multipart(key, multipartId);
    const bodies = parts.map((ref, i) => {
      const part = mp.parts.get(ref.partNumber);
      if (!part || part.etag !== ref.etag) throw new Error(`InvalidPart ${ref.partNumber}`);
      if (i < parts.length - 1 && part.body.length < this.minPartSize) throw new Error('EntityTooSmall');
      return part.body;
    });
    this.objects.set(key, concatBytes(bodies));
    this.checksums.delete(key);
    this.multiparts.delete(multipartId);
  }

  async abortMultipart(_key: string, multipartId: string): Promise<void> {
    this.multiparts.delete(multipartId);
  }

  async presignUploadPart(key: string, multipartId: string, partNumber: number, expiresInSeconds: number) {
    return `memory://${key}?uploadId=${multipartId}&partNumber=${partNumber}&expires=${expiresInSeconds}`;
  }

  async presignPut(key: string, size: number, sha256: string, expiresInSeconds: number): Promise<PresignedPut> {
    return {
      url: `memory://${key}?size=${size}&expires=${expiresInSeconds}`,
      headers: {
        'content-length': String(size),
        'x-amz-checksum-sha256': Buffer.from(sha256, 'hex').toString('base64'),
      },
    };
  }

  async checksum(key: string): Promise<{ size: number; sha256?: string } | undefined> {
    const body = this.objects.get(key);
    if (!body) return undefined;
    const sha256 = this.checksums.get(key);
    return { size: body.length, ...(sha256 ? { sha256 } : {}) };
  }

  async listParts(key: string, multipartId: string): Promise<StoredPart[]> {
    const mp = this.multiparts.get(multipartId);
    if (!mp || mp.key !== key) throw new BlobUnknownError(`no multipart upload ${multipartId}`);
    return [...mp.parts.entries()]
      .map(([partNumber, p]) => ({ partNumber, etag: p.etag, size: p.body.length }))
      .sort((a, b) => a.partNumber - b.partNumber);
  }

  async *read(key: string, start = 0): AsyncIterable<Uint8Array> {
    yield (await this.get(key)).subarray(start);
  }

  private multipart(key: string, id: string) {
    const mp = this.multiparts.get(id);
    if (!mp || mp.key !== key) throw new Error(`NoSuchUpload ${id}`);
    return mp;
  }

  async *listMultipartUploads(prefix: string): AsyncIterable<MultipartListing> {
    for (const [multipartId, mp] of this.multiparts) {
      if (mp.key.startsWith(prefix)) yield { key: mp.key, multipartId, initiated: mp.initiated ?? 0 };
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    for (const [key, body] of [...this.objects].sort(([a], [b]) => a.localeCompare(b))) {
      if (key.startsWith(prefix)) yield { key, size: body.length, lastModified: this.written.get(key) ?? 0 };
    }
  }
}
