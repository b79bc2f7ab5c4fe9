import {
  BatchGetItemCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
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
import { UPLOAD_EXPIRY_INDEX } from '../../config/table-schema';
import { dynamoDbReads, type DynamoDbReads } from './dynamodb-reads';
import { expiryShard, sessionItem, toSession } from './session-item';
import { b, bin, ddb, eachItem, K, key, n, num, s, str, type Item } from './table';

/**
 * Blob index, manifest index and upload sessions in one DynamoDB table. Every read that decides
 * what a client sees is strongly consistent, so a push is visible to the pull that follows it.
 */
export class DynamoDbMetadata implements BlobIndex, ManifestIndex, UploadSessionStore, ExpiredUploadSessions {
  /** Reads (GetItem, Query) go the short way (dynamodb-reads.ts); writes through the SDK. */
  private readonly reads: DynamoDbReads;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    /** Epoch ms, for the timestamps garbage collection's grace period is measured against. */
    private readonly now: () => number = Date.now,
  ) {
    this.reads = dynamoDbReads(client);
  }

  // ---- BlobIndex

  async getLink(name: string, digest: string): Promise<BlobRecord | undefined> {
    const item = await this.getItem(K.link(name, digest));
    return item && toBlobRecord(digest, item);
  }

  /**
   * Links a blob into a repository and, in the same transaction, marks the blob as linked now. The
   * blob must exist and not be in garbage collection's hands, so a link never points at bytes that
   * are about to go (docs/garbage-collection.md).
   */
  async putLink(name: string, record: BlobRecord): Promise<void> {
    const now = this.now();
    try {
      await this.transact([
        {
          Update: {
            TableName: this.table,
            Key: key(K.blob(record.digest)),
            UpdateExpression: 'SET lastLinkedAt = :now',
            // Still the object the caller read: a blob collected and pushed again has a new one.
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(gcState) AND #key = :key',
            ExpressionAttributeNames: { '#key': 'key' },
            ExpressionAttributeValues: { ':now': n(now), ':key': s(record.key) },
          },
        },
        {
          Put: {
            TableName: this.table,
            Item: { ...key(K.link(name, record.digest)), size: n(record.size), key: s(record.key), linkedAt: n(now) },
          },
        },
      ]);
    } catch (err) {
      if (err instanceof ConcurrentModificationError) throw blobCollected(record.digest);
      throw err;
    }
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
    if (item && str(item, 'gcState')) throw blobCollected(digest);
    return item && toBlobRecord(digest, item);
  }

  async putBlobIfAbsent(record: BlobRecord): Promise<BlobRecord> {
    try {
      await this.put(
        {
          ...key(K.blob(record.digest)),
          size: n(record.size),
          key: s(record.key),
          // A new blob counts as just linked: garbage collection leaves it alone for its grace period.
          lastLinkedAt: n(this.now()),
        },
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

  async putManifest(name: string, record: ManifestRecord, tag?: string, refs?: ManifestRefs): Promise<void> {
    const now = this.now();
    const items: Item[] = [{ ...key(K.manifest(name, record.digest)), ...manifestAttributes(record), putAt: n(now) }];
    // The tag keeps the revision's descriptor too, so that a HEAD by tag is one read, and an inline
    // manifest's bytes, so that a GET by tag is one read too (resolveTag).
    if (tag !== undefined) {
      items.push({
        ...key(K.tag(name, tag)),
        digest: s(record.digest),
        mediaType: s(record.mediaType),
        size: n(record.size),
        updatedAt: n(now),
        ...(record.body ? { body: b(record.body) } : {}),
      });
    }
    if (record.subject) {
      const { body: _body, key: _key, ...descriptor } = record;
      items.push({ ...key(K.referrer(name, record.subject, record.digest)), ...manifestAttributes(descriptor) });
    }
    // putAt: garbage collection removes an emptied repository's entry only if no push renewed it.
    items.push({ ...key(K.catalog(name)), putAt: n(now) });
    const writes: TransactWriteItem[] = items.map((Item) => ({ Put: { TableName: this.table, Item } }));
    // Everything the manifest references is touched, on condition that it still exists: garbage
    // collection deletes only what was not touched within its grace period, so either it loses (and
    // keeps the blob) or this push loses (and says the blob is unknown). Nothing dangles.
    const touches: TransactWriteItem[] = [
      ...(refs?.blobs ?? []).map((d) => this.touch(K.link(name, d), now)),
      ...(refs?.manifests ?? []).map((d) => this.touch(K.manifest(name, d), now)),
    ];
    if (writes.length + touches.length <= 100) {
      await this.transact([...touches, ...writes]);
      return;
    }
    for (let i = 0; i < touches.length; i += 100) await this.transact(touches.slice(i, i + 100));
    await this.transact(writes);
  }

  private touch(k: { pk: string; sk: string }, now: number): TransactWriteItem {
    return {
      Update: {
        TableName: this.table,
        Key: key(k),
        UpdateExpression: 'SET refAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':now': n(now) },
      },
    };
  }

  async deleteManifest(name: string, digest: string): Promise<boolean> {
    const record = await this.getManifest(name, digest);
    if (!record) return false;
    const doomed: { pk: string; sk: string }[] = [];
    for (const item of await this.queryAll(`repo#${name}`, 'tag#', 'sk, digest')) {
      if (str(item, 'digest') === digest) doomed.push({ pk: `repo#${name}`, sk: str(item, 'sk') as string });
    }
    if (record.subject) doomed.push(K.referrer(name, record.subject, digest));
    // The revision goes in the last transaction: a tag never outlives it (resolveTag answers from the tag).
    doomed.push(K.manifest(name, digest));
    const first = doomed.length % 100 || 100;
    for (let end = first; end <= doomed.length; end += 100) {
      await this.transact(
        doomed.slice(Math.max(0, end - 100), end).map((k) => ({ Delete: { TableName: this.table, Key: key(k) } })),
      );
    }
    return true;
  }

  async recordPull(name: string, digest: string, day: string, tag?: string): Promise<void> {
    // Never recreates a deleted revision, and never moves the day back (a late write of yesterday).
    const pulled = this.updateIfStill(
      K.manifest(name, digest),
      'SET pulledOn = :day',
      'attribute_exists(pk) AND (attribute_not_exists(pulledOn) OR pulledOn < :day)',
      { ':day': s(day) },
    );
    // Nor a deleted tag, nor one moved to another revision meanwhile.
    const tagged =
      tag === undefined
        ? undefined
        : this.updateIfStill(
            K.tag(name, tag),
            'SET pulledOn = :day',
            'digest = :digest AND (attribute_not_exists(pulledOn) OR pulledOn < :day)',
            { ':day': s(day), ':digest': s(digest) },
          );
    await Promise.all([pulled, tagged]);
  }

  /** One conditional UpdateItem; a lost condition means the item moved on, and nothing is written. */
  private async updateIfStill(
    k: { pk: string; sk: string },
    update: string,
    condition: string,
    values: Record<string, AttributeValue>,
  ): Promise<void> {
    try {
      await ddb(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: key(k),
            UpdateExpression: update,
            ConditionExpression: condition,
            ExpressionAttributeValues: values,
          }),
        ),
      );
    } catch (err) {
      if (!(err instanceof ConcurrentModificationError)) throw err;
    }
  }

  async missingManifests(name: string, digests: readonly string[]): Promise<string[]> {
    const found = await this.existing(digests.map((d) => K.manifest(name, d)));
    return digests.filter((d) => !found.has(K.manifest(name, d).sk));
  }

  async getTag(name: string, tag: string): Promise<string | undefined> {
    return (await this.resolveTag(name, tag))?.digest;
  }

  async resolveTag(name: string, tag: string): Promise<TaggedManifest | undefined> {
    const item = await this.getItem(K.tag(name, tag));
    const digest = item && str(item, 'digest');
    if (!item || digest === undefined) return undefined;
    const mediaType = str(item, 'mediaType');
    const size = num(item, 'size');
    const checkedAt = Math.max(num(item, 'checkedAt') ?? 0, num(item, 'updatedAt') ?? 0);
    const body = bin(item, 'body');
    const pulledOn = str(item, 'pulledOn');
    return {
      digest,
      ...(mediaType !== undefined && size !== undefined ? { descriptor: { digest, mediaType, size } } : {}),
      ...(checkedAt > 0 ? { checkedAt } : {}),
      ...(body ? { body } : {}),
      ...(pulledOn ? { pulledOn } : {}),
    };
  }

  async markTagChecked(name: string, tag: string, digest: string, at: number): Promise<void> {
    // A tag moved or deleted meanwhile keeps its own state.
    await this.updateIfStill(K.tag(name, tag), 'SET checkedAt = :at', 'digest = :digest', {
      ':at': n(at),
      ':digest': s(digest),
    });
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
      this.reads.query({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': s(`repo#${name}`) },
        Limit: 1,
        ProjectionExpression: 'pk',
      }),
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

  // ---- ExpiredUploadSessions (the sparse index UPLOAD_EXPIRY_INDEX, one Query per shard and page)

  async listExpired(nowSeconds: number, limit: number, cursor?: string): Promise<CursorPage<ExpiringUpload>> {
    const items: ExpiringUpload[] = [];
    let { shard, start } = decodeExpiryCursor(cursor);
    while (shard < UPLOAD_EXPIRY_INDEX.shards && items.length < limit) {
      const out = await ddb(() =>
        this.reads.query({
          TableName: this.table,
          IndexName: UPLOAD_EXPIRY_INDEX.name,
          KeyConditionExpression: '#shard = :shard AND #expires <= :now',
          ExpressionAttributeNames: {
            '#shard': UPLOAD_EXPIRY_INDEX.partitionKey,
            '#expires': UPLOAD_EXPIRY_INDEX.sortKey,
          },
          ExpressionAttributeValues: { ':shard': s(expiryShard(shard)), ':now': n(Math.floor(nowSeconds)) },
          Limit: limit - items.length,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of out.Items ?? []) {
        items.push({
          id: (str(item, 'pk') as string).slice(K.upload('').pk.length),
          version: num(item, 'version') ?? 0,
          expiresAt: num(item, UPLOAD_EXPIRY_INDEX.sortKey) ?? 0,
          createdAt: num(item, 'createdAt') ?? 0,
        });
      }
      start = out.LastEvaluatedKey;
      if (!start) shard += 1;
    }
    const done = shard >= UPLOAD_EXPIRY_INDEX.shards;
    return { items, ...(done ? {} : { cursor: encodeExpiryCursor(shard, start) }) };
  }

  async deleteIfUnchanged(id: string, version: number): Promise<UploadSession | undefined> {
    try {
      const out = await ddb(() =>
        this.client.send(
          new DeleteItemCommand({
            TableName: this.table,
            Key: key(K.upload(id)),
            ConditionExpression: 'version = :version',
            ExpressionAttributeValues: { ':version': n(version) },
            ReturnValues: 'ALL_OLD',
          }),
        ),
      );
      return out.Attributes && toSession(id, out.Attributes);
    } catch (err) {
      if (err instanceof ConcurrentModificationError) return undefined;
      throw err;
    }
  }

  // ---- helpers

  private async getItem(k: { pk: string; sk: string }): Promise<Item | undefined> {
    const out = await ddb(() => this.reads.getItem({ TableName: this.table, Key: key(k), ConsistentRead: true }));
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

  /** Every item of a partition whose sort key starts with `prefix` (only `projection`'s attributes, when given). */
  private async queryAll(pk: string, prefix: string, projection?: string): Promise<Item[]> {
    const items: Item[] = [];
    const page = (start: Item | undefined) => this.queryPage(pk, prefix, undefined, start, projection);
    for await (const item of eachItem(page)) items.push(item);
    return items;
  }

  /** A page of sort-key suffixes after `prefix`, strictly after `last`, knowing exactly whether more follow. */
  private async page(pk: string, prefix: string, limit: number, last?: string): Promise<Page<string>> {
    const items: string[] = [];
    let start: Item | undefined = last !== undefined ? { pk: s(pk), sk: s(prefix + last) } : undefined;
    while (items.length <= limit) {
      // Only the sort keys are read: the items' other attributes would only be decoded and dropped.
      const out = await ddb(() => this.queryPage(pk, prefix, limit + 1 - items.length, start, 'sk'));
      items.push(...(out.Items ?? []).map((item) => (str(item, 'sk') as string).slice(prefix.length)));
      start = out.LastEvaluatedKey;
      if (!start) break;
    }
    return { items: items.slice(0, limit), more: items.length > limit };
  }

  private queryPage(
    pk: string,
    prefix: string,
    limit: number | undefined,
    start: Item | undefined,
    projection?: string,
  ) {
    return this.reads.query({
      TableName: this.table,
      KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
      ExpressionAttributeValues: { ':pk': s(pk), ...(prefix ? { ':prefix': s(prefix) } : {}) },
      ConsistentRead: true,
      ...(limit !== undefined ? { Limit: limit } : {}),
      ...(start ? { ExclusiveStartKey: start } : {}),
      ...(projection ? { ProjectionExpression: projection } : {}),
    });
  }
}

function blobCollected(digest: string): UnavailableError {
  return new UnavailableError(`blob ${digest} is being removed by garbage collection; push it again`, 1);
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
  const pulledOn = str(item, 'pulledOn');
  return {
    digest: str(item, 'digest') as string,
    mediaType: str(item, 'mediaType') as string,
    size: num(item, 'size') ?? 0,
    body: bin(item, 'body'),
    key: str(item, 'key'),
    subject: str(item, 'subject'),
    artifactType: str(item, 'artifactType'),
    annotations: annotations ? (JSON.parse(annotations) as Record<string, string>) : undefined,
    ...(pulledOn ? { pulledOn } : {}),
  };
}

/** The listing's position: the shard it is in and DynamoDB's key to continue after, as base64url JSON. */
function encodeExpiryCursor(shard: number, start: Item | undefined): string {
  return Buffer.from(JSON.stringify({ shard, start: start ?? null })).toString('base64url');
}

function decodeExpiryCursor(cursor: string | undefined): { shard: number; start?: Item } {
  if (!cursor) return { shard: 0 };
  const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as { shard: number; start: Item | null };
  return { shard: parsed.shard, ...(parsed.start ? { start: parsed.start } : {}) };
}
