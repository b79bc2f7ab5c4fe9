import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { RegistryPolicy } from '../../core/policy';
import type { PolicyStore } from '../../core/ports/policy';
import { ddb, key, s, str } from './table';

const POLICY = { pk: 'policy', sk: 'registry' } as const;

/** The admin CLI's additions to the lifecycle policy, as one JSON item of the metadata table. */
export class DynamoDbPolicyStore implements PolicyStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  async get(): Promise<Partial<RegistryPolicy> | undefined> {
    const out = await ddb(() =>
      this.client.send(new GetItemCommand({ TableName: this.table, Key: key(POLICY), ConsistentRead: true })),
    );
    const json = out.Item && str(out.Item, 'policy');
    return json ? (JSON.parse(json) as Partial<RegistryPolicy>) : undefined;
  }

  async put(policy: Partial<RegistryPolicy>): Promise<void> {
    await ddb(() =>
      this.client.send(
        new PutItemCommand({ TableName: this.table, Item: { ...key(POLICY), policy: s(JSON.stringify(policy)) } }),
      ),
    );
  }
}
