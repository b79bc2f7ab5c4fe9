import { ConcurrentModificationError, UnavailableError } from '../../core/errors';
import type {
  BlobIndex,
  BlobRecord,
  CursorPage,
  ExpiredUploadSessions,
  ExpiringUpload,
  ManifestIndex,
  TaggedManifest,
  ManifestRecord,
  ManifestRefs,
  Page,
  UploadSession,
  UploadSessionStore,
} from '../../core/ports/metadata';

/** Test double of the metadata stores. Not a product. */
export class MemoryMetadata implements BlobIndex, ManifestIndex, UploadSessionStore, ExpiredUploadSessions {
  readonly links = new Map<string, BlobRecord>();
  readonly blobRecords = new Map<string, BlobRecord>();
  readonly manifestRecords = new Map<string, ManifestRecord>();
  readonly tags = new Map<string, string>();
  /** When each tag was set or last found unchanged upstream (epoch ms). */
  readonly tagChecks = new Map<string, number>();
  /** The last day each tag was pulled by (recordPull with the tag). */
  readonly tagPulls = new Map<string, string>();
  readonly repositories = new Set<string>();
  readonly uploads = new Map<string, UploadSession>();

  // BlobIndex
  async getLink(name: string, digest: string) {
    return this.links.get(`${name}@${digest}`);
  }
  async putLink(name: string, record: BlobRecord) {
    if (this.blobRecords.get(record.digest)?.key !== record.key) {
      throw new UnavailableError(`blob ${record.digest} is gone`, 1);
    }
    this.links.set(`${name}@${record.digest}`, record);
  }
  async deleteLink(name: string, digest: string) {
    return this.links.delete(`${name}@${digest}`);
  }
  async missingLinks(name: string, digests: readonly string[]) {
    return digests.filter((d) => !this.links.has(`${name}@${d}`));
  }
  async getBlob(digest: string) {
    return this.blobRecords.get(digest);
  }
  async putBlobIfAbsent(record: BlobRecord) {
    const existing = this.blobRecords.get(record.digest);
    if (existing) return existing;
    this.blobRecords.set(record.digest, record);
    return record;
  }

  // ManifestIndex
  async getManifest(name: string, digest: string) {
    return this.manifestRecords.get(`${name}@${digest}`);
  }
  async putManifest(name: string, record: ManifestRecord, tag?: string, refs?: ManifestRefs) {
    const gone = [
      ...(refs?.blobs ?? []).filter((d) => !this.links.has(`${name}@${d}`)),
      ...(refs?.manifests ?? []).filter((d) => !this.manifestRecords.has(`${name}@${d}`)),
    ];
    if (gone.length > 0) throw new ConcurrentModificationError(`references gone: ${gone.join(', ')}`);
    this.manifestRecords.set(`${name}@${record.digest}`, record);
    if (tag !== undefined) {
      this.tags.set(`${name}:${tag}`, record.digest);
      this.tagChecks.set(`${name}:${tag}`, Date.now());
      this.tagPulls.delete(`${name}:${tag}`);
    }
    this.repositories.add(name);
  }
  async deleteManifest(name: string, digest: string) {
    if (!this.manifestRecords.delete(`${name}@${digest}`)) return false;
    for (const [key, value] of this.tags) if (key.startsWith(`${name}:`) && value === digest) this.tags.delete(key);
    return true;
  }
  async recordPull(name: string, digest: string, day: string, tag?: string) {
    const tagKey = `${name}:${tag}`;
    if (tag !== undefined && this.tags.get(tagKey) === digest && !((this.tagPulls.get(tagKey) ?? '') >= day)) {
      this.tagPulls.set(tagKey, day);
    }
    const record = this.manifestRecords.get(`${name}@${digest}`);
    if (!record || (record.pulledOn !== undefined && record.pulledOn >= day)) return;
    this.manifestRecords.set(`${name}@${digest}`, { ...record, pulledOn: day });
  }
  async missingManifests(name: string, digests: readonly string[]) {
    return digests.filter((d) => !this.manifestRecords.has(`${name}@${d}`));
  }
  async getTag(name: string, tag: string) {
    return this.tags.get(`${name}:${tag}`);
  }
  async resolveTag(name: string, tag: string): Promise<TaggedManifest | undefined> {
    const digest = this.tags.get(`${name}:${tag}`);
    if (digest === undefined) return undefined;
    const record = this.manifestRecords.get(`${name}@${digest}`);
    const checkedAt = this.tagChecks.get(`${name}:${tag}`);
    const pulledOn = this.tagPulls.get(`${name}:${tag}`);
    return {
      digest,
      ...(record ? { descriptor: { digest, mediaType: record.mediaType, size: record.size } } : {}),
      ...(checkedAt !== undefined ? { checkedAt } : {}),
      ...(record?.body ? { body: record.body } : {}),
      ...(pulledOn !== undefined ? { pulledOn } : {}),
    };
  }
  async markTagChecked(name: string, tag: string, digest: string, at: number) {
    if (this.tags.get(`${name}:${tag}`) === digest) this.tagChecks.set(`${name}:${tag}`, at);
  }
  async deleteTag(name: string, tag: string) {
    this.tagPulls.delete(`${name}:${tag}`);
    return this.tags.delete(`${name}:${tag}`);
  }
  async listTags(name: string, limit: number, last?: string): Promise<Page<string>> {
    const all = [...this.tags.keys()]
      .filter((k) => k.startsWith(`${name}:`) && k.indexOf(':') === name.length)
      .map((k) => k.slice(name.length + 1));
    return page(all, limit, last);
  }
  async listReferrers(name: string, subject: string) {
    return [...this.manifestRecords.entries()]
      .filter(([key, r]) => key.startsWith(`${name}@`) && r.subject === subject)
      .map(([, r]) => r);
  }
  async listRepositories(limit: number, last?: string) {
    return page([...this.repositories], limit, last);
  }
  async repositoryExists(name: string) {
    const prefixes = [`${name}@`, `${name}:`];
    const has = (keys: Iterable<string>) => [...keys].some((k) => prefixes.some((p) => k.startsWith(p)));
    return has(this.manifestRecords.keys()) || has(this.tags.keys()) || has(this.links.keys());
  }

  // UploadSessionStore
  async create(session: UploadSession) {
    if (this.uploads.has(session.id)) throw new ConcurrentModificationError(`upload ${session.id} exists`);
    this.uploads.set(session.id, session);
  }
  async get(id: string) {
    return this.uploads.get(id);
  }
  async update(session: UploadSession, expectedVersion: number) {
    if (this.uploads.get(session.id)?.version !== expectedVersion) {
      throw new ConcurrentModificationError(`upload ${session.id} changed`);
    }
    this.uploads.set(session.id, session);
  }
  async delete(id: string) {
    this.uploads.delete(id);
  }

  // ExpiredUploadSessions: ordered by expiry then id; the cursor is the last `expiresAt/id` returned.
  async listExpired(nowSeconds: number, limit: number, cursor?: string): Promise<CursorPage<ExpiringUpload>> {
    const position = (u: { expiresAt: number; id: string }) => `${String(u.expiresAt).padStart(16, '0')}/${u.id}`;
    const all = [...this.uploads.values()]
      .filter((u) => u.expiresAt <= nowSeconds && (cursor === undefined || position(u) > cursor))
      .sort((a, b) => (position(a) < position(b) ? -1 : 1));
    const items = all
      .slice(0, limit)
      .map(({ id, version, expiresAt, createdAt }) => ({ id, version, expiresAt, createdAt }));
    const last = items[items.length - 1];
    return { items, ...(all.length > limit && last ? { cursor: position(last) } : {}) };
  }
  async deleteIfUnchanged(id: string, version: number) {
    const session = this.uploads.get(id);
    if (session?.version !== version) return undefined;
    this.uploads.delete(id);
    return session;
  }
}

function page(all: string[], limit: number, last?: string): Page<string> {
  const sorted = all.filter((v) => last === undefined || v > last).sort();
  return { items: sorted.slice(0, limit), more: sorted.length > limit };
}
