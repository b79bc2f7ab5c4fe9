import {
  evaluate,
  SUPPORTED_CONDITION_OPERATORS,
  type AuthorizationRequest,
  type Decision,
  type PolicyStatement,
  type RequestContext,
} from '../../../tools/local/iam/policy';

type Case = [name: string, statements: PolicyStatement[], request: AuthorizationRequest, expected: Decision];

const req = (action: string, resource: string, context?: RequestContext): AuthorizationRequest => ({
  action,
  resource,
  ...(context ? { context } : {}),
});
const allow = (s: Omit<PolicyStatement, 'Effect'>): PolicyStatement => ({ Effect: 'Allow', ...s });
const deny = (s: Omit<PolicyStatement, 'Effect'>): PolicyStatement => ({ Effect: 'Deny', ...s });
const run = (cases: Case[]) =>
  test.each(cases)('%s', (_name, statements, request, expected) =>
    expect(evaluate(statements, request)).toBe(expected),
  );

const BUCKET = 'arn:aws:s3:::amzn-s3-demo-bucket';

// IAM User Guide, "Policy evaluation logic" / "Determining whether a request is allowed or denied
// within an account": an explicit deny in any policy overrides any allow; without an allow the
// request is implicitly denied.
describe('policy evaluation logic', () => {
  const allowAll = allow({ Action: 's3:*', Resource: '*' });
  run([
    ['no statements: implicit deny', [], req('s3:GetObject', `${BUCKET}/a`), 'ImplicitDeny'],
    ['an applicable allow', [allowAll], req('s3:GetObject', `${BUCKET}/a`), 'Allow'],
    [
      'explicit deny overrides allow, in either order',
      [deny({ Action: 's3:GetObject', Resource: `${BUCKET}/secret/*` }), allowAll],
      req('s3:GetObject', `${BUCKET}/secret/x`),
      'ExplicitDeny',
    ],
    [
      'a deny that does not apply leaves the allow',
      [allowAll, deny({ Action: 's3:GetObject', Resource: `${BUCKET}/secret/*` })],
      req('s3:GetObject', `${BUCKET}/public/x`),
      'Allow',
    ],
    ['an allow for another service', [allowAll], req('dynamodb:GetItem', '*'), 'ImplicitDeny'],
    [
      'a deny alone never allows',
      [deny({ Action: 's3:DeleteObject', Resource: '*' })],
      req('s3:GetObject', `${BUCKET}/a`),
      'ImplicitDeny',
    ],
  ]);
});

// IAM User Guide, "IAM JSON policy elements: Action": case-insensitive action names, `*` and `?`
// wildcards; the condition operators page's example grants "iam:*AccessKey*".
describe('Action', () => {
  run([
    ['case-insensitive', [allow({ Action: 'S3:getobject', Resource: '*' })], req('s3:GetObject', '*'), 'Allow'],
    ['prefix wildcard', [allow({ Action: 's3:Get*', Resource: '*' })], req('s3:GetObjectTagging', '*'), 'Allow'],
    ['prefix wildcard miss', [allow({ Action: 's3:Get*', Resource: '*' })], req('s3:PutObject', '*'), 'ImplicitDeny'],
    ['infix wildcards', [allow({ Action: 'iam:*AccessKey*', Resource: '*' })], req('iam:ListAccessKeys', '*'), 'Allow'],
    ['single character', [allow({ Action: 'kms:?ign', Resource: '*' })], req('kms:Sign', '*'), 'Allow'],
    ['everything', [allow({ Action: '*', Resource: '*' })], req('events:PutEvents', '*'), 'Allow'],
    [
      'service prefix counts',
      [allow({ Action: 's3:*', Resource: '*' })],
      req('s3express:GetObject', '*'),
      'ImplicitDeny',
    ],
    [
      'one of a list',
      [allow({ Action: ['dynamodb:GetItem', 'dynamodb:Query'], Resource: '*' })],
      req('dynamodb:Query', '*'),
      'Allow',
    ],
  ]);
});

// IAM User Guide, "IAM JSON policy elements: NotAction" (its examples, verbatim in intent).
describe('NotAction', () => {
  const exceptIam = allow({ NotAction: 'iam:*', Resource: '*' });
  const s3ExceptDeleteBucket = allow({ NotAction: 's3:DeleteBucket', Resource: 'arn:aws:s3:::*' });
  const mfa = deny({
    NotAction: 'iam:*',
    Resource: '*',
    Condition: { BoolIfExists: { 'aws:MultiFactorAuthPresent': 'false' } },
  });
  run([
    ['Allow NotAction iam:* allows other services', [exceptIam], req('s3:GetObject', `${BUCKET}/a`), 'Allow'],
    ['Allow NotAction iam:* does not allow IAM', [exceptIam], req('iam:CreateUser', '*'), 'ImplicitDeny'],
    ['all S3 on S3 resources but DeleteBucket', [s3ExceptDeleteBucket], req('s3:PutObject', `${BUCKET}/k`), 'Allow'],
    ['not DeleteBucket', [s3ExceptDeleteBucket], req('s3:DeleteBucket', BUCKET), 'ImplicitDeny'],
    ['not ListAllMyBuckets, which needs "*"', [s3ExceptDeleteBucket], req('s3:ListAllMyBuckets', '*'), 'ImplicitDeny'],
    [
      'no other service, whose resources are not S3 ARNs',
      [s3ExceptDeleteBucket],
      req('dynamodb:GetItem', 'arn:aws:dynamodb:us-east-1:111122223333:table/t'),
      'ImplicitDeny',
    ],
    [
      'Deny NotAction without MFA denies non-IAM actions',
      [exceptIam, mfa],
      req('s3:GetObject', '*', { 'aws:MultiFactorAuthPresent': 'false' }),
      'ExplicitDeny',
    ],
    ['…and when the MFA key is absent (IfExists)', [exceptIam, mfa], req('s3:GetObject', '*'), 'ExplicitDeny'],
    [
      '…but not with MFA',
      [exceptIam, mfa],
      req('s3:GetObject', '*', { 'aws:MultiFactorAuthPresent': 'true' }),
      'Allow',
    ],
    [
      '…and never IAM actions, which it does not allow either',
      [mfa],
      req('iam:ListUsers', '*', { 'aws:MultiFactorAuthPresent': 'false' }),
      'ImplicitDeny',
    ],
  ]);
});

// IAM User Guide, "IAM JSON policy elements: Resource" and "NotResource": case-sensitive ARNs, `*`
// and `?` within segments, `*` spanning `/` (and, at the end of a segment, colons).
describe('Resource and NotResource', () => {
  const users = allow({ Action: 'iam:*', Resource: 'arn:aws:iam::111122223333:user/accounting/*' });
  const objects = allow({ Action: 's3:GetObject', Resource: 'arn:aws:s3:::my_corporate_bucket/*' });
  // The NotResource page's HRPayroll group: everything in S3 but the Payroll folder is denied.
  const payroll = ['arn:aws:s3:::HRBucket/Payroll', 'arn:aws:s3:::HRBucket/Payroll/*'];
  const hrPayroll = [allow({ Action: '*', Resource: '*' }), deny({ Action: 's3:*', NotResource: payroll })];
  const exceptPayroll = [allow({ Action: 's3:*', NotResource: payroll })];
  run([
    ['path wildcard', [users], req('iam:GetUser', 'arn:aws:iam::111122223333:user/accounting/bob'), 'Allow'],
    ['other path', [users], req('iam:GetUser', 'arn:aws:iam::111122223333:user/sales/bob'), 'ImplicitDeny'],
    ['"*" spans "/"', [objects], req('s3:GetObject', 'arn:aws:s3:::my_corporate_bucket/a/b/c.txt'), 'Allow'],
    [
      'the bucket itself is not an object',
      [objects],
      req('s3:GetObject', 'arn:aws:s3:::my_corporate_bucket'),
      'ImplicitDeny',
    ],
    ['case-sensitive', [objects], req('s3:GetObject', 'arn:aws:s3:::My_Corporate_Bucket/a'), 'ImplicitDeny'],
    [
      '"?" is one character',
      [allow({ Action: 's3:GetObject', Resource: `${BUCKET}/v?` })],
      req('s3:GetObject', `${BUCKET}/v10`),
      'ImplicitDeny',
    ],
    [
      'Deny NotResource: the Payroll folder',
      hrPayroll,
      req('s3:GetObject', 'arn:aws:s3:::HRBucket/Payroll/q1.csv'),
      'Allow',
    ],
    [
      'Deny NotResource: any other S3 resource',
      hrPayroll,
      req('s3:GetObject', 'arn:aws:s3:::HRBucket/Other'),
      'ExplicitDeny',
    ],
    [
      'Deny NotResource: other services untouched',
      hrPayroll,
      req('dynamodb:GetItem', 'arn:aws:dynamodb:us-east-1:1:table/t'),
      'Allow',
    ],
    [
      'Allow NotResource: what it does not list',
      exceptPayroll,
      req('s3:GetObject', 'arn:aws:s3:::HRBucket/Other'),
      'Allow',
    ],
    [
      'Allow NotResource: not what it lists',
      exceptPayroll,
      req('s3:GetObject', 'arn:aws:s3:::HRBucket/Payroll'),
      'ImplicitDeny',
    ],
  ]);
});

const without = (context: Record<string, string>, key: string) =>
  Object.fromEntries(Object.entries(context).filter(([k]) => k !== key));
const on = (condition: PolicyStatement['Condition']) => [allow({ Action: '*', Resource: '*', Condition: condition })];
const withCtx = (context?: RequestContext) => req('s3:ListBucket', '*', context);

// IAM User Guide, "IAM JSON policy elements: Condition operators": each operator's own example.
describe('condition operators', () => {
  const jobCategory = on({ StringEquals: { 'aws:PrincipalTag/job-category': 'iamuser-admin' } });
  // The page's home-directory example, its ${aws:username} variable resolved to "David".
  const home = on({ StringLike: { 's3:prefix': ['', 'home/', 'home/David/'] } });
  const maxKeys = on({ NumericLessThanEquals: { 's3:max-keys': '10' } });
  const fresh = on({ DateGreaterThan: { 'aws:TokenIssueTime': '2020-01-01T00:00:01Z' } });
  const instanceType = { 'ec2:InstanceType': ['t1.*', 't2.*', 'm3.*'] };
  run([
    ['StringEquals: tag present', jobCategory, withCtx({ 'aws:PrincipalTag/job-category': 'iamuser-admin' }), 'Allow'],
    [
      'StringEquals: other value',
      jobCategory,
      withCtx({ 'aws:PrincipalTag/job-category': 'IAMUSER-ADMIN' }),
      'ImplicitDeny',
    ],
    ['StringEquals: key absent is false', jobCategory, withCtx(), 'ImplicitDeny'],
    [
      'StringEqualsIgnoreCase',
      on({ StringEqualsIgnoreCase: { 'aws:PrincipalTag/job-category': 'iamuser-admin' } }),
      withCtx({ 'aws:PrincipalTag/job-category': 'IAMUser-Admin' }),
      'Allow',
    ],
    ['StringLike: empty prefix', home, withCtx({ 's3:prefix': '' }), 'Allow'],
    ['StringLike: own home', home, withCtx({ 's3:prefix': 'home/David/' }), 'Allow'],
    ['StringLike: another home', home, withCtx({ 's3:prefix': 'home/Bob/' }), 'ImplicitDeny'],
    [
      'StringLike: wildcard',
      on({ StringLike: { 's3:prefix': 'blobs/*' } }),
      withCtx({ 's3:prefix': 'blobs/x/y' }),
      'Allow',
    ],
    [
      'StringLike: case-sensitive',
      on({ StringLike: { 's3:prefix': 'blobs/*' } }),
      withCtx({ 's3:prefix': 'Blobs/' }),
      'ImplicitDeny',
    ],
    ['NumericLessThanEquals: 10', maxKeys, withCtx({ 's3:max-keys': '10' }), 'Allow'],
    ['NumericLessThanEquals: 11', maxKeys, withCtx({ 's3:max-keys': '11' }), 'ImplicitDeny'],
    ['NumericLessThanEquals: absent', maxKeys, withCtx(), 'ImplicitDeny'],
    ['NumericEquals: 10.0 is 10', on({ NumericEquals: { n: 10 } }), withCtx({ n: '10.0' }), 'Allow'],
    ['NumericGreaterThan', on({ NumericGreaterThan: { n: '2' } }), withCtx({ n: '3' }), 'Allow'],
    ['NumericGreaterThanEquals', on({ NumericGreaterThanEquals: { n: '3' } }), withCtx({ n: '2' }), 'ImplicitDeny'],
    ['NumericLessThan', on({ NumericLessThan: { n: '3' } }), withCtx({ n: '3' }), 'ImplicitDeny'],
    ['NumericNotEquals', on({ NumericNotEquals: { n: ['1', '2'] } }), withCtx({ n: '3' }), 'Allow'],
    [
      'DateGreaterThan: credentials from 2021',
      fresh,
      withCtx({ 'aws:TokenIssueTime': '2021-06-01T00:00:00Z' }),
      'Allow',
    ],
    ['DateGreaterThan: from 2019', fresh, withCtx({ 'aws:TokenIssueTime': '2019-06-01T00:00:00Z' }), 'ImplicitDeny'],
    ['DateGreaterThan: access keys carry no issue time', fresh, withCtx(), 'ImplicitDeny'],
    [
      'Date operators take epoch seconds',
      on({ DateLessThan: { 'aws:EpochTime': '1700000000' } }),
      withCtx({ 'aws:EpochTime': '1600000000' }),
      'Allow',
    ],
    [
      'Bool: deny without TLS',
      [
        allow({ Action: 's3:*', Resource: '*' }),
        deny({ Action: 's3:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ],
      withCtx({ 'aws:SecureTransport': 'false' }),
      'ExplicitDeny',
    ],
    [
      'Bool: true matches true',
      on({ Bool: { 'aws:SecureTransport': true } }),
      withCtx({ 'aws:SecureTransport': 'true' }),
      'Allow',
    ],
    [
      'ArnEquals: the topic',
      on({ ArnEquals: { 'aws:SourceArn': 'arn:aws:sns:us-east-2:123456789012:TOPIC-ID' } }),
      withCtx({ 'aws:SourceArn': 'arn:aws:sns:us-east-2:123456789012:TOPIC-ID' }),
      'Allow',
    ],
    [
      'ArnEquals: absent when the user calls directly',
      on({ ArnEquals: { 'aws:SourceArn': 'arn:aws:sns:us-east-2:123456789012:TOPIC-ID' } }),
      withCtx(),
      'ImplicitDeny',
    ],
    [
      'StringLike lets "*" span colons',
      on({ StringLike: { 'aws:SourceArn': 'arn:aws:someservice:*:111122223333:finance/*' } }),
      withCtx({
        'aws:SourceArn': 'arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt',
      }),
      'Allow',
    ],
    [
      'ArnLike matches each colon-separated component on its own',
      on({ ArnLike: { 'aws:SourceArn': 'arn:aws:someservice:*:111122223333:finance/*' } }),
      withCtx({
        'aws:SourceArn': 'arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt',
      }),
      'ImplicitDeny',
    ],
    [
      'ArnLike: wildcards within components',
      on({ ArnLike: { 'aws:SourceArn': 'arn:aws:someservice:*:111122223333:finance/*' } }),
      withCtx({ 'aws:SourceArn': 'arn:aws:someservice:us-east-2:111122223333:finance/q1/doc.txt' }),
      'Allow',
    ],
    [
      'ArnNotLike',
      on({ ArnNotLike: { 'aws:SourceArn': 'arn:aws:sns:*:123456789012:*' } }),
      withCtx({ 'aws:SourceArn': 'arn:aws:sns:us-east-1:999999999999:t' }),
      'Allow',
    ],
    ['StringLike without IfExists: absent key fails', on({ StringLike: instanceType }), withCtx(), 'ImplicitDeny'],
    ['StringLikeIfExists: absent key passes', on({ StringLikeIfExists: instanceType }), withCtx(), 'Allow'],
    [
      'StringLikeIfExists: t2.micro',
      on({ StringLikeIfExists: instanceType }),
      withCtx({ 'ec2:InstanceType': 't2.micro' }),
      'Allow',
    ],
    [
      'StringLikeIfExists: c5.large',
      on({ StringLikeIfExists: instanceType }),
      withCtx({ 'ec2:InstanceType': 'c5.large' }),
      'ImplicitDeny',
    ],
    [
      'Deny with StringNotEqualsIfExists still denies when the tag is missing',
      [
        allow({ Action: '*', Resource: '*' }),
        deny({ Action: '*', Resource: '*', Condition: { StringNotEqualsIfExists: { 'aws:ResourceTag/team': 'a' } } }),
      ],
      withCtx(),
      'ExplicitDeny',
    ],
    ['Null true: no temporary credentials', on({ Null: { 'aws:TokenIssueTime': 'true' } }), withCtx(), 'Allow'],
    [
      'Null true: temporary credentials',
      on({ Null: { 'aws:TokenIssueTime': 'true' } }),
      withCtx({ 'aws:TokenIssueTime': '2024-01-01T00:00:00Z' }),
      'ImplicitDeny',
    ],
    [
      'Null false: key present',
      on({ Null: { 'aws:TokenIssueTime': false } }),
      withCtx({ 'aws:TokenIssueTime': 'x' }),
      'Allow',
    ],
    // The page's "Important" note: a negated operator holds when its key is absent.
    ['StringNotLike: absent key is true', on({ StringNotLike: { 's3:prefix': 'secret/*' } }), withCtx(), 'Allow'],
    [
      'ArnNotLike: absent key is true',
      on({ ArnNotLike: { 'aws:SourceArn': 'arn:aws:sns:*:*:*' } }),
      withCtx(),
      'Allow',
    ],
    ['StringNotEquals: present and equal', on({ StringNotEquals: { k: 'v' } }), withCtx({ k: 'v' }), 'ImplicitDeny'],
    ['BinaryEquals compares base64', on({ BinaryEquals: { k: 'QmluYXJ5' } }), withCtx({ k: 'QmluYXJ5' }), 'Allow'],
  ]);
});

// IAM User Guide, "Conditions with multiple context keys or values": operators AND-ed, keys within
// an operator AND-ed, values of a key OR-ed, values of a negated operator NOR-ed.
describe('multiple context keys or values', () => {
  const block = on({
    StringEquals: {
      'aws:PrincipalTag/department': ['finance', 'hr', 'legal'],
      'aws:PrincipalTag/role': ['audit', 'security'],
    },
    ArnLike: { 'aws:PrincipalArn': ['arn:aws:iam::222222222222:user/Ana', 'arn:aws:iam::222222222222:user/Mary'] },
  });
  const all = {
    'aws:PrincipalTag/department': 'hr',
    'aws:PrincipalTag/role': 'audit',
    'aws:PrincipalArn': 'arn:aws:iam::222222222222:user/Mary',
  };
  const notRoles = on({ StringNotEquals: { 'aws:PrincipalTag/role': ['audit', 'security'] } });
  run([
    ['every key of every operator matches one value', block, withCtx(all), 'Allow'],
    ['one key of one operator fails', block, withCtx({ ...all, 'aws:PrincipalTag/role': 'dev' }), 'ImplicitDeny'],
    [
      'the other operator fails',
      block,
      withCtx({ ...all, 'aws:PrincipalArn': 'arn:aws:iam::222222222222:user/Bob' }),
      'ImplicitDeny',
    ],
    ['one key absent', block, withCtx(without(all, 'aws:PrincipalTag/department')), 'ImplicitDeny'],
    ['negated: equal to one of the values', notRoles, withCtx({ 'aws:PrincipalTag/role': 'security' }), 'ImplicitDeny'],
    ['negated: equal to none of them', notRoles, withCtx({ 'aws:PrincipalTag/role': 'dev' }), 'Allow'],
    [
      'condition key names are case-insensitive',
      on({ StringEquals: { 'AWS:PrincipalTag/Role': 'audit' } }),
      withCtx({ 'aws:principaltag/role': 'audit' }),
      'Allow',
    ],
  ]);
});

// IAM User Guide, "Creating a condition that tests multiple key values (set operations)" (the
// DynamoDB Thread table tables) and "Multivalued context key examples".
describe('set operators over multivalued keys', () => {
  const readable = on({
    'ForAllValues:StringLike': { 'dynamodb:requestedAttributes': ['PostDateTime', 'Message', 'Tags'] },
  });
  const protectedAttributes = [
    allow({ Action: '*', Resource: '*' }),
    deny({
      Action: 'dynamodb:PutItem',
      Resource: '*',
      Condition: { 'ForAnyValue:StringLike': { 'dynamodb:requestedAttributes': ['ID', 'PostDateTime'] } },
    }),
  ];
  const put = (attributes?: string[]) =>
    req('dynamodb:PutItem', '*', attributes ? { 'dynamodb:requestedAttributes': attributes } : undefined);
  const tagKeys = [
    allow({ Action: '*', Resource: '*' }),
    deny({
      Action: ['iam:Tag*', 'iam:UnTag*'],
      Resource: '*',
      Condition: { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } },
    }),
  ];
  const tag = (keys?: string[]) => req('iam:TagUser', '*', keys ? { 'aws:TagKeys': keys } : undefined);
  run([
    [
      'ForAllValues: every requested attribute allowed',
      readable,
      withCtx({ 'dynamodb:requestedAttributes': ['PostDateTime', 'Message'] }),
      'Allow',
    ],
    [
      'ForAllValues: UserName is not',
      readable,
      withCtx({ 'dynamodb:requestedAttributes': ['PostDateTime', 'UserName'] }),
      'ImplicitDeny',
    ],
    ['ForAllValues: absent key is true', readable, withCtx(), 'Allow'],
    ['ForAllValues: empty set is true', readable, withCtx({ 'dynamodb:requestedAttributes': [] }), 'Allow'],
    [
      'ForAllValues: an empty string is an empty set',
      readable,
      withCtx({ 'dynamodb:requestedAttributes': '' }),
      'Allow',
    ],
    ['ForAnyValue: PostDateTime is protected', protectedAttributes, put(['PostDateTime', 'Message']), 'ExplicitDeny'],
    [
      'ForAnyValue: UserName, Message, PostDateTime',
      protectedAttributes,
      put(['UserName', 'Message', 'PostDateTime']),
      'ExplicitDeny',
    ],
    ['ForAnyValue: UserName alone', protectedAttributes, put(['UserName']), 'Allow'],
    ['ForAnyValue: absent key is false', protectedAttributes, put(), 'Allow'],
    ['ForAnyValue: an empty string is an empty set', protectedAttributes, put(['']), 'Allow'],
    ['ForAllValues:StringNotLike key1*: key1:legal', tagKeys, tag(['key1:legal']), 'Allow'],
    ['ForAllValues:StringNotLike key1*: key1:hr, key1:personnel', tagKeys, tag(['key1:hr', 'key1:personnel']), 'Allow'],
    ['ForAllValues:StringNotLike key1*: key2:audit', tagKeys, tag(['key2:audit']), 'ExplicitDeny'],
    ['ForAllValues:StringNotLike key1*: no tag keys', tagKeys, tag(), 'ExplicitDeny'],
    ['a single value is a set of one', readable, withCtx({ 'dynamodb:requestedAttributes': 'Tags' }), 'Allow'],
  ]);
});

// Amazon DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained access control":
// the GameScores table, items limited to the caller's partition key.
describe('dynamodb:LeadingKeys', () => {
  const TABLE = 'arn:aws:dynamodb:us-west-2:123456789012:table/GameScores';
  const own = [
    allow({
      Action: [
        'dynamodb:GetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
      ],
      Resource: TABLE,
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['amzn1.account.USER1'] } },
    }),
  ];
  const call = (action: string, keys?: string[]) =>
    req(action, TABLE, keys ? { 'dynamodb:LeadingKeys': keys } : undefined);
  run([
    ['own partition', own, call('dynamodb:GetItem', ['amzn1.account.USER1']), 'Allow'],
    ["another user's partition", own, call('dynamodb:GetItem', ['amzn1.account.USER2']), 'ImplicitDeny'],
    [
      'a batch touching both',
      own,
      call('dynamodb:BatchGetItem', ['amzn1.account.USER1', 'amzn1.account.USER2']),
      'ImplicitDeny',
    ],
    ['a batch of own items', own, call('dynamodb:BatchWriteItem', ['amzn1.account.USER1']), 'Allow'],
    // ForAllValues over an absent key is true: why the guide never grants Scan under this condition.
    ['a request without leading keys', own, call('dynamodb:Query'), 'Allow'],
    [
      'another table',
      own,
      req('dynamodb:GetItem', `${TABLE}2`, { 'dynamodb:LeadingKeys': ['amzn1.account.USER1'] }),
      'ImplicitDeny',
    ],
  ]);
});

describe('what the evaluator cannot judge throws instead of deciding', () => {
  const request = req('s3:GetObject', '*');
  test.each<[string, PolicyStatement[], RegExp]>([
    ['an unknown operator', on({ StringEqualz: { k: 'v' } }), /unknown condition operator StringEqualz/],
    [
      'an unknown operator in a statement that does not apply',
      [allow({ Action: 'kms:*', Resource: '*', Condition: { Foo: { k: 'v' } } })],
      /unknown condition operator Foo/,
    ],
    ['an unknown set qualifier', on({ 'ForSomeValues:StringEquals': { k: 'v' } }), /unknown condition operator/],
    ['Null with IfExists', on({ NullIfExists: { k: 'true' } }), /unknown condition operator/],
    ['Null with a value other than true or false', on({ Null: { k: 'yes' } }), /Null k takes/],
    ['IP address operators', on({ IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }), /not supported/],
    [
      'a policy variable in a resource',
      [allow({ Action: '*', Resource: 'arn:aws:s3:::b/home/${aws:username}/*' })],
      /policy variable/,
    ],
    [
      'a policy variable in a condition',
      on({ StringLike: { 's3:prefix': 'home/${aws:username}/' } }),
      /policy variable/,
    ],
    [
      'both Action and NotAction',
      [allow({ Action: '*', NotAction: 'iam:*', Resource: '*' })],
      /exactly one of Action and NotAction/,
    ],
    ['no Resource', [allow({ Action: '*' })], /exactly one of Resource and NotResource/],
    ['an Effect other than Allow or Deny', [{ Effect: 'allow' as 'Allow', Action: '*', Resource: '*' }], /Effect/],
    ['a non-numeric Numeric value', on({ NumericEquals: { k: 'ten' } }), /not a number/],
    ['an object as a condition value', on({ StringEquals: { k: { nested: 1 } } }), /strings, numbers or booleans/],
  ])('%s', (_name, statements, error) => expect(() => evaluate(statements, request)).toThrow(error));

  test('a multivalued request key under an operator without a set qualifier', () => {
    expect(() =>
      evaluate(on({ StringEquals: { 'aws:TagKeys': 'a' } }), withCtx({ 'aws:TagKeys': ['a', 'b'] })),
    ).toThrow(/needs ForAllValues: or ForAnyValue:/);
    // One value is a single value, however the caller passed it.
    expect(evaluate(on({ StringEquals: { 'aws:TagKeys': 'a' } }), withCtx({ 'aws:TagKeys': ['a'] }))).toBe('Allow');
  });

  test('the escapes ${*}, ${?} and ${$} are literal characters, not wildcards', () => {
    const star = [allow({ Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/${*}' })];
    expect(evaluate(star, req('s3:GetObject', 'arn:aws:s3:::b/*'))).toBe('Allow');
    expect(evaluate(star, req('s3:GetObject', 'arn:aws:s3:::b/x'))).toBe('ImplicitDeny');
    expect(evaluate(on({ StringEquals: { k: 'a${$}b${?}' } }), withCtx({ k: 'a$b?' }))).toBe('Allow');
  });

  test('every documented operator family this evaluator supports is listed', () => {
    expect(SUPPORTED_CONDITION_OPERATORS).toEqual(
      expect.arrayContaining([
        'StringEquals',
        'StringNotLike',
        'NumericGreaterThanEquals',
        'DateEquals',
        'Bool',
        'BinaryEquals',
        'ArnNotLike',
        'Null',
      ]),
    );
  });
});
