import {
  dynamodbAuthorizations,
  jsonServiceAuthorizations,
  s3Authorizations,
  type Arns,
} from '../../../tools/local/iam/actions';
import {
  evaluate,
  type AuthorizationRequest,
  type Decision,
  type PolicyStatement,
} from '../../../tools/local/iam/policy';

const B = 'arn:aws:s3:::reg';
const ARNS: Arns = { partition: 'aws', region: 'eu-west-1', account: '111122223333' };
const TABLE = 'arn:aws:dynamodb:eu-west-1:111122223333:table/meta';
const OTHER = 'arn:aws:dynamodb:eu-west-1:111122223333:table/accounts';

const s3 = (method: string, path: string, headers: Record<string, string> = {}, keys?: string[]) => {
  const url = new URL(path, 'http://s3.local');
  const [, bucket, ...rest] = url.pathname.split('/');
  return s3Authorizations({
    method,
    ...(bucket ? { bucket } : {}),
    ...(rest.length > 0 ? { key: decodeURIComponent(rest.join('/')) } : {}),
    query: url.searchParams,
    headers,
    ...(keys ? { keys } : {}),
  });
};
const only = (
  action: string,
  resource: string,
  context?: Record<string, string | string[]>,
): AuthorizationRequest[] => [{ action, resource, ...(context ? { context } : {}) }];

// Service Authorization Reference, "Actions, resources, and condition keys for Amazon S3", and the
// "Permissions" section of each S3 API reference page.
describe('S3 REST requests', () => {
  test.each<[string, string, string, Record<string, string>, AuthorizationRequest[]]>([
    ['GetObject', 'GET', '/reg/blobs/sha256/ab', {}, only('s3:GetObject', `${B}/blobs/sha256/ab`)],
    ['HeadObject', 'HEAD', '/reg/blobs/sha256/ab', {}, only('s3:GetObject', `${B}/blobs/sha256/ab`)],
    [
      'GetObject with response overrides and x-id',
      'GET',
      '/reg/k?x-id=GetObject&response-content-type=a',
      {},
      only('s3:GetObject', `${B}/k`),
    ],
    ['GetObject of a version', 'GET', '/reg/k?versionId=3', {}, only('s3:GetObjectVersion', `${B}/k`)],
    [
      'a presigned GetObject',
      'GET',
      '/reg/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00',
      {},
      only('s3:GetObject', `${B}/k`),
    ],
    ['a decoded key keeps its characters', 'GET', '/reg/a%20b/c%2Bd', {}, only('s3:GetObject', `${B}/a b/c+d`)],
    ['PutObject', 'PUT', '/reg/manifests/x', {}, only('s3:PutObject', `${B}/manifests/x`)],
    [
      'CopyObject: PutObject on the target, GetObject on the source',
      'PUT',
      '/reg/blobs/x',
      { 'x-amz-copy-source': '/reg/uploads/a%2Fb' },
      [
        { action: 's3:PutObject', resource: `${B}/blobs/x` },
        { action: 's3:GetObject', resource: `${B}/uploads/a/b` },
      ],
    ],
    [
      'CopyObject: a source without a leading slash, of a version, header in any case',
      'PUT',
      '/reg/blobs/x',
      { 'X-Amz-Copy-Source': 'other/k%3F1?versionId=7' },
      [
        { action: 's3:PutObject', resource: `${B}/blobs/x` },
        { action: 's3:GetObjectVersion', resource: 'arn:aws:s3:::other/k?1' },
      ],
    ],
    [
      'CreateMultipartUpload',
      'POST',
      '/reg/blobs/assembled/u?uploads',
      {},
      only('s3:PutObject', `${B}/blobs/assembled/u`),
    ],
    [
      'UploadPart',
      'PUT',
      '/reg/blobs/assembled/u?partNumber=2&uploadId=U',
      {},
      only('s3:PutObject', `${B}/blobs/assembled/u`),
    ],
    [
      'UploadPartCopy',
      'PUT',
      '/reg/blobs/assembled/u?partNumber=2&uploadId=U',
      { 'x-amz-copy-source': 'reg/uploads/s/1' },
      [
        { action: 's3:PutObject', resource: `${B}/blobs/assembled/u` },
        { action: 's3:GetObject', resource: `${B}/uploads/s/1` },
      ],
    ],
    [
      'CompleteMultipartUpload',
      'POST',
      '/reg/blobs/assembled/u?uploadId=U',
      {},
      only('s3:PutObject', `${B}/blobs/assembled/u`),
    ],
    [
      'AbortMultipartUpload',
      'DELETE',
      '/reg/blobs/assembled/u?uploadId=U',
      {},
      only('s3:AbortMultipartUpload', `${B}/blobs/assembled/u`),
    ],
    [
      'ListParts',
      'GET',
      '/reg/blobs/assembled/u?uploadId=U&max-parts=10',
      {},
      only('s3:ListMultipartUploadParts', `${B}/blobs/assembled/u`),
    ],
    ['DeleteObject', 'DELETE', '/reg/uploads/s', {}, only('s3:DeleteObject', `${B}/uploads/s`)],
    [
      'DeleteObject of a version',
      'DELETE',
      '/reg/uploads/s?versionId=1',
      {},
      only('s3:DeleteObjectVersion', `${B}/uploads/s`),
    ],
    ['GetObjectTagging', 'GET', '/reg/k?tagging', {}, only('s3:GetObjectTagging', `${B}/k`)],
    ['PutObjectTagging', 'PUT', '/reg/k?tagging', {}, only('s3:PutObjectTagging', `${B}/k`)],
    ['DeleteObjectTagging', 'DELETE', '/reg/k?tagging', {}, only('s3:DeleteObjectTagging', `${B}/k`)],
    ['GetObjectAcl', 'GET', '/reg/k?acl', {}, only('s3:GetObjectAcl', `${B}/k`)],
    ['RestoreObject', 'POST', '/reg/k?restore', {}, only('s3:RestoreObject', `${B}/k`)],
    ['ListObjectsV2 without a prefix', 'GET', '/reg?list-type=2', {}, only('s3:ListBucket', B)],
    [
      'ListObjectsV2 with prefix, delimiter and max-keys',
      'GET',
      '/reg?list-type=2&prefix=blobs%2F&delimiter=%2F&max-keys=100&continuation-token=t',
      {},
      only('s3:ListBucket', B, { 's3:prefix': 'blobs/', 's3:delimiter': '/', 's3:max-keys': '100' }),
    ],
    [
      'ListObjects (v1) with an empty prefix',
      'GET',
      '/reg?prefix=&marker=m',
      {},
      only('s3:ListBucket', B, { 's3:prefix': '' }),
    ],
    ['HeadBucket', 'HEAD', '/reg', {}, only('s3:ListBucket', B)],
    ['ListMultipartUploads', 'GET', '/reg?uploads&prefix=blobs/', {}, only('s3:ListBucketMultipartUploads', B)],
    ['ListObjectVersions', 'GET', '/reg?versions&prefix=a', {}, only('s3:ListBucketVersions', B, { 's3:prefix': 'a' })],
    ['CreateBucket', 'PUT', '/reg', {}, only('s3:CreateBucket', B)],
    ['DeleteBucket', 'DELETE', '/reg', {}, only('s3:DeleteBucket', B)],
    ['ListBuckets', 'GET', '/', {}, only('s3:ListAllMyBuckets', '*')],
    ['GetBucketLifecycleConfiguration', 'GET', '/reg?lifecycle', {}, only('s3:GetLifecycleConfiguration', B)],
    ['PutBucketLifecycleConfiguration', 'PUT', '/reg?lifecycle', {}, only('s3:PutLifecycleConfiguration', B)],
    [
      'DeleteBucketLifecycle needs the Put action',
      'DELETE',
      '/reg?lifecycle',
      {},
      only('s3:PutLifecycleConfiguration', B),
    ],
    ['GetBucketPolicy', 'GET', '/reg?policy', {}, only('s3:GetBucketPolicy', B)],
    ['PutBucketPolicy', 'PUT', '/reg?policy', {}, only('s3:PutBucketPolicy', B)],
    ['DeleteBucketPolicy', 'DELETE', '/reg?policy', {}, only('s3:DeleteBucketPolicy', B)],
    ['GetBucketCors', 'GET', '/reg?cors', {}, only('s3:GetBucketCORS', B)],
    ['PutBucketCors', 'PUT', '/reg?cors', {}, only('s3:PutBucketCORS', B)],
    ['DeleteBucketCors needs the Put action', 'DELETE', '/reg?cors', {}, only('s3:PutBucketCORS', B)],
    ['PutBucketEncryption', 'PUT', '/reg?encryption', {}, only('s3:PutEncryptionConfiguration', B)],
    ['PutPublicAccessBlock', 'PUT', '/reg?publicAccessBlock', {}, only('s3:PutBucketPublicAccessBlock', B)],
    ['GetBucketLocation', 'GET', '/reg?location', {}, only('s3:GetBucketLocation', B)],
    ['PutBucketVersioning', 'PUT', '/reg?versioning', {}, only('s3:PutBucketVersioning', B)],
    ['PutBucketLogging', 'PUT', '/reg?logging', {}, only('s3:PutBucketLogging', B)],
    ['DeleteBucketTagging needs the Put action', 'DELETE', '/reg?tagging', {}, only('s3:PutBucketTagging', B)],
    ['PutBucketOwnershipControls', 'PUT', '/reg?ownershipControls', {}, only('s3:PutBucketOwnershipControls', B)],
  ])('%s', (_name, method, path, headers, expected) => expect(s3(method, path, headers)).toEqual(expected));

  test('DeleteObjects is s3:DeleteObject on every key its body names', () => {
    expect(s3('POST', '/reg?delete', {}, ['uploads/a', 'blobs/assembled/b'])).toEqual([
      { action: 's3:DeleteObject', resource: `${B}/uploads/a` },
      { action: 's3:DeleteObject', resource: `${B}/blobs/assembled/b` },
    ]);
    expect(() => s3('POST', '/reg?delete')).toThrow(/per key/);
  });

  test('another partition', () => {
    const query = new URLSearchParams();
    expect(s3Authorizations({ method: 'GET', bucket: 'b', key: 'k', query, headers: {}, partition: 'aws-cn' })).toEqual(
      only('s3:GetObject', 'arn:aws-cn:s3:::b/k'),
    );
  });

  test.each<[string, string, Record<string, string>, RegExp]>([
    [
      'an unknown bucket sub-resource',
      '/reg?intelligent-tiering',
      {},
      /no IAM mapping for S3 GET bucket \?intelligent-tiering/,
    ],
    ['an unknown object sub-resource', '/reg/k?torrent', {}, /\?torrent/],
    ['two sub-resources', '/reg?acl&policy', {}, /several sub-resources/],
    ['a parameter in the wrong case, which S3 would not read either', '/reg/k?uploadid=U', {}, /\?uploadid/],
    ['a copy source that is no bucket/key', '/reg/k', { 'x-amz-copy-source': 'reg' }, /not a bucket\/key/],
    [
      'an access point copy source',
      '/reg/k',
      { 'x-amz-copy-source': 'arn:aws:s3:us-east-1:1:accesspoint/a/object/k' },
      /not a bucket\/key/,
    ],
  ])('throws on %s', (_name, path, headers, error) => {
    const method = Object.keys(headers).length > 0 ? 'PUT' : 'GET';
    expect(() => s3(method, path, headers)).toThrow(error);
  });

  test.each([
    ['POST', '/reg/k'],
    ['PUT', '/reg?location'],
    ['POST', '/reg'],
    ['DELETE', '/'],
    ['PATCH', '/reg/k'],
  ])('throws on %s %s', (method, path) => expect(() => s3(method, path)).toThrow(/no IAM mapping/));
});

// Service Authorization Reference, "Actions, resources, and condition keys for Amazon DynamoDB", and
// the DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained access control".
describe('DynamoDB requests', () => {
  const pkOf = (table: string) => ({ meta: 'pk', accounts: 'user' })[table];
  const ddb = (op: string, body: Record<string, unknown>) =>
    dynamodbAuthorizations(`DynamoDB_20120810.${op}`, body, ARNS, pkOf);
  const lead = (...keys: string[]) => ({ 'dynamodb:LeadingKeys': keys });
  const key = { pk: { S: 'health' }, sk: { S: 'check' } };

  test.each<[string, string, Record<string, unknown>, AuthorizationRequest[]]>([
    ['GetItem', 'GetItem', { TableName: 'meta', Key: key }, only('dynamodb:GetItem', TABLE, lead('health'))],
    [
      'GetItem by table ARN',
      'GetItem',
      { TableName: TABLE, Key: key, ReturnConsumedCapacity: 'TOTAL' },
      only('dynamodb:GetItem', TABLE, { ...lead('health'), 'dynamodb:ReturnConsumedCapacity': 'TOTAL' }),
    ],
    [
      'PutItem',
      'PutItem',
      { TableName: 'meta', Item: { ...key, n: { N: '1' } } },
      only('dynamodb:PutItem', TABLE, lead('health')),
    ],
    [
      'UpdateItem with ReturnValues',
      'UpdateItem',
      { TableName: 'meta', Key: key, ReturnValues: 'ALL_NEW' },
      only('dynamodb:UpdateItem', TABLE, { ...lead('health'), 'dynamodb:ReturnValues': 'ALL_NEW' }),
    ],
    ['DeleteItem', 'DeleteItem', { TableName: 'meta', Key: key }, only('dynamodb:DeleteItem', TABLE, lead('health'))],
    [
      'a numeric partition key',
      'GetItem',
      { TableName: 'accounts', Key: { user: { N: '42' } } },
      only('dynamodb:GetItem', OTHER, lead('42')),
    ],
    [
      'a binary partition key',
      'GetItem',
      { TableName: 'accounts', Key: { user: { B: 'AAE=' } } },
      only('dynamodb:GetItem', OTHER, lead('AAE=')),
    ],
    [
      'a table whose partition key is unknown',
      'GetItem',
      { TableName: 'x', Key: key },
      only('dynamodb:GetItem', TABLE.replace('meta', 'x')),
    ],
    [
      'a key without its partition key attribute',
      'GetItem',
      { TableName: 'meta', Key: { sk: { S: 'a' } } },
      only('dynamodb:GetItem', TABLE),
    ],
    [
      'Query on the partition key',
      'Query',
      {
        TableName: 'meta',
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': { S: 'repo#a' }, ':prefix': { S: 'tag#' } },
      },
      only('dynamodb:Query', TABLE, lead('repo#a')),
    ],
    [
      'Query with a name placeholder, value first',
      'Query',
      {
        TableName: 'meta',
        KeyConditionExpression: ':v=#p AND sk <= :s',
        ExpressionAttributeNames: { '#p': 'pk' },
        ExpressionAttributeValues: { ':v': { S: 'x' }, ':s': { S: 'y' } },
      },
      only('dynamodb:Query', TABLE, lead('x')),
    ],
    [
      'Query through the legacy KeyConditions',
      'Query',
      { TableName: 'meta', KeyConditions: { pk: { ComparisonOperator: 'EQ', AttributeValueList: [{ S: 'z' }] } } },
      only('dynamodb:Query', TABLE, lead('z')),
    ],
    [
      'Query whose sort key condition alone is an equality',
      'Query',
      { TableName: 'meta', KeyConditionExpression: 'sk = :s', ExpressionAttributeValues: { ':s': { S: 'y' } } },
      only('dynamodb:Query', TABLE),
    ],
    [
      'Query on an index, with Select',
      'Query',
      {
        TableName: 'meta',
        IndexName: 'uploads-by-expiry',
        KeyConditionExpression: '#shard = :shard AND #expires <= :now',
        ExpressionAttributeNames: { '#shard': 'expiryShard', '#expires': 'expiresAt' },
        ExpressionAttributeValues: { ':shard': { S: 'a' }, ':now': { N: '1' } },
        Select: 'ALL_PROJECTED_ATTRIBUTES',
      },
      only('dynamodb:Query', `${TABLE}/index/uploads-by-expiry`, { 'dynamodb:Select': 'ALL_PROJECTED_ATTRIBUTES' }),
    ],
    ['Scan', 'Scan', { TableName: 'meta' }, only('dynamodb:Scan', TABLE)],
    ['Scan on an index', 'Scan', { TableName: 'meta', IndexName: 'i' }, only('dynamodb:Scan', `${TABLE}/index/i`)],
    ['DescribeTable', 'DescribeTable', { TableName: 'meta' }, only('dynamodb:DescribeTable', TABLE)],
    ['CreateTable', 'CreateTable', { TableName: 'meta', KeySchema: [] }, only('dynamodb:CreateTable', TABLE)],
    ['UpdateTable', 'UpdateTable', { TableName: 'meta' }, only('dynamodb:UpdateTable', TABLE)],
    ['UpdateTimeToLive', 'UpdateTimeToLive', { TableName: 'meta' }, only('dynamodb:UpdateTimeToLive', TABLE)],
    ['DescribeTimeToLive', 'DescribeTimeToLive', { TableName: 'meta' }, only('dynamodb:DescribeTimeToLive', TABLE)],
    ['ListTables', 'ListTables', {}, only('dynamodb:ListTables', '*')],
    [
      'BatchGetItem: one request per table with its keys',
      'BatchGetItem',
      {
        RequestItems: {
          meta: {
            Keys: [
              { pk: { S: 'a' }, sk: { S: '1' } },
              { pk: { S: 'b' }, sk: { S: '1' } },
              { pk: { S: 'a' }, sk: { S: '2' } },
            ],
          },
          accounts: { Keys: [{ user: { S: 'u' } }] },
        },
      },
      [...only('dynamodb:BatchGetItem', TABLE, lead('a', 'b')), ...only('dynamodb:BatchGetItem', OTHER, lead('u'))],
    ],
    [
      'BatchWriteItem: puts and deletes of a table together',
      'BatchWriteItem',
      {
        RequestItems: {
          meta: [{ PutRequest: { Item: { pk: { S: 'a' } } } }, { DeleteRequest: { Key: { pk: { S: 'c' } } } }],
        },
      },
      only('dynamodb:BatchWriteItem', TABLE, lead('a', 'c')),
    ],
    [
      'TransactWriteItems over two tables: each item its own action',
      'TransactWriteItems',
      {
        TransactItems: [
          { Put: { TableName: 'meta', Item: { pk: { S: 'link' } } } },
          { Update: { TableName: 'meta', Key: { pk: { S: 'blob' } }, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
          { Delete: { TableName: 'accounts', Key: { user: { S: 'u' } } } },
          { ConditionCheck: { TableName: 'accounts', Key: { user: { S: 'v' } } } },
        ],
      },
      [
        ...only('dynamodb:PutItem', TABLE, lead('link')),
        ...only('dynamodb:UpdateItem', TABLE, lead('blob')),
        ...only('dynamodb:DeleteItem', OTHER, lead('u')),
        ...only('dynamodb:ConditionCheckItem', OTHER, lead('v')),
      ],
    ],
    [
      'TransactGetItems: GetItem per item',
      'TransactGetItems',
      {
        TransactItems: [
          { Get: { TableName: 'meta', Key: { pk: { S: 'a' } } } },
          { Get: { TableName: 'accounts', Key: { user: { S: 'b' } } } },
        ],
      },
      [...only('dynamodb:GetItem', TABLE, lead('a')), ...only('dynamodb:GetItem', OTHER, lead('b'))],
    ],
  ])('%s', (_name, op, body, expected) => expect(ddb(op, body)).toEqual(expected));

  test.each<[string, string, string, Record<string, unknown>, RegExp]>([
    [
      'an operation it does not map',
      'DynamoDB_20120810',
      'ExecuteStatement',
      { Statement: 'SELECT' },
      /no IAM mapping for DynamoDB ExecuteStatement/,
    ],
    ['another service', 'DynamoDBStreams_20120810', 'GetRecords', {}, /not a DynamoDB_20120810 target/],
    ['no TableName', 'DynamoDB_20120810', 'GetItem', { Key: key }, /no TableName/],
    [
      'a transact item of no known kind',
      'DynamoDB_20120810',
      'TransactWriteItems',
      { TransactItems: [{ Get: { TableName: 'meta' } }] },
      /no known kind/,
    ],
    ['a batch without RequestItems', 'DynamoDB_20120810', 'BatchGetItem', {}, /no RequestItems/],
  ])('throws on %s', (_name, prefix, op, body, error) =>
    expect(() => dynamodbAuthorizations(`${prefix}.${op}`, body, ARNS, pkOf)).toThrow(error),
  );
});

// Service Authorization Reference for AWS KMS and Amazon EventBridge; AWS KMS
// Developer Guide, "Use aliases to control access to KMS keys" and "Controlling access to aliases".
describe('JSON-protocol services', () => {
  const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const ALIAS = 'arn:aws:kms:eu-west-1:111122223333:alias/registry/token-signing-1';
  const BUS = 'arn:aws:events:eu-west-1:111122223333:event-bus';
  const json = (target: string, body: Record<string, unknown>) =>
    jsonServiceAuthorizations(target, body, ARNS, { kmsKeyArnOfAlias: (a) => (a === ALIAS ? KEY : undefined) });

  test.each<[string, string, Record<string, unknown>, AuthorizationRequest[]]>([
    [
      'Sign by key ARN, with the algorithm and message type',
      'TrentService.Sign',
      { KeyId: KEY, Message: 'AA==', MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' },
      only('kms:Sign', KEY, { 'kms:MessageType': 'RAW', 'kms:SigningAlgorithm': 'ECDSA_SHA_256' }),
    ],
    [
      'GetPublicKey by key id',
      'TrentService.GetPublicKey',
      { KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' },
      only('kms:GetPublicKey', KEY),
    ],
    [
      'a key named by alias is authorized on the key, with kms:RequestAlias',
      'TrentService.GetPublicKey',
      { KeyId: 'alias/registry/token-signing-1' },
      only('kms:GetPublicKey', KEY, { 'kms:RequestAlias': 'alias/registry/token-signing-1' }),
    ],
    [
      '…and by alias ARN',
      'TrentService.DescribeKey',
      { KeyId: ALIAS },
      only('kms:DescribeKey', KEY, { 'kms:RequestAlias': 'alias/registry/token-signing-1' }),
    ],
    [
      'Encrypt with an encryption context',
      'TrentService.Encrypt',
      { KeyId: KEY, EncryptionContext: { repo: 'a/b' }, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' },
      only('kms:Encrypt', KEY, {
        'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT',
        'kms:EncryptionContextKeys': ['repo'],
        'kms:EncryptionContext:repo': 'a/b',
      }),
    ],
    [
      'ReEncrypt: ReEncryptFrom on the source, ReEncryptTo on the destination',
      'TrentService.ReEncrypt',
      { SourceKeyId: KEY, DestinationKeyId: 'k2' },
      [
        { action: 'kms:ReEncryptFrom', resource: KEY },
        { action: 'kms:ReEncryptTo', resource: 'arn:aws:kms:eu-west-1:111122223333:key/k2' },
      ],
    ],
    [
      'ReEncrypt from an alias: kms:RequestAlias only on the request for that key',
      'TrentService.ReEncrypt',
      { SourceKeyId: 'alias/registry/token-signing-1', DestinationKeyId: KEY },
      [
        ...only('kms:ReEncryptFrom', KEY, { 'kms:RequestAlias': 'alias/registry/token-signing-1' }),
        ...only('kms:ReEncryptTo', KEY),
      ],
    ],
    [
      'CreateKey',
      'TrentService.CreateKey',
      { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' },
      only('kms:CreateKey', '*', { 'kms:KeySpec': 'ECC_NIST_P256', 'kms:KeyUsage': 'SIGN_VERIFY' }),
    ],
    ['ListKeys', 'TrentService.ListKeys', {}, only('kms:ListKeys', '*')],
    [
      'CreateAlias: on the alias and on the key',
      'TrentService.CreateAlias',
      { AliasName: 'alias/new', TargetKeyId: KEY },
      [
        { action: 'kms:CreateAlias', resource: 'arn:aws:kms:eu-west-1:111122223333:alias/new' },
        { action: 'kms:CreateAlias', resource: KEY },
      ],
    ],
    [
      'DeleteAlias: on the alias and on the key it names',
      'TrentService.DeleteAlias',
      { AliasName: 'alias/registry/token-signing-1' },
      [
        { action: 'kms:DeleteAlias', resource: ALIAS },
        { action: 'kms:DeleteAlias', resource: KEY },
      ],
    ],
    [
      'PutEvents: one request per entry, on its bus, with source and detail-type',
      'AWSEvents.PutEvents',
      {
        Entries: [
          { Source: 'registry', DetailType: 'push', Detail: '{}' },
          { EventBusName: 'custom', Source: 'registry', DetailType: 'delete', Detail: '{}' },
          { EventBusName: `${BUS}/other`, Source: 'x', Detail: '{}' },
        ],
      },
      [
        ...only('events:PutEvents', `${BUS}/default`, { 'events:source': 'registry', 'events:detail-type': 'push' }),
        ...only('events:PutEvents', `${BUS}/custom`, { 'events:source': 'registry', 'events:detail-type': 'delete' }),
        ...only('events:PutEvents', `${BUS}/other`, { 'events:source': 'x' }),
      ],
    ],
  ])('%s', (_name, target, body, expected) => expect(json(target, body)).toEqual(expected));

  test.each<[string, string, Record<string, unknown>, RegExp]>([
    [
      'an alias the resolver does not know',
      'TrentService.Sign',
      { KeyId: 'alias/unknown' },
      /key alias alias\/unknown names/,
    ],
    ['a KMS call without KeyId', 'TrentService.Decrypt', { CiphertextBlob: 'AA==' }, /no KeyId/],
    [
      'an EventBridge operation it does not map',
      'AWSEvents.PutRule',
      { Name: 'r' },
      /no IAM mapping for EventBridge PutRule/,
    ],
    ['an unknown service', 'AWSStepFunctions.StartExecution', {}, /no IAM mapping/],
    // Nothing of the stack calls SSM since the maintenance mode moved into the metadata table.
    ['SSM, which nothing calls', 'AmazonSSM.GetParameter', { Name: '/registry/mode' }, /no IAM mapping for "AmazonSSM/],
  ])('throws on %s', (_name, target, body, error) => expect(() => json(target, body)).toThrow(error));

  test('without a resolver, an alias cannot be judged', () => {
    expect(() => jsonServiceAuthorizations('TrentService.Sign', { KeyId: ALIAS }, ARNS)).toThrow(/not known here/);
  });
});

// The stack's conditional grants (lib/constructs: storage, garbage-collection, access-control,
// events), judged through both modules as local mode judges them.
describe('mapped requests under the conditional grants of the stack', () => {
  const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/k1';
  const BUS = 'arn:aws:events:eu-west-1:111122223333:event-bus/default';
  const statements: PolicyStatement[] = [
    {
      Effect: 'Allow',
      Action: 'dynamodb:GetItem',
      Resource: TABLE,
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['health'] } },
    },
    {
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: B,
      Condition: { StringLike: { 's3:prefix': ['blobs/*', 'manifests/*'] } },
    },
    {
      Effect: 'Allow',
      Action: 'kms:Sign',
      Resource: KEY,
      Condition: { StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' } },
    },
    {
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: BUS,
      Condition: { StringEquals: { 'events:source': 'registry' } },
    },
  ];
  const decide = (requests: AuthorizationRequest[]) => requests.map((r) => evaluate(statements, r));
  const get = (pk: string) =>
    dynamodbAuthorizations(
      'DynamoDB_20120810.GetItem',
      { TableName: 'meta', Key: { pk: { S: pk }, sk: { S: pk } } },
      ARNS,
      () => 'pk',
    );

  test.each<[string, AuthorizationRequest[], Decision[]]>([
    ['the health check reads its own partition', get('health'), ['Allow']],
    ['…and no other', get('repo#a'), ['ImplicitDeny']],
    ['the collector lists under blobs/', s3('GET', '/reg?list-type=2&prefix=blobs/sha256/'), ['Allow']],
    ['…not the whole bucket', s3('GET', '/reg?list-type=2'), ['ImplicitDeny']],
    ['…nor uploads/', s3('GET', '/reg?list-type=2&prefix=uploads/'), ['ImplicitDeny']],
    [
      'the token service signs RAW ECDSA_SHA_256',
      jsonServiceAuthorizations(
        'TrentService.Sign',
        { KeyId: KEY, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' },
        ARNS,
      ),
      ['Allow'],
    ],
    [
      '…but not a digest',
      jsonServiceAuthorizations(
        'TrentService.Sign',
        { KeyId: KEY, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' },
        ARNS,
      ),
      ['ImplicitDeny'],
    ],
    [
      'events of its own source, each entry judged',
      jsonServiceAuthorizations(
        'AWSEvents.PutEvents',
        { Entries: [{ Source: 'registry' }, { Source: 'other' }] },
        ARNS,
      ),
      ['Allow', 'ImplicitDeny'],
    ],
  ])('%s', (_name, requests, expected) => expect(decide(requests)).toEqual(expected));
});
