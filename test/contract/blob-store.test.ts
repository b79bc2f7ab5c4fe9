import { MemoryBlobStore } from '../../lambda/adapters/memory/memory-blob-store';
import { S3BlobStore } from '../../lambda/adapters/s3/s3-blob-store';
import type { AwsClients } from '../../lambda/adapters/aws-clients';
import { freshStorage, testClients } from '../support/aws';
import { blobStoreContract, type BlobStoreSubject } from './blob-store.contract';

blobStoreContract('memory', () => ({ store: new MemoryBlobStore(), fetchable: false }));

let clients: AwsClients;
let s3: BlobStoreSubject;
beforeAll(async () => {
  clients = testClients();
  const { bucket } = await freshStorage(clients);
  s3 = { store: new S3BlobStore({ client: clients.s3, bucket }), fetchable: true };
});
afterAll(() => {
  clients.s3.destroy();
  clients.dynamodb.destroy();
});
blobStoreContract('s3', () => s3);
