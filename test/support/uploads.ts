import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DynamoDbMetadata } from '../../lambda/adapters/dynamodb/dynamodb-metadata';
import { S3BlobStore } from '../../lambda/adapters/s3/s3-blob-store';
import type { Clock } from '../../lambda/core/ports/clock';
import type { BlobIndex } from '../../lambda/core/ports/metadata';
import { UploadService, type UploadServiceOptions } from '../../lambda/core/services/upload-service';
import {
  DIRECT_UPLOAD_OPTIONS,
  MAX_REREAD_SIZE,
  MIN_PART_SIZE,
  PART_CONCURRENCY,
  PART_SIZE,
} from '../../lambda/handlers/compose';
import type { LocalRegistry } from '../../tools/local/registry';

/** What the bucket and table hold of upload sessions and blobs, listed the way an operator would. */
/** What `inventory` reads: the servers' clients and the bucket and table of a registry. */
export interface StorageView {
  readonly clients: Pick<LocalRegistry['clients'], 's3' | 'dynamodb'>;
  readonly config: Pick<LocalRegistry['config'], 'bucket' | 'table'>;
}

export async function inventory(registry: StorageView) {
  const { s3, dynamodb } = registry.clients;
  const Bucket = registry.config.bucket;
  const keys = async (Prefix: string) => {
    const found: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const out = await s3.send(new ListObjectsV2Command({ Bucket, Prefix, ContinuationToken }));
      found.push(...(out.Contents ?? []).map((o) => o.Key as string));
      ContinuationToken = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return found.sort();
  };
  const multiparts = await s3.send(new ListMultipartUploadsCommand({ Bucket }));
  const items = await dynamodb.send(
    new ScanCommand({
      TableName: registry.config.table,
      FilterExpression: 'begins_with(pk, :upload)',
      ExpressionAttributeValues: { ':upload': { S: 'upload#' } },
      ConsistentRead: true,
    }),
  );
  return {
    staged: await keys('uploads/'),
    blobs: await keys('blobs/'),
    multiparts: (multiparts.Uploads ?? []).map((u) => `${u.Key}@${u.UploadId}`).sort(),
    sessions: (items.Items ?? []).map((i) => (i.pk?.S as string).slice('upload#'.length)).sort(),
  };
}

/** An UploadService on the registry's bucket and table, with its own clock (sessions of another time). */
export function uploadsAt(
  registry: LocalRegistry,
  clock: Clock,
  sessionTtlSeconds = 86_400,
  options: Partial<UploadServiceOptions> = {},
  /** Stands in for the blob index (to make one of its calls fail); the real one by default. */
  blobIndex: (real: DynamoDbMetadata) => BlobIndex = (real) => real,
): UploadService {
  const store = new S3BlobStore({
    client: registry.clients.s3,
    bucket: registry.config.bucket,
    presignClient: registry.clients.presign,
  });
  const metadata = new DynamoDbMetadata(registry.clients.dynamodb, registry.config.table);
  return new UploadService(store, blobIndex(metadata), metadata, clock, {
    minPartSize: MIN_PART_SIZE,
    partSize: PART_SIZE,
    concurrency: PART_CONCURRENCY,
    maxParts: 10_000,
    sessionTtlSeconds,
    maxRereadSize: MAX_REREAD_SIZE,
    ...DIRECT_UPLOAD_OPTIONS,
    ...options,
  });
}
