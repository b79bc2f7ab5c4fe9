import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { StorageView } from '../uploads';

/** Everything a registry stores, as comparable strings. */
export interface Snapshot {
  /** Metadata items other than upload sessions: `pk|sk` → the item. */
  readonly items: ReadonlyMap<string, string>;
  /** Upload sessions: id → `size/version`. */
  readonly sessions: ReadonlyMap<string, string>;
  /** Bucket keys outside `uploads/` (blobs, manifests). */
  readonly objects: ReadonlySet<string>;
  /** Staged chunks under `uploads/`. */
  readonly staged: ReadonlySet<string>;
  readonly multiparts: ReadonlySet<string>;
}

const show = (v: AttributeValue): unknown =>
  v.B
    ? { B: Buffer.from(v.B).toString('base64') }
    : v.M
      ? Object.entries(v.M)
          .sort()
          .map(([k, x]) => [k, show(x)])
      : v;

/** Scans the table and lists the bucket (strongly consistent reads; both servers are local). */
export async function snapshot(view: StorageView): Promise<Snapshot> {
  const { s3, dynamodb } = view.clients;
  const { bucket: Bucket, table: TableName } = view.config;
  const items = new Map<string, string>();
  const sessions = new Map<string, string>();
  let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName, ConsistentRead: true, ExclusiveStartKey }));
    for (const item of page.Items ?? []) {
      const pk = item.pk?.S ?? '';
      if (pk.startsWith('upload#')) {
        sessions.set(pk.slice('upload#'.length), `${item.size?.N}/${item.version?.N}`);
      } else {
        // The day a manifest was last pulled changes with the pulls among the requests, not with
        // what a refused write did.
        const attrs = Object.entries(item)
          .filter(([k]) => k !== 'pulledOn')
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => [k, show(v)]);
        items.set(`${pk}|${item.sk?.S ?? ''}`, JSON.stringify(attrs));
      }
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  const objects = new Set<string>();
  const staged = new Set<string>();
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket, ContinuationToken }));
    for (const o of page.Contents ?? []) (o.Key?.startsWith('uploads/') ? staged : objects).add(o.Key as string);
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket }));
  const multiparts = new Set((uploads.Uploads ?? []).map((u) => `${u.Key}@${u.UploadId}`));
  return { items, sessions, objects, staged, multiparts };
}

/**
 * What a refused write changed, if anything. Content (blobs, manifests, tags, links, catalog) must be
 * exactly as before. Upload sessions may only go away, never appear or grow: the registry discards a
 * session whose finishing digest does not match, with its staged bytes.
 */
export function refusedWriteChanges(before: Snapshot, after: Snapshot): string[] {
  const changes: string[] = [];
  for (const [key, value] of after.items) {
    const old = before.items.get(key);
    if (old === undefined) changes.push(`item added: ${key}`);
    else if (old !== value) changes.push(`item changed: ${key}`);
  }
  for (const key of before.items.keys()) if (!after.items.has(key)) changes.push(`item removed: ${key}`);
  for (const [id, state] of after.sessions) {
    const old = before.sessions.get(id);
    if (old === undefined) changes.push(`upload session created: ${id}`);
    else if (old !== state) changes.push(`upload session changed: ${id} ${old} → ${state}`);
  }
  for (const key of after.objects) if (!before.objects.has(key)) changes.push(`object added: ${key}`);
  for (const key of before.objects) if (!after.objects.has(key)) changes.push(`object removed: ${key}`);
  for (const key of after.staged) if (!before.staged.has(key)) changes.push(`chunk staged: ${key}`);
  for (const key of after.multiparts) if (!before.multiparts.has(key)) changes.push(`multipart upload opened: ${key}`);
  return changes;
}
