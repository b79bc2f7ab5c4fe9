import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { TABLE_SCHEMA, UPLOAD_EXPIRY_INDEX } from '../config/table-schema';
import type { AwsClients } from './aws-clients';

/**
 * Creates the bucket and table local mode runs on, as the CDK stack defines them, unless they exist.
 * Only for local mode and tests: deployed stacks get theirs from CloudFormation.
 */
export async function provision(clients: AwsClients, bucket: string, ...tables: string[]): Promise<void> {
  await Promise.all([provisionBucket(clients, bucket), ...tables.map((t, i) => provisionTable(clients, t, i === 0))]);
  // The first table is the metadata table: it has the upload expiry index, also when it was
  // created before the index existed (a data directory kept from an earlier version).
  if (tables[0] !== undefined) await provisionExpiryIndex(clients, tables[0]);
}

/** Adds the upload sweeper's sparse index (UPLOAD_EXPIRY_INDEX) to a table that lacks it. */
async function provisionExpiryIndex({ dynamodb }: AwsClients, table: string): Promise<void> {
  const indexStatus = async () =>
    (await dynamodb.send(new DescribeTableCommand({ TableName: table }))).Table?.GlobalSecondaryIndexes?.find(
      (i) => i.IndexName === UPLOAD_EXPIRY_INDEX.name,
    )?.IndexStatus;
  if ((await indexStatus()) === undefined) {
    try {
      await dynamodb.send(
        new UpdateTableCommand({
          TableName: table,
          AttributeDefinitions: [
            { AttributeName: UPLOAD_EXPIRY_INDEX.partitionKey, AttributeType: 'S' },
            { AttributeName: UPLOAD_EXPIRY_INDEX.sortKey, AttributeType: 'N' },
          ],
          GlobalSecondaryIndexUpdates: [{ Create: expiryIndex() }],
        }),
      );
    } catch (err) {
      // Another process (a parallel test file) is adding it right now.
      if (!(err instanceof ResourceInUseException)) throw err;
    }
  }
  // Writes while the index is still being built fail (DynamoDB Local answers InternalFailure).
  for (let i = 0; i < 600 && (await indexStatus()) !== 'ACTIVE'; i++) await new Promise((r) => setTimeout(r, 100));
}

async function provisionBucket({ s3 }: AwsClients, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

async function provisionTable({ dynamodb }: AwsClients, table: string, withExpiryIndex: boolean): Promise<void> {
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: TABLE_SCHEMA.partitionKey, AttributeType: 'S' },
          { AttributeName: TABLE_SCHEMA.sortKey, AttributeType: 'S' },
          ...(withExpiryIndex
            ? [
                { AttributeName: UPLOAD_EXPIRY_INDEX.partitionKey, AttributeType: 'S' as const },
                { AttributeName: UPLOAD_EXPIRY_INDEX.sortKey, AttributeType: 'N' as const },
              ]
            : []),
        ],
        KeySchema: [
          { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
        ],
        // A new metadata table gets its index at once: nothing to build, no window of failing writes.
        ...(withExpiryIndex ? { GlobalSecondaryIndexes: [expiryIndex()] } : {}),
      }),
    );
    for (let i = 0; i < 50; i++) {
      const out = await dynamodb.send(new DescribeTableCommand({ TableName: table }));
      if (out.Table?.TableStatus === 'ACTIVE') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
}

function expiryIndex() {
  return {
    IndexName: UPLOAD_EXPIRY_INDEX.name,
    KeySchema: [
      { AttributeName: UPLOAD_EXPIRY_INDEX.partitionKey, KeyType: 'HASH' as const },
      { AttributeName: UPLOAD_EXPIRY_INDEX.sortKey, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...UPLOAD_EXPIRY_INDEX.nonKeyAttributes] },
  };
}

/** A table as the template declares it (AWS::DynamoDB::Table or GlobalTable properties). */
export interface DeclaredTable {
  readonly name: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

/**
 * Creates buckets and tables exactly as a synthesized template declares them (key schema, attribute
 * definitions, global secondary indexes with their projections), unless they exist: the local
 * stack's stand-in for CloudFormation. Only for local mode and tests.
 */
export async function provisionDeclared(
  clients: Pick<AwsClients, 's3' | 'dynamodb'>,
  buckets: readonly string[],
  tables: readonly DeclaredTable[],
): Promise<void> {
  await Promise.all([
    ...buckets.map((b) => provisionBucket(clients as AwsClients, b)),
    ...tables.map(async ({ name, properties: p }) => {
      const indexes = (p.GlobalSecondaryIndexes as Record<string, unknown>[] | undefined) ?? [];
      try {
        await clients.dynamodb.send(
          new CreateTableCommand({
            TableName: name,
            KeySchema: p.KeySchema as never,
            AttributeDefinitions: p.AttributeDefinitions as never,
            BillingMode: 'PAY_PER_REQUEST',
            ...(indexes.length > 0
              ? {
                  GlobalSecondaryIndexes: indexes.map((i) => ({
                    IndexName: i.IndexName as string,
                    KeySchema: i.KeySchema as never,
                    Projection: i.Projection as never,
                  })),
                }
              : {}),
          }),
        );
      } catch (err) {
        if (!(err instanceof ResourceInUseException)) throw err;
      }
    }),
  ]);
}
