import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Template } from '../../tools/local/stack/intrinsics';
import type { PublishedEvent } from '../../tools/local/stack/standins';
import { systemClock } from '../../lambda/core/ports/clock';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { RegistryClient } from '../support/http-client';
import { until } from '../support/until';
import { testClients } from '../support/aws';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';

/**
 * The synthesized stack as deployed: one process per function running its bundle from the cloud
 * assembly, and every AWS call held to the function role's policies from the template.
 */
describe('the synthesized stack', () => {
  let stack: TestStack;
  const clients = testClients();
  beforeAll(async () => {
    stack = await startTestStack({ uploader: false });
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await stack?.stop();
    clients.s3.destroy();
    clients.dynamodb.destroy();
  });

  test('runs one process per function of the template, each its asset.<hash>/index.js bundle', () => {
    const pids = stack.pids();
    expect(Object.keys(pids).sort()).toEqual(stack.model.functions.map((f) => f.name).sort());
    for (const fn of stack.model.functions) {
      const pid = pids[fn.name]?.[0];
      expect(pid).toBeDefined();
      // The process runs the bundle in place: its working directory is the asset directory.
      const cwd = execFileSync('readlink', [`/proc/${pid}/cwd`])
        .toString()
        .trim();
      expect(cwd).toBe(fn.codeDir);
      expect(cwd).toMatch(/\/asset\.[0-9a-f]{64}$/);
      const args = execFileSync('ps', ['-o', 'args=', '-p', String(pid)])
        .toString()
        .trim();
      expect(args).toContain(`${fn.codeDir}/index.js`);
      const environ = execFileSync('cat', [`/proc/${pid}/environ`])
        .toString()
        .split('\0');
      expect(environ).toContain(`AWS_LAMBDA_FUNCTION_NAME=${fn.name}`);
      for (const [name, value] of Object.entries(fn.environment)) expect(environ).toContain(`${name}=${value}`);
    }
  });

  test('the scheduled sweeper runs from its bundle within its grants, leftover pass included', async () => {
    const from = stack.calls.length;
    const result = (await stack.invoke('MaintenanceUploadSweeper', {})) as { complete: boolean; failed: number };
    expect(result).toMatchObject({ complete: true, failed: 0 });
    const calls = stack.calls.slice(from).filter((c) => /UploadSweeper/.test(c.principal));
    const s3 = calls.filter((c) => c.service === 's3').map((c) => c.operation);
    // The leftover pass lists the uploads in progress and the staging prefix.
    expect(s3.some((o) => /^GET bucket\?.*\buploads\b/.test(o))).toBe(true);
    expect(s3.some((o) => /^GET bucket\?.*\blist-type\b/.test(o))).toBe(true);
    expect(calls.filter((c) => c.denied)).toEqual([]);
  });

  test('a pull records its day within the manifests role (UpdateItem on repository items only), and a GET by tag is one read', async () => {
    const registry = new RegistryClient(stack.url);
    const { digest } = await registry.pushImage('iam/pulled', 'v1');
    const from = stack.calls.length;
    expect((await registry.request('GET', '/v2/iam/pulled/manifests/v1')).status).toBe(200);
    // The pull waits only a moment for its record: the writes may land just after the response.
    const dayOf = async (sk: string) => {
      const item = await clients.dynamodb.send(
        new GetItemCommand({
          TableName: stack.names.table,
          Key: { pk: { S: 'repo#iam/pulled' }, sk: { S: sk } },
          ConsistentRead: true,
        }),
      );
      return item.Item?.pulledOn?.S;
    };
    const today = new Date().toISOString().slice(0, 10);
    // The revision's day, and the tag's: a GET by tag reads the tag's item alone.
    expect(await until('the revision pull day', () => dayOf(`manifest#${digest}`))).toBe(today);
    expect(await until('the tag pull day', () => dayOf('tag#v1'))).toBe(today);
    const updates = stack.calls.slice(from).filter((c) => c.service === 'dynamodb' && c.operation === 'UpdateItem');
    expect(updates).toEqual([expect.objectContaining({ status: 200 }), expect.objectContaining({ status: 200 })]);
    expect(updates.filter((u) => u.denied)).toEqual([]);

    // The bundles make the reads the call budget counts in one process: one GetItem, nothing more.
    const again = stack.calls.length;
    const res = await registry.request('GET', '/v2/iam/pulled/manifests/v1');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stack.calls.slice(again).map((c) => `${c.service}.${c.operation}`)).toEqual(['dynamodb.GetItem']);
  });

  test('a missing key answers 403 without s3:ListBucket, and the registry answers MANIFEST_UNKNOWN, not 500', async () => {
    const registry = new RegistryClient(stack.url);
    // Over the inline limit, so the manifest's body lives in the bucket.
    const { digest } = await registry.pushImage('iam/big', 'v1', { annotations: { pad: 'x'.repeat(300_000) } });
    const bucket = stack.names.bucket;
    const listed = await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'manifests/' }));
    expect(listed.Contents?.length).toBe(1);
    // A delete that races the read (garbage collection, say).
    await clients.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: listed.Contents?.[0]?.Key }));
    const from = stack.calls.length;
    const res = await registry.request('GET', `/v2/iam/big/manifests/${digest}`);
    const body = (await res.json()) as { errors: { code: string }[] };
    expect([res.status, body.errors[0]?.code]).toEqual([404, 'MANIFEST_UNKNOWN']);
    const read = stack.calls.slice(from).find((c) => c.service === 's3' && c.operation === 'GET object');
    expect(read?.status).toBe(403);
  });

  // Last in this stack: the functions keep the mode they read for up to 30 s after it is switched back.
  test('maintenance mode: the admin CLI switches the mode item, which the functions read within their grants', async () => {
    const registry = new RegistryClient(stack.url);
    const admin = (...args: string[]) =>
      execFileSync(
        process.execPath,
        ['--import', 'tsx', 'bin/admin.ts', 'maintenance', ...args, '--local', '--data-dir', stack.dataDir],
        { cwd: join(__dirname, '..', '..') },
      ).toString();
    const from = stack.calls.length;
    try {
      expect(admin('on')).toMatch(/^maintenance mode on \(local mode, table \S+\)/);
      expect(JSON.parse(admin('status', '--json'))).toMatchObject({ mode: 'read-only', maintenance: true });
      // Each execution environment reads the mode at most once per 30 s.
      await until(
        '/health reporting read-only',
        async () => {
          const body = (await (await registry.request('GET', '/health')).json()) as { mode?: string };
          return body.mode === 'read-only' ? body : undefined;
        },
        45_000,
      );
      const refused = await until(
        'a refused upload',
        async () => {
          const res = await registry.request('POST', '/v2/iam/maintenance/blobs/uploads/');
          return res.status === 503 ? res : undefined;
        },
        45_000,
      );
      expect(refused.headers.get('retry-after')).toBe('60');
    } finally {
      admin('off');
    }
    const reads = stack.calls.slice(from).filter((c) => c.service === 'dynamodb' && c.operation === 'GetItem');
    expect(reads.filter((c) => c.denied)).toEqual([]);
    // The base function may read no other item than the health check's and the mode's.
    const base = stack.model.functions.find((f) => f.logicalId.startsWith('FunctionsBase'))!.name;
    expect(reads.some((c) => c.principal === base && c.status === 200)).toBe(true);
  }, 120_000);
});

describe('the synthesized stack with token auth', () => {
  const PASSWORD = 'correct horse battery';
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ uploader: false, auth: { mode: 'token' } });
    const admin = new AccountAdmin(stack.accounts, systemClock);
    await admin.addUser('alice', { password: PASSWORD });
    await admin.grant('alice', 'alice/*', ['pull', 'push']);
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await stack?.stop();
  });

  test('the functions check tokens with the KMS public keys, fetched within their grants; only the token service signs', async () => {
    const challenge = (await fetch(`${stack.url}/v2/`)).headers.get('www-authenticate') ?? '';
    const [, realm, service] = /realm="([^"]+)",service="([^"]+)"/.exec(challenge) ?? [];
    const from = stack.calls.length;
    const query = new URLSearchParams({ service: service!, scope: 'repository:alice/app:pull,push' });
    const issued = await fetch(`${realm}?${query.toString()}`, {
      headers: { Authorization: `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}` },
    });
    expect(issued.status).toBe(200);
    const { token } = (await issued.json()) as { token: string };
    const registry = new RegistryClient(stack.url, { Authorization: `Bearer ${token}` });
    expect((await registry.request('GET', '/v2/')).status).toBe(200);
    expect((await registry.request('POST', '/v2/alice/app/blobs/uploads/')).status).toBe(202);
    const kms = stack.calls.slice(from).filter((c) => c.service === 'kms');
    expect(kms.filter((c) => c.denied)).toEqual([]);
    const nameOf = (prefix: string) => stack.model.functions.find((f) => f.logicalId.startsWith(prefix))!.name;
    for (const fn of ['FunctionsBase', 'FunctionsBlobs']) {
      expect([fn, kms.filter((c) => c.principal === nameOf(fn)).map((c) => [c.operation, c.status])]).toEqual([
        fn,
        [['GetPublicKey', 200]],
      ]);
    }
    expect(kms.filter((c) => c.operation === 'Sign').map((c) => c.principal)).toEqual([nameOf('FunctionsToken')]);
  });
});

describe('a grant removed from the synthesized template', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({
      uploader: false,
      editTemplate: (template) => removeAction(template, 'FunctionsBlobsRole', 'dynamodb:PutItem'),
    });
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await stack?.stop();
  });

  test('makes the request that needs it fail with AccessDenied', async () => {
    const from = stack.calls.length;
    const res = await fetch(`${stack.url}/v2/iam/denied/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(500);
    const denied = stack.calls.slice(from).filter((c) => c.denied);
    expect(denied.map((c) => [c.service, c.operation])).toEqual([['dynamodb', 'PutItem']]);
    expect(denied[0]?.denied).toMatch(
      /^User: arn:aws:sts::000000000000:assumed-role\/\S+\/\S+ is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table\/\S+ because no identity-based policy allows the dynamodb:PutItem action$/,
    );
    // Everything else the blobs function does is still allowed: reads answer as before.
    const head = await fetch(`${stack.url}/v2/iam/denied/blobs/sha256:${'0'.repeat(64)}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
  });
});

/** Takes `action` out of every statement of the policies attached to roles whose logical id starts with `rolePrefix`. */
function removeAction(template: Template, rolePrefix: string, action: string): void {
  let removed = 0;
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const props = resource.Properties as {
      Roles: { Ref: string }[];
      PolicyDocument: { Statement: { Action: string | string[] }[] };
    };
    if (!props.Roles.some((r) => r.Ref.startsWith(rolePrefix))) continue;
    for (const statement of props.PolicyDocument.Statement) {
      const actions = [statement.Action].flat();
      if (!actions.includes(action)) continue;
      statement.Action = actions.filter((a) => a !== action);
      removed++;
    }
  }
  if (removed === 0) throw new Error(`no statement of ${rolePrefix}* grants ${action}`);
}

describe('the synthesized stack with registry events', () => {
  let stack: TestStack;
  const events: PublishedEvent[] = [];
  beforeAll(async () => {
    stack = await startTestStack({ uploader: false, events: { onEvent: (e) => events.push(e) } });
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await stack?.stop();
  });

  test('publishes through EventBridge with the functions’ own grants', async () => {
    const { digest } = await new RegistryClient(stack.url).pushImage('events/app', 'v1');
    const pushed = await until(
      'the Manifest Pushed event',
      () => events.find((e) => e.DetailType === 'Manifest Pushed'),
      10_000,
    );
    expect(pushed.Source).toBe('serverless-oci-registry');
    expect(JSON.parse(pushed.Detail ?? '{}')).toMatchObject({ repository: 'events/app', digest, tag: 'v1' });
    const puts = stack.calls.filter((c) => c.service === 'events');
    expect(puts.length).toBeGreaterThan(0);
    expect(puts.every((c) => c.status === 200 && !c.denied)).toBe(true);
  });
});
