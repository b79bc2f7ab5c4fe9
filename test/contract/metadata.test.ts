import type { AwsClients } from '../../lambda/adapters/aws-clients';
import { DynamoDbMetadata } from '../../lambda/adapters/dynamodb/dynamodb-metadata';
import { MemoryMetadata } from '../../lambda/adapters/memory/memory-metadata';
import { freshStorage, testClients } from '../support/aws';
import { metadataContract, type MetadataSubject } from './metadata.contract';

const memory = new MemoryMetadata();
metadataContract('memory', () => memory);

let clients: AwsClients;
let dynamodb: MetadataSubject;
beforeAll(async () => {
  clients = testClients();
  const { table } = await freshStorage(clients);
  dynamodb = new DynamoDbMetadata(clients.dynamodb, table);
});
afterAll(() => {
  clients.s3.destroy();
  clients.dynamodb.destroy();
});
metadataContract('dynamodb', () => dynamodb);
