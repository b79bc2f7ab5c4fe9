import {
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { ConcurrentModificationError } from '../../core/errors';
import type { BlobEntry, GcSnapshot, GcStore, ManifestEntry, RepositorySnapshot, TagEntry } from '../../core/ports/gc';
import { bin, ddb, eachItem, K, key, n, num, s, str, type Item } from './table';

/** Objects seen unreferenced, between collector runs. */
const orphanKey = (objectKey: string) => ({ pk: 'gc#orphan', sk: objectKey });

/**
 * Garbage collection's view of the metadata table: one consistent scan, then deletes that each
 * carry the condition that makes them safe against concurrent pushes.
 */
export class DynamoDbGcStore implements GcStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  async snapshot(): Promise<GcSnapshot> {
    const repositories = new Map<string, RepositorySnapshot>();
    const blobs = new Map<string, BlobEntry>();
    const orphans = new Map<string, number>();
    const catalog = new Map<string, number>();
    const repo = (name: string): RepositorySnapshot => {
      let r = repositories.get(name);
      if (!r) repositories.set(name, (r = { manifests: new Map(), tags: new Map(), links: new Map() }));
      return r;
    };
    const scan = (start: Item | undefined) =>
      this.client.send(
        new ScanCommand({
          TableName: this.table,
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
    for await (const item of eachItem(scan)) {
      const pk = str(item, 'pk') ?? '';
      const sk = str(item, 'sk') ?? '';
      if (pk.startsWith('blob#')) {
        const digest = pk.slice(5);
        const claimedAt = num(item, 'gcAt');
        blobs.set(digest, {
          digest,
          key: str(item, 'key') ?? '',
          size: num(item, 'size') ?? 0,
          lastLinkedAt: num(item, 'lastLinkedAt') ?? 0,
          ...(str(item, 'gcState') ? { claimedAt: claimedAt ?? 0 } : {}),
        });
      } else if (pk === 'catalog') {
        catalog.set(sk, num(item, 'putAt') ?? 0);
      } else if (pk === 'gc#orphan') {
        orphans.set(sk, num(item, 'firstSeen') ?? 0);
      } else if (pk.startsWith('repo#')) {
        const r = repo(pk.slice(5));
        if (sk.startsWith('manifest#')) {
          const refAt = num(item, 'refAt');
          const body = bin(item, 'body');
          const objectKey = str(item, 'key');
          const subject = str(item, 'subject');
          const pulledOn = str(item, 'pulledOn');
          r.manifests.set(sk.slice(9), {
            digest: sk.slice(9),
            mediaType: str(item, 'mediaType') ?? '',
            size: num(item, 'size') ?? 0,
            putAt: num(item, 'putAt') ?? 0,
            ...(body ? { body } : {}),
            ...(objectKey ? { key: objectKey } : {}),
            ...(subject ? { subject } : {}),
            ...(refAt !== undefined ? { refAt } : {}),
            ...(pulledOn ? { pulledOn } : {}),
          });
        } else if (sk.startsWith('tag#')) {
          r.tags.set(sk.slice(4), { digest: str(item, 'digest') ?? '', updatedAt: num(item, 'updatedAt') ?? 0 });
        } else if (sk.startsWith('link#')) {
          const refAt = num(item, 'refAt');
          r.links.set(sk.slice(5), {
            linkedAt: num(item, 'linkedAt') ?? 0,
            ...(refAt !== undefined ? { refAt } : {}),
          });
        }
      }
    }
    return { repositories, blobs, orphans, catalog };
  }

  async deleteManifest(
    name: string,
    entry: ManifestEntry,
    cutoff: number,
    tags: readonly TagEntry[] = [],
  ): Promise<boolean> {
    const items: TransactWriteItem[] = [
      {
        Delete: {
          TableName: this.table,
          Key: key(K.manifest(name, entry.digest)),
          // Put again since the snapshot (a tag set, a re-push), referenced by a recent index, or
          // pulled since the snapshot (its day recorded): keep.
          ConditionExpression:
            '(attribute_not_exists(putAt) OR putAt = :putAt) AND (attribute_not_exists(refAt) OR refAt < :cutoff) AND ' +
            (entry.pulledOn === undefined ? 'attribute_not_exists(pulledOn)' : 'pulledOn = :pulledOn'),
          ExpressionAttributeValues: {
            ':putAt': n(entry.putAt),
            ':cutoff': n(cutoff),
            ...(entry.pulledOn !== undefined ? { ':pulledOn': s(entry.pulledOn) } : {}),
          },
        },
      },
    ];
    if (entry.subject) {
      items.push({ Delete: { TableName: this.table, Key: key(K.referrer(name, entry.subject, entry.digest)) } });
    }
    // A transaction holds 100 items: tags beyond what fits go first, each on its own condition.
    const inline = tags.slice(0, 100 - items.length);
    for (const t of tags.slice(inline.length)) {
      if (!(await this.deleteTag(name, t.tag, entry.digest, t.updatedAt))) return false;
    }
    for (const t of inline) items.push({ Delete: this.tagDelete(name, t.tag, entry.digest, t.updatedAt) });
    return this.conditional(() => this.client.send(new TransactWriteItemsCommand({ TransactItems: items })));
  }

  /** A tag's delete, on condition that it still points at `digest` and was not set again. */
  private tagDelete(name: string, tag: string, digest: string, updatedAt: number) {
    return {
      TableName: this.table,
      Key: key(K.tag(name, tag)),
      ConditionExpression: 'digest = :digest AND (attribute_not_exists(updatedAt) OR updatedAt = :updatedAt)',
      ExpressionAttributeValues: { ':digest': s(digest), ':updatedAt': n(updatedAt) },
    };
  }

  async deleteTag(name: string, tag: string, digest: string, updatedAt: number): Promise<boolean> {
    return this.conditional(() =>
      this.client.send(new DeleteItemCommand(this.tagDelete(name, tag, digest, updatedAt))),
    );
  }

  async deleteLink(name: string, digest: string, cutoff: number): Promise<boolean> {
    return this.conditional(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: key(K.link(name, digest)),
          ConditionExpression:
            '(attribute_not_exists(linkedAt) OR linkedAt < :cutoff) AND (attribute_not_exists(refAt) OR refAt < :cutoff)',
          ExpressionAttributeValues: { ':cutoff': n(cutoff) },
        }),
      ),
    );
  }

  async claimBlob(digest: string, cutoff: number, now: number): Promise<boolean> {
    return this.conditional(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(K.blob(digest)),
          UpdateExpression: 'SET gcState = :deleting, gcAt = :now',
          // A claim left by a run that died is taken over once it is older than the grace period.
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(lastLinkedAt) OR lastLinkedAt < :cutoff) AND (attribute_not_exists(gcState) OR gcAt < :cutoff)',
          ExpressionAttributeValues: { ':deleting': s('deleting'), ':now': n(now), ':cutoff': n(cutoff) },
        }),
      ),
    );
  }

  async deleteBlob(digest: string): Promise<void> {
    await ddb(() => this.client.send(new DeleteItemCommand({ TableName: this.table, Key: key(K.blob(digest)) })));
  }

  async deleteCatalogEntry(name: string, putAt: number): Promise<boolean> {
    return this.conditional(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: key(K.catalog(name)),
          ConditionExpression: 'attribute_not_exists(putAt) OR putAt = :putAt',
          ExpressionAttributeValues: { ':putAt': n(putAt) },
        }),
      ),
    );
  }

  async putOrphan(objectKey: string, firstSeen: number): Promise<void> {
    await ddb(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { ...key(orphanKey(objectKey)), firstSeen: n(firstSeen) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    ).catch((err: unknown) => {
      if (!(err instanceof ConcurrentModificationError)) throw err;
    });
  }

  async deleteOrphan(objectKey: string): Promise<void> {
    await ddb(() => this.client.send(new DeleteItemCommand({ TableName: this.table, Key: key(orphanKey(objectKey)) })));
  }

  private async conditional(fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await ddb(fn);
      return true;
    } catch (err) {
      if (err instanceof ConcurrentModificationError) return false;
      throw err;
    }
  }
}
