import { GetItemCommand, QueryCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { AwsClients } from '../../lambda/adapters/aws-clients';

type Item = Record<string, AttributeValue>;

/**
 * What one repository holds in the table and the bucket, read directly (not through the registry),
 * in the layout docs/storage.md gives: what a fault left behind.
 */
export interface StoredState {
  /** tag → digest */
  readonly tags: ReadonlyMap<string, string>;
  /** manifest digests, with the blobs and manifests their bodies reference */
  readonly manifests: ReadonlyMap<string, { readonly refs: readonly string[]; readonly bodyStored: boolean }>;
  /** linked blob digests → whether the blob record exists and its object is in the bucket */
  readonly links: ReadonlyMap<string, { readonly record: boolean; readonly object: boolean }>;
  readonly catalog: boolean;
  /** the repository's open upload sessions: bytes held, and whether every staged object exists */
  readonly sessions: readonly { readonly size: number; readonly staged: boolean }[];
}

/** Reads the stored state of repository `name`. */
export async function readStoredState(
  clients: AwsClients,
  bucket: string,
  table: string,
  name: string,
): Promise<StoredState> {
  const exists = (key: string) =>
    clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
      () => true,
      () => false,
    );
  const items = await all((start) =>
    clients.dynamodb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: `repo#${name}` } },
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    ),
  );
  const tags = new Map<string, string>();
  const manifests = new Map<string, { refs: string[]; bodyStored: boolean }>();
  const links = new Map<string, { record: boolean; object: boolean }>();
  for (const item of items) {
    const sk = item.sk?.S ?? '';
    if (sk.startsWith('tag#')) tags.set(sk.slice(4), item.digest?.S ?? '');
    if (sk.startsWith('manifest#')) {
      const key = item.key?.S;
      const body = item.body?.B ?? (key ? await readObject(clients, bucket, key) : undefined);
      manifests.set(sk.slice(9), { refs: body ? references(body) : [], bodyStored: body !== undefined });
    }
    if (sk.startsWith('link#')) {
      const digest = sk.slice(5);
      const blob = await clients.dynamodb.send(
        new GetItemCommand({
          TableName: table,
          Key: { pk: { S: `blob#${digest}` }, sk: { S: 'blob' } },
          ConsistentRead: true,
        }),
      );
      const key = blob.Item?.key?.S;
      links.set(digest, { record: blob.Item !== undefined, object: key !== undefined && (await exists(key)) });
    }
  }
  const catalog = await clients.dynamodb.send(
    new GetItemCommand({ TableName: table, Key: { pk: { S: 'catalog' }, sk: { S: name } }, ConsistentRead: true }),
  );
  const sessionItems = await all((start) =>
    clients.dynamodb.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: 'begins_with(pk, :upload) AND #name = :name',
        ExpressionAttributeNames: { '#name': 'name' },
        ExpressionAttributeValues: { ':upload': { S: 'upload#' }, ':name': { S: name } },
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    ),
  );
  const sessions = await Promise.all(
    sessionItems.map(async (item) => {
      const tail = JSON.parse(item.tail?.S ?? '[]') as { key: string }[];
      const staged = (await Promise.all(tail.map((t) => exists(t.key)))).every(Boolean);
      return { size: Number(item.size?.N ?? 0), staged };
    }),
  );
  return { tags, manifests, links, catalog: catalog.Item !== undefined, sessions };
}

/**
 * What a pull could trip over: a tag without its manifest, a manifest whose body or referenced
 * blobs are missing, a link without its blob record or object, manifests missing from the catalog.
 */
export function halfWritten(state: StoredState): string[] {
  const found: string[] = [];
  for (const [tag, digest] of state.tags) if (!state.manifests.has(digest)) found.push(`tag ${tag} → no manifest`);
  for (const [digest, manifest] of state.manifests) {
    if (!manifest.bodyStored) found.push(`manifest ${digest.slice(7, 19)} without its body`);
    for (const ref of manifest.refs) {
      if (!state.links.has(ref) && !state.manifests.has(ref)) found.push(`manifest → unlinked ${ref.slice(7, 19)}`);
    }
  }
  for (const [digest, link] of state.links) {
    if (!link.record) found.push(`link ${digest.slice(7, 19)} without blob record`);
    else if (!link.object) found.push(`blob ${digest.slice(7, 19)} without its object`);
  }
  if (state.manifests.size > 0 && !state.catalog) found.push('manifests but no catalog entry');
  return found;
}

/**
 * Open upload sessions that claim bytes whose staged objects are gone: no pull sees them, but the
 * client that owns one cannot finish it (a new upload works, and the sweeper frees the session).
 */
export function staleSessions(state: StoredState): number {
  return state.sessions.filter((s) => !s.staged).length;
}

/** One line for the fault table. */
export function describeState(state: StoredState): string {
  const tags = [...state.tags.keys()].join(',') || '-';
  const sessions = state.sessions.map((s) => `${s.size}${s.staged ? '' : '(stale)'}`).join(',') || '-';
  return `tags:${tags} manifests:${state.manifests.size} links:${state.links.size} sessions:${sessions}`;
}

async function all(page: (start: Item | undefined) => Promise<{ Items?: Item[]; LastEvaluatedKey?: Item }>) {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const out = await page(start);
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

async function readObject(clients: AwsClients, bucket: string, key: string): Promise<Uint8Array | undefined> {
  try {
    const out = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await out.Body?.transformToByteArray();
  } catch {
    return undefined;
  }
}

/** The digests a manifest or index body references. */
function references(body: Uint8Array): string[] {
  const parsed = JSON.parse(Buffer.from(body).toString()) as {
    config?: { digest: string };
    layers?: { digest: string }[];
    manifests?: { digest: string }[];
  };
  return [
    ...(parsed.config ? [parsed.config.digest] : []),
    ...(parsed.layers ?? []).map((l) => l.digest),
    ...(parsed.manifests ?? []).map((m) => m.digest),
  ];
}
