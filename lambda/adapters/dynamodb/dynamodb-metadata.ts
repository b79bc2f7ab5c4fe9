import {
  BatchGetItemCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { ConcurrentModificationError } from '../../core/errors';
import type {
  BlobIndex,
  BlobRecord,
  ManifestIndex,
  ManifestRecord,
  Page,
  UploadSession,
  UploadSessionStore,
} from '../../core/ports/metadata';
import { b, bin, ddb, K, key, n, num, s, str, type Item } from './table';

/**
 * Blob index, manifest index and upload sessions in one DynamoDB table. Every read that decides
 * what a client sees is strongly consistent, so a push is visible to the pull that follows it.
 */
export class DynamoDbMetadata implements BlobIndex, ManifestIndex, UploadSessionStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  // ---- BlobIndex

  async getLink(name: string, digest: string): Promise<BlobRecord | undefined> {
    const item = await this.getItem(K.link(name, digest));
    return item && toBlobRecord(digest, item);
  }

  async putLink(name: string, record: BlobRecord): Promise<void> {
    await this.put({ ...key(K.link(name, record.digest)), size: n(record.size), key: s(record.key) });
  }

  async deleteLink(name: string, digest: string): Promise<boolean> {
    return this.deleteItem(K.link(name, digest));
  }

  async missingLinks(name: string, digests: readonly string[]): Promise<string[]> {
    const found = await this.existing(digests.map((d) => K.link(name, d)));
    return digests.filter((d) => !found.has(K.link(name, d).sk));
  }

  async getBlob(digest: string): Promise<BlobRecord | undefined> {
    const item = await this.getItem(K.blob(digest));
    return item && toBlobRecord(digest, item);
  }

  async putBlobIfAbsent(record: BlobRecord): Promise<BlobRecord> {
    try {
      await this.put(
        { ...key(K.blob(record.digest)), size: n(record.size), key: s(record.key) },
        'attribute_not_exists(pk)',
      );
      return record;
    } catch (err) {
      if (!(err instanceof ConcurrentModificationError)) throw err;
      const existing = await this.getBlob(record.digest);
      if (!existing) throw err;
      return existing;
    }
  }

  // ---- ManifestIndex

  async getManifest(name: string, digest: string): Promise<ManifestRecord | undefined> {
    const item = await this.getItem(K.manifest(name, digest));
    return item && toManifestRecord(item);
  }

  async putManifest(name: string, record: ManifestRecord, tag?: string): Promise<void> {
    const items: Item[] = [{ ...key(K.manifest(name, record.digest)), ...manifestAttributes(record) }];
    if (tag !== undefined) items.push({ ...key(K.tag(name, tag)), digest: s(record.digest) });
    if (record.subject) {
      const { body: _body, key: _key, ...descriptor } = record;
      items.push({ ...key(K.referrer(name, record.subject, record.digest)), ...manifestAttributes(descriptor) });
    }
    items.push(key(K.catalog(name)));
    await this.transact(items.map((Item) => ({ Put: { TableName: this.table, Item } })));
  }

  async deleteManifest(name: string, digest: string): Promise<boolean> {
    const record = await this.getManifest(name, digest);
    if (!record) return false;
    const doomed = [K.manifest(name, digest)];
    if (record.subject) doomed.push(K.referrer(name, record.subject, digest));
    for (const item of await this.queryAll(`repo#${name}`, 'tag#')) {
      if (str(item, 'digest') === digest) doomed.push({ pk: `repo#${name}`, sk: str(item, 'sk') as string });
    }
    for (let i = 0; i < doomed.length; i += 100) {
      await this.transact(doomed.slice(i, i + 100).map((k) => ({ Delete: { TableName: this.table, Key: key(k) } })));
    }
    return true;
  }

  async missingManifests(name: string, digests: readonly string[]): Promise<string[]> {
    const found = await this.existing(digests.map((d) => K.manifest(name, d)));
    return digests.filter((d) => !found.has(K.manifest(name, d).sk));
  }

  async getTag(name: string, tag: string): Promise<string | undefined> {
    const item = await this.getItem(K.tag(name, tag));
    return item && str(item, 'digest');
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    return this.deleteItem(K.tag(name, tag));
  }

  async listTags(name: string, limit: number, last?: string): Promise<Page<string>> {
    return this.page(`repo#${name}`, 'tag#', limit, last);
  }

  async listReferrers(name: string, subject: string): Promise<ManifestRecord[]> {
    return (await this.queryAll(`repo#${name}`, `referrer#${subject}#`)).map(toManifestRecord);
  }

  async listRepositories(limit: number, last?: string): Promise<Page<string>> {
    return this.page('catalog', '', limit, last);
  }

  async repositoryExists(name: string): Promise<boolean> {
    const out = await ddb(() =>
      this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': s(`repo#${name}`) },
          Limit: 1,
          ProjectionExpression: 'pk',
        }),
      ),
    );
    return (out.Items?.length ?? 0) > 0;
  }

  // ---- UploadSessionStore

  async create(session: UploadSession): Promise<void> {
    await this.put(sessionItem(session), 'attribute_not_exists(pk)');
  }

  async get(id: string): Promise<UploadSession | undefined> {
    const item = await this.getItem(K.upload(id));
    return item && toSession(id, item);
  }

  async update(session: UploadSession, expectedVersion: number): Promise<void> {
    await this.put(sessionItem(session), 'version = :expected', { ':expected': n(expectedVersion) });
  }

  async delete(id: string): Promise<void> {
    await this.deleteItem(K.upload(id));
  }

  // ---- helpers

  private async getItem(k: { pk: string; sk: string }): Promise<Item | undefined> {
    const out = await ddb(() =>
      this.client.send(new GetItemCommand({ TableName: this.table, Key: key(k), ConsistentRead: true })),
    );
    return out.Item;
  }

  private async put(item: Item, condition?: string, values?: Item): Promise<void> {
    await ddb(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ...(condition ? { ConditionExpression: condition } : {}),
          ...(values ? { ExpressionAttributeValues: values } : {}),
        }),
      ),
    );
  }

  private async deleteItem(k: { pk: string; sk: string }): Promise<boolean> {
    const out = await ddb(() =>
      this.client.send(new DeleteItemCommand({ TableName: this.table, Key: key(k), ReturnValues: 'ALL_OLD' })),
    );
    return out.Attributes !== undefined;
  }

  private async transact(items: TransactWriteItem[]): Promise<void> {
    await ddb(() => this.client.send(new TransactWriteItemsCommand({ TransactItems: items })));
  }

  /** Sort keys of those `keys` that exist (BatchGetItem, 100 keys a call, retrying unprocessed keys). */
  private async existing(keys: readonly { pk: string; sk: string }[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Item[] | undefined = keys.slice(i, i + 100).map(key);
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1000)));
        const request: Item[] = pending;
        const out = await ddb(() =>
          this.client.send(
            new BatchGetItemCommand({
              RequestItems: { [this.table]: { Keys: request, ConsistentRead: true, ProjectionExpression: 'sk' } },
            }),
          ),
        );
        for (const item of out.Responses?.[this.table] ?? []) found.add(str(item, 'sk') as string);
        pending = out.UnprocessedKeys?.[this.table]?.Keys;
      }
    }
    return found;
  }

  /** Every item of a partition whose sort key starts with `prefix`. */
  private async queryAll(pk: string, prefix: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.query(pk, prefix, undefined, start);
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** A page of sort-key suffixes after `prefix`, strictly after `last`, knowing exactly whether more follow. */
  private async page(pk: string, prefix: string, limit: number, last?: string): Promise<Page<string>> {
    const items: string[] = [];
    let start: Item | undefined = last !== undefined ? { pk: s(pk), sk: s(prefix + last) } : undefined;
    while (items.length <= limit) {
      const out = await this.query(pk, prefix, limit + 1 - items.length, start);
      items.push(...(out.Items ?? []).map((item) => (str(item, 'sk') as string).slice(prefix.length)));
      start = out.LastEvaluatedKey;
      if (!start) break;
    }
    return { items: items.slice(0, limit), more: items.length > limit };
  }

  private query(pk: string, prefix: string, limit: number | undefined, start: Item | undefined) {
    return ddb(() =>
      this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
          ExpressionAttributeValues: { ':pk': s(pk), ...(prefix ? { ':prefix': s(prefix) } : {}) },
          ConsistentRead: true,
          ...(limit !== undefined ? { Limit: limit } : {}),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      ),
    );
  }
}

function toBlobRecord(digest: string, item: Item): BlobRecord {
  return { digest, size: num(item, 'size') ?? 0, key: str(item, 'key') as string };
}

function manifestAttributes(record: ManifestRecord): Item {
  const item: Item = { digest: s(record.digest), mediaType: s(record.mediaType), size: n(record.size) };
  if (record.body) item.body = b(record.body);
  if (record.key) item.key = s(record.key);
  if (record.subject) item.subject = s(record.subject);
  if (record.artifactType) item.artifactType = s(record.artifactType);
  if (record.annotations) item.annotations = s(JSON.stringify(record.annotations));
  return item;
}

function toManifestRecord(item: Item): ManifestRecord {
  const annotations = str(item, 'annotations');
  return {
    digest: str(item, 'digest') as string,
    mediaType: str(item, 'mediaType') as string,
    size: num(item, 'size') ?? 0,
    body: bin(item, 'body'),
    key: str(item, 'key'),
    subject: str(item, 'subject'),
    artifactType: str(item, 'artifactType'),
    annotations: annotations ? (JSON.parse(annotations) as Record<string, string>) : undefined,
  };
}

function sessionItem(session: UploadSession): Item {
  const item: Item = {
    ...key(K.upload(session.id)),
    name: s(session.name),
    size: n(session.size),
    version: n(session.version),
    parts: s(JSON.stringify(session.parts)),
    tail: s(JSON.stringify(session.tail)),
    createdAt: n(session.createdAt),
    ttl: n(session.expiresAt),
  };
  if (session.hashState.length > 0) item.hashState = b(session.hashState);
  if (session.nativeDigest) item.nativeDigest = s(session.nativeDigest);
  if (session.multipart) {
    item.multipartId = s(session.multipart.id);
    item.multipartKey = s(session.multipart.key);
  }
  return item;
}

function toSession(id: string, item: Item): UploadSession {
  return {
    id,
    name: str(item, 'name') as string,
    size: num(item, 'size') ?? 0,
    hashState: bin(item, 'hashState') ?? new Uint8Array(0),
    nativeDigest: str(item, 'nativeDigest'),
    version: num(item, 'version') ?? 0,
    multipart: multipartOf(item),
    parts: JSON.parse(str(item, 'parts') ?? '[]'),
    tail: JSON.parse(str(item, 'tail') ?? '[]'),
    createdAt: num(item, 'createdAt') ?? 0,
    expiresAt: num(item, 'ttl') ?? 0,
  };
}

function multipartOf(item: Item): UploadSession['multipart'] {
  const id = str(item, 'multipartId');
  const key = str(item, 'multipartKey');
  return id && key ? { id, key } : undefined;
}
