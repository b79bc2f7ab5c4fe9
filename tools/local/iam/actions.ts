/**
 * What IAM authorizes for each AWS request the registry's code makes, per the Service Authorization
 * Reference and each API's "Permissions" section: every returned request must be allowed for the
 * call to proceed. Anything not mapped here throws, so a new kind of call is noticed, not waved through.
 */
import type { AuthorizationRequest, RequestContext } from './policy';

/** Where ARNs of regional resources point. */
export interface Arns {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** An S3 REST request, path-style (`/<bucket>/<key...>`), with its key already decoded. */
export interface S3Request {
  readonly method: string;
  readonly bucket?: string;
  readonly key?: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The keys a `DeleteObjects` (`POST /<bucket>?delete`) body names; S3 authorizes each one. */
  readonly keys?: readonly string[];
  /** @default 'aws' */
  readonly partition?: string;
}

type Method = 'GET' | 'HEAD' | 'PUT' | 'DELETE' | 'POST';
type SubResources = Readonly<Record<string, Partial<Record<Method, string>>>>;

/**
 * Bucket configurations as [Get action, Put action, DELETE action]. Deleting most of them takes the
 * Put action (e.g. DeleteBucketCors needs s3:PutBucketCORS); some cannot be deleted.
 */
const CONFIGURATIONS: Record<string, [get: string, put: string, remove?: string]> = {
  accelerate: ['GetAccelerateConfiguration', 'PutAccelerateConfiguration'],
  acl: ['GetBucketAcl', 'PutBucketAcl'],
  cors: ['GetBucketCORS', 'PutBucketCORS', 'PutBucketCORS'],
  encryption: ['GetEncryptionConfiguration', 'PutEncryptionConfiguration', 'PutEncryptionConfiguration'],
  lifecycle: ['GetLifecycleConfiguration', 'PutLifecycleConfiguration', 'PutLifecycleConfiguration'],
  logging: ['GetBucketLogging', 'PutBucketLogging'],
  notification: ['GetBucketNotification', 'PutBucketNotification'],
  'object-lock': ['GetBucketObjectLockConfiguration', 'PutBucketObjectLockConfiguration'],
  ownershipControls: ['GetBucketOwnershipControls', 'PutBucketOwnershipControls', 'PutBucketOwnershipControls'],
  policy: ['GetBucketPolicy', 'PutBucketPolicy', 'DeleteBucketPolicy'],
  publicAccessBlock: ['GetBucketPublicAccessBlock', 'PutBucketPublicAccessBlock', 'PutBucketPublicAccessBlock'],
  replication: ['GetReplicationConfiguration', 'PutReplicationConfiguration', 'PutReplicationConfiguration'],
  requestPayment: ['GetBucketRequestPayment', 'PutBucketRequestPayment'],
  tagging: ['GetBucketTagging', 'PutBucketTagging', 'PutBucketTagging'],
  versioning: ['GetBucketVersioning', 'PutBucketVersioning'],
  website: ['GetBucketWebsite', 'PutBucketWebsite', 'DeleteBucketWebsite'],
};

const BUCKET_SUBRESOURCES: SubResources = {
  ...Object.fromEntries(
    Object.entries(CONFIGURATIONS).map(([name, [GET, PUT, DELETE]]) => [
      name,
      { GET, PUT, ...(DELETE ? { DELETE } : {}) },
    ]),
  ),
  location: { GET: 'GetBucketLocation' },
  policyStatus: { GET: 'GetBucketPolicyStatus' },
  uploads: { GET: 'ListBucketMultipartUploads' },
  versions: { GET: 'ListBucketVersions' },
};

const OBJECT_SUBRESOURCES: SubResources = {
  uploads: { POST: 'PutObject' }, // CreateMultipartUpload
  acl: { GET: 'GetObjectAcl', PUT: 'PutObjectAcl' },
  'legal-hold': { GET: 'GetObjectLegalHold', PUT: 'PutObjectLegalHold' },
  restore: { POST: 'RestoreObject' },
  retention: { GET: 'GetObjectRetention', PUT: 'PutObjectRetention' },
  tagging: { GET: 'GetObjectTagging', PUT: 'PutObjectTagging', DELETE: 'DeleteObjectTagging' },
};

/** Query parameters that qualify an operation rather than name one (besides `x-amz-*` and `response-*`). */
const PARAMETERS = new Set(
  (
    'prefix delimiter max-keys list-type continuation-token start-after encoding-type marker fetch-owner key-marker ' +
    'upload-id-marker max-uploads version-id-marker versionId partNumber uploadId max-parts part-number-marker x-id ' +
    'optional-object-attributes allow-unordered'
  ).split(' '),
);

/** The IAM requests one S3 REST call needs. Throws on a sub-resource or method it does not know. */
export function s3Authorizations(req: S3Request): AuthorizationRequest[] {
  const method = req.method.toUpperCase() as Method;
  const partition = req.partition ?? 'aws';
  const bucketArn = `arn:${partition}:s3:::${req.bucket ?? ''}`;
  const one = (action: string, resource: string, context?: RequestContext): AuthorizationRequest[] => [
    { action: `s3:${action}`, resource, ...(context ? { context } : {}) },
  ];
  const named = [...new Set(req.query.keys())].filter((p) => !PARAMETERS.has(p) && !/^(x-amz-|response-)/i.test(p));
  if (named.length > 1) throw new Error(`S3 request names several sub-resources: ?${named.join('&')}`);
  const sub = named[0];
  const has = (p: string) => req.query.has(p);
  const unknown = () =>
    new Error(`no IAM mapping for S3 ${method} ${req.key !== undefined ? 'object' : 'bucket'}${sub ? ` ?${sub}` : ''}`);

  if (req.bucket === undefined) {
    if (method === 'GET' && !sub) return one('ListAllMyBuckets', '*');
    throw unknown();
  }
  if (req.key === undefined) {
    if (sub === 'delete' && method === 'POST') {
      if (!req.keys) throw new Error('S3 DeleteObjects is authorized per key: pass the keys its body names');
      return req.keys.flatMap((k) => one('DeleteObject', `${bucketArn}/${k}`));
    }
    if (sub === undefined || sub === 'versions') {
      const listing = sub === 'versions' ? 'ListBucketVersions' : 'ListBucket';
      if (method === 'GET') return one(listing, bucketArn, listContext(req.query));
      if (method === 'HEAD' && !sub) return one('ListBucket', bucketArn);
      if (method === 'PUT' && !sub) return one('CreateBucket', bucketArn);
      if (method === 'DELETE' && !sub) return one('DeleteBucket', bucketArn);
      throw unknown();
    }
    const action = BUCKET_SUBRESOURCES[sub]?.[method];
    if (!action) throw unknown();
    return one(action, bucketArn);
  }

  const objectArn = `${bucketArn}/${req.key}`;
  const copy = header(req.headers, 'x-amz-copy-source');
  if (sub !== undefined) {
    const action = OBJECT_SUBRESOURCES[sub]?.[method];
    if (!action) throw unknown();
    return one(action, objectArn);
  }
  if (has('uploadId')) {
    if (method === 'PUT' && has('partNumber')) {
      // UploadPart, or UploadPartCopy when it names a source.
      return [...one('PutObject', objectArn), ...(copy ? [copySource(copy, partition)] : [])];
    }
    if (method === 'POST') return one('PutObject', objectArn); // CompleteMultipartUpload
    if (method === 'DELETE') return one('AbortMultipartUpload', objectArn);
    if (method === 'GET') return one('ListMultipartUploadParts', objectArn); // ListParts
    throw unknown();
  }
  const versioned = has('versionId');
  switch (method) {
    case 'GET':
    case 'HEAD':
      return one(versioned ? 'GetObjectVersion' : 'GetObject', objectArn);
    case 'PUT':
      return [...one('PutObject', objectArn), ...(copy ? [copySource(copy, partition)] : [])];
    case 'DELETE':
      return one(versioned ? 'DeleteObjectVersion' : 'DeleteObject', objectArn);
    default:
      throw unknown();
  }
}

function listContext(query: URLSearchParams): RequestContext | undefined {
  const param = (name: string) => query.get(name) ?? undefined;
  return contextOf({
    's3:prefix': param('prefix'),
    's3:delimiter': param('delimiter'),
    's3:max-keys': param('max-keys'),
  });
}

function header(headers: S3Request['headers'], name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name && v !== undefined) return v;
  return undefined;
}

/** `x-amz-copy-source`: URL-encoded `[/]bucket/key`, maybe with `?versionId=`. */
function copySource(value: string, partition: string): AuthorizationRequest {
  const q = value.indexOf('?');
  const path = decodeURIComponent(q < 0 ? value : value.slice(0, q)).replace(/^\//, '');
  const versionId = q < 0 ? null : new URLSearchParams(value.slice(q + 1)).get('versionId');
  const slash = path.indexOf('/');
  if (path.startsWith('arn:') || slash <= 0 || slash === path.length - 1)
    throw new Error(`x-amz-copy-source ${JSON.stringify(value)} is not a bucket/key this mapping understands`);
  return {
    action: versionId ? 's3:GetObjectVersion' : 's3:GetObject',
    resource: `arn:${partition}:s3:::${path}`,
  };
}

/** Splits `Prefix.Operation`, refusing another service's target. */
function operationOf(target: string, prefix: string): string {
  const dot = target.indexOf('.');
  if (dot < 0 || target.slice(0, dot) !== prefix)
    throw new Error(`${JSON.stringify(target)} is not a ${prefix} target`);
  return target.slice(dot + 1);
}

/** Reads a required string field of a JSON request body. */
function field(body: Record<string, unknown>, name: string, op: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value === '') throw new Error(`${op} request has no ${name}`);
  return value;
}

/** Drops absent values, so a condition key the request does not carry stays absent. */
function contextOf(entries: Record<string, string | readonly string[] | undefined>): RequestContext | undefined {
  const context: Record<string, string | readonly string[]> = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) context[k] = v;
  return Object.keys(context).length > 0 ? context : undefined;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const objects = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

/** DynamoDB JSON `{S}`, `{N}` or `{B}` as the string IAM compares; other types cannot be key values. */
function keyValue(attribute: unknown): string | undefined {
  if (!isObject(attribute)) return undefined;
  for (const type of ['S', 'N', 'B']) if (typeof attribute[type] === 'string') return attribute[type] as string;
  return undefined;
}

/**
 * The IAM requests one DynamoDB call needs, with `dynamodb:LeadingKeys` (the partition key values it
 * touches, when `partitionKeyOf` knows the table's partition key and the body names them) and the
 * optional `dynamodb:Select`/`ReturnValues`/`ReturnConsumedCapacity` keys the body sets.
 * `TransactWriteItems` and `TransactGetItems` are no IAM actions: each item needs the action of its kind.
 */
export function dynamodbAuthorizations(
  target: string,
  body: Record<string, unknown>,
  arns: Arns,
  partitionKeyOf: (table: string) => string | undefined,
): AuthorizationRequest[] {
  const op = operationOf(target, 'DynamoDB_20120810');
  const tableArn = (table: string) =>
    table.startsWith('arn:') ? table : `arn:${arns.partition}:dynamodb:${arns.region}:${arns.account}:table/${table}`;
  // TableName may be a table ARN; the partition key is looked up by name.
  const nameOf = (table: string) => (table.startsWith('arn:') ? (/:table\/([^/]+)/.exec(table)?.[1] ?? table) : table);
  const leadingKeys = (table: string, keys: readonly unknown[]): readonly string[] | undefined => {
    const pk = partitionKeyOf(nameOf(table));
    if (pk === undefined) return undefined;
    const values = keys.map((k) => (isObject(k) ? keyValue(k[pk]) : undefined));
    return values.every((v): v is string => v !== undefined) ? [...new Set(values)] : undefined;
  };
  const request = (
    action: string,
    table: string,
    leading: readonly string[] | undefined,
    from: Json = body,
    resource = tableArn(table),
  ): AuthorizationRequest => {
    const optional = (name: string) => (typeof from[name] === 'string' ? (from[name] as string) : undefined);
    const context = contextOf({
      'dynamodb:LeadingKeys': leading,
      'dynamodb:Select': optional('Select'),
      'dynamodb:ReturnValues': optional('ReturnValues'),
      'dynamodb:ReturnConsumedCapacity': optional('ReturnConsumedCapacity'),
    });
    return { action: `dynamodb:${action}`, resource, ...(context ? { context } : {}) };
  };
  const table = () => field(body, 'TableName', op);

  switch (op) {
    case 'GetItem':
    case 'UpdateItem':
    case 'DeleteItem':
      return [request(op, table(), leadingKeys(table(), [body.Key]))];
    case 'PutItem':
      return [request(op, table(), leadingKeys(table(), [body.Item]))];
    case 'Query':
    case 'Scan': {
      const index = typeof body.IndexName === 'string' ? body.IndexName : undefined;
      const resource = index ? `${tableArn(table())}/index/${index}` : tableArn(table());
      // A Scan reads every partition; an index's partition key is not the table's, so neither says which.
      const pk = op === 'Query' && !index ? partitionKeyOf(nameOf(table())) : undefined;
      const value = pk === undefined ? undefined : queryPartitionValue(body, pk);
      return [request(op, table(), value === undefined ? undefined : [value], body, resource)];
    }
    case 'CreateTable':
    case 'DeleteTable':
    case 'DescribeTable':
    case 'UpdateTable':
    case 'DescribeTimeToLive':
    case 'UpdateTimeToLive':
      return [request(op, table(), undefined)];
    case 'ListTables':
      return [{ action: 'dynamodb:ListTables', resource: '*' }];
    case 'BatchGetItem':
    case 'BatchWriteItem': {
      if (!isObject(body.RequestItems)) throw new Error(`${op} request has no RequestItems`);
      return Object.entries(body.RequestItems).map(([name, items]) => {
        const keys =
          op === 'BatchGetItem'
            ? objects(isObject(items) ? items.Keys : undefined)
            : objects(items).map((w) =>
                isObject(w.PutRequest)
                  ? w.PutRequest.Item
                  : isObject(w.DeleteRequest)
                    ? w.DeleteRequest.Key
                    : undefined,
              );
        return request(op, name, leadingKeys(name, keys));
      });
    }
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const kinds: Record<string, [action: string, keyField: string]> =
        op === 'TransactGetItems'
          ? { Get: ['GetItem', 'Key'] }
          : {
              Put: ['PutItem', 'Item'],
              Update: ['UpdateItem', 'Key'],
              Delete: ['DeleteItem', 'Key'],
              ConditionCheck: ['ConditionCheckItem', 'Key'],
            };
      return objects(body.TransactItems).map((item) => {
        const kind = Object.keys(item).find((k) => Object.hasOwn(kinds, k));
        const inner = kind === undefined ? undefined : item[kind];
        if (kind === undefined || !isObject(inner))
          throw new Error(`${op} item ${JSON.stringify(item)} has no known kind`);
        const [action, keyField] = kinds[kind] as [string, string];
        const name = field(inner, 'TableName', op);
        return request(action, name, leadingKeys(name, [inner[keyField]]), inner);
      });
    }
    default:
      throw new Error(`no IAM mapping for DynamoDB ${op}`);
  }
}

/**
 * The partition key value a Query names: `pk = :v` or `#n = :v` in `KeyConditionExpression` (either
 * side), or an `EQ` in the legacy `KeyConditions`. Undefined when the body does not say.
 */
function queryPartitionValue(body: Json, pk: string): string | undefined {
  if (typeof body.KeyConditionExpression === 'string') {
    const names = isObject(body.ExpressionAttributeNames) ? body.ExpressionAttributeNames : {};
    const values = isObject(body.ExpressionAttributeValues) ? body.ExpressionAttributeValues : {};
    const token = '(#?[A-Za-z0-9_]+|:[A-Za-z0-9_]+)';
    for (const [, left, right] of body.KeyConditionExpression.matchAll(new RegExp(`${token}\\s*=\\s*${token}`, 'g'))) {
      const [name, value] = left!.startsWith(':') ? [right!, left!] : [left!, right!];
      if (name.startsWith(':') || !value.startsWith(':')) continue;
      if ((name.startsWith('#') ? names[name] : name) === pk) return keyValue(values[value]);
    }
    return undefined;
  }
  const condition = isObject(body.KeyConditions) ? body.KeyConditions[pk] : undefined;
  if (!isObject(condition) || condition.ComparisonOperator !== 'EQ' || !Array.isArray(condition.AttributeValueList))
    return undefined;
  return keyValue(condition.AttributeValueList[0]);
}

/** Options of `jsonServiceAuthorizations`. */
export interface JsonServiceOptions {
  /**
   * The key ARN an alias ARN names. KMS authorizes a cryptographic operation on the key, never on the
   * alias in `KeyId`, so a call that names its key by alias cannot be judged without this.
   */
  readonly kmsKeyArnOfAlias?: (aliasArn: string) => string | undefined;
  /**
   * The full ARN of the secret a `SecretId` names (a name, a partial or a full ARN). Secrets Manager
   * authorizes on the secret's full ARN, whose last six characters only it knows; a secret it does
   * not know is authorized on the ARN its `SecretId` spells.
   */
  readonly secretArnOf?: (secretId: string) => string | undefined;
}

const KMS_WITHOUT_RESOURCE = new Set(['CreateKey', 'ListKeys', 'ListAliases', 'GenerateRandom']);

// Request parameters that KMS exposes as condition keys of the same name.
const KMS_CONTEXT_FIELDS = 'SigningAlgorithm MessageType EncryptionAlgorithm MacAlgorithm KeySpec KeyUsage'.split(' ');

// Secrets Manager operations on the one secret their `SecretId` names (the Service Authorization
// Reference: resource type Secret); anything else of Secrets Manager is not mapped.
const SECRET_OPERATIONS = new Set([
  'GetSecretValue',
  'DescribeSecret',
  'ListSecretVersionIds',
  'GetResourcePolicy',
  'PutSecretValue',
  'UpdateSecret',
  'UpdateSecretVersionStage',
  'DeleteSecret',
  'RestoreSecret',
  'TagResource',
  'UntagResource',
]);

/**
 * The IAM requests one call of an AWS JSON-protocol service needs: KMS (`TrentService.<Op>` →
 * `kms:<Op>` on the key), EventBridge (`AWSEvents.PutEvents` → `events:PutEvents` on each entry's
 * bus, with `events:source` and `events:detail-type`) and Secrets Manager (`secretsmanager.<Op>` →
 * `secretsmanager:<Op>` on the secret's full ARN, with `secretsmanager:SecretId`,
 * `secretsmanager:VersionId` and `secretsmanager:VersionStage`). Any other service is not mapped.
 */
export function jsonServiceAuthorizations(
  target: string,
  body: Record<string, unknown>,
  arns: Arns,
  options: JsonServiceOptions = {},
): AuthorizationRequest[] {
  const service = target.slice(0, target.indexOf('.'));
  const arn = (svc: string, resource: string) =>
    `arn:${arns.partition}:${svc}:${arns.region}:${arns.account}:${resource}`;
  if (service === 'TrentService') return kms(operationOf(target, service), body, arn, options);
  if (service === 'secretsmanager') return secretsManager(operationOf(target, service), body, arn, options);
  if (service === 'AWSEvents') {
    const op = operationOf(target, service);
    if (op !== 'PutEvents') throw new Error(`no IAM mapping for EventBridge ${op}`);
    return objects(body.Entries).map((entry) => {
      const bus = typeof entry.EventBusName === 'string' && entry.EventBusName !== '' ? entry.EventBusName : 'default';
      const context = contextOf({
        'events:source': typeof entry.Source === 'string' ? entry.Source : undefined,
        'events:detail-type': typeof entry.DetailType === 'string' ? entry.DetailType : undefined,
      });
      const resource = bus.startsWith('arn:') ? bus : arn('events', `event-bus/${bus}`);
      return { action: 'events:PutEvents', resource, ...(context ? { context } : {}) };
    });
  }
  throw new Error(`no IAM mapping for ${JSON.stringify(target)}`);
}

function kms(
  op: string,
  body: Json,
  arn: (svc: string, resource: string) => string,
  options: JsonServiceOptions,
): AuthorizationRequest[] {
  const shared: Record<string, string | readonly string[]> = {};
  for (const name of KMS_CONTEXT_FIELDS) if (typeof body[name] === 'string') shared[`kms:${name}`] = body[name];
  if (isObject(body.EncryptionContext)) {
    shared['kms:EncryptionContextKeys'] = Object.keys(body.EncryptionContext);
    for (const [k, v] of Object.entries(body.EncryptionContext))
      if (typeof v === 'string') shared[`kms:EncryptionContext:${k}`] = v;
  }
  const aliasArn = (alias: string) => (alias.startsWith('arn:') ? alias : arn('kms', alias));
  const request = (action: string, resource: string, alias?: string): AuthorizationRequest => {
    const context = contextOf({ ...shared, 'kms:RequestAlias': alias });
    return { action: `kms:${action}`, resource, ...(context ? { context } : {}) };
  };
  const onKey = (action: string, id: string): AuthorizationRequest => {
    if (!id.startsWith('alias/') && !/^arn:[^:]+:kms:[^:]*:[^:]*:alias\//.test(id))
      return request(action, id.startsWith('arn:') ? id : arn('kms', `key/${id}`));
    const key = options.kmsKeyArnOfAlias?.(aliasArn(id));
    if (key === undefined)
      throw new Error(`kms:${action} is authorized on the key alias ${id} names, which is not known here`);
    return request(action, key, id.slice(id.indexOf('alias/')));
  };

  if (KMS_WITHOUT_RESOURCE.has(op)) return [request(op, '*')];
  if (op === 'CreateAlias' || op === 'UpdateAlias' || op === 'DeleteAlias') {
    // Changing an alias needs the permission on the alias and on each key it names (KMS, "Controlling
    // access to aliases"); the key an existing alias names is known only through the resolver.
    const alias = aliasArn(field(body, 'AliasName', op));
    const keys: AuthorizationRequest[] = [];
    if (op !== 'CreateAlias') {
      const current = options.kmsKeyArnOfAlias?.(alias);
      if (current === undefined)
        throw new Error(`kms:${op} is authorized on the key ${alias} names, which is not known here`);
      keys.push(request(op, current));
    }
    if (op !== 'DeleteAlias') keys.push(onKey(op, field(body, 'TargetKeyId', op)));
    return [request(op, alias), ...keys];
  }
  if (op === 'ReEncrypt')
    return [
      onKey('ReEncryptFrom', field(body, 'SourceKeyId', op)),
      onKey('ReEncryptTo', field(body, 'DestinationKeyId', op)),
    ];
  return [onKey(op, field(body, 'KeyId', op))];
}

function secretsManager(
  op: string,
  body: Json,
  arn: (svc: string, resource: string) => string,
  options: JsonServiceOptions,
): AuthorizationRequest[] {
  if (!SECRET_OPERATIONS.has(op)) throw new Error(`no IAM mapping for Secrets Manager ${op}`);
  const secretId = field(body, 'SecretId', op);
  const resource =
    options.secretArnOf?.(secretId) ??
    (secretId.startsWith('arn:') ? secretId : arn('secretsmanager', `secret:${secretId}`));
  const context = contextOf({
    'secretsmanager:SecretId': secretId,
    'secretsmanager:VersionId': typeof body.VersionId === 'string' ? body.VersionId : undefined,
    'secretsmanager:VersionStage': typeof body.VersionStage === 'string' ? body.VersionStage : undefined,
  });
  return [{ action: `secretsmanager:${op}`, resource, ...(context ? { context } : {}) }];
}
