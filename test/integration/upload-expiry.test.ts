import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbMetadata } from '../../lambda/adapters/dynamodb/dynamodb-metadata';
import type { Clock } from '../../lambda/core/ports/clock';
import type { ChunkedUploadSession } from '../../lambda/core/ports/metadata';
import { UploadService } from '../../lambda/core/services/upload-service';
import { composeUploadSweeper } from '../../lambda/handlers/compose';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../tools/local/emulators';
import { LOCAL_ENDPOINTS_FILE, type LocalEndpoints } from '../../tools/local/endpoints-file';
import { startLocalRegistry, type LocalRegistry } from '../../tools/local/registry';
import { operatorEnv, runAdminCli, stackTarget, type CliRun } from '../support/admin-cli';
import { RegistryClient, sha256 } from '../support/http-client';
import { embeddedServersTest } from '../support/endpoint-strictness';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';
import { inventory, uploadsAt } from '../support/uploads';

const MiB = 1024 * 1024;
/** Local mode's session lifetime, and the sweeper's default grace after expiry. */
const TTL = 86_400;
const GRACE = 900;
const ROOT = join(__dirname, '..', '..');

const clockAt = (ms: number): Clock => ({ now: () => ms });
/**
 * When to open a session that is dead now: it expired half a day ago, but its item's TTL (a day after
 * expiry) is still ahead, so DynamoDB Local, which does delete expired items, leaves it to the sweep.
 */
const aDayAndAHalfAgo = () => Date.now() - 1.5 * TTL * 1000;

/** Opens a session through `uploads` and appends chunks of `sizes` bytes. */
async function openWith(uploads: UploadService, name: string, ...sizes: number[]): Promise<ChunkedUploadSession> {
  let session = await uploads.start(name);
  let offset = 0;
  for (const size of sizes) {
    session = await uploads.append(name, session.id, randomBytes(size), { start: offset, end: offset + size - 1 });
    offset += size;
  }
  return session;
}

const multipartOf = (s: ChunkedUploadSession) => (s.multipart ? [`${s.multipart.key}@${s.multipart.id}`] : []);

/** Young leftovers are told by the S3 server's timestamps, which the test endpoint must report truly. */
const leftoverTest = embeddedServersTest(
  'a test endpoint may not report true upload times (moto 5.2.5 lists every multipart upload as initiated on 2010-11-10), so none would look young',
);

describe('upload expiry on the real servers: expired sessions leave nothing in S3 or DynamoDB', () => {
  let functions: TestRegistry; // uploads through the function handlers (no data path)
  let streaming: LocalRegistry; // the same bucket and table behind the streaming uploader
  let fn: RegistryClient;
  let stream: RegistryClient;
  beforeAll(async () => {
    functions = await startTestRegistry({ uploader: false });
    streaming = await startLocalRegistry({
      port: 0,
      dataDir: functions.dataDir,
      clients: functions.clients,
      bucket: functions.config.bucket,
      table: functions.config.table,
      uploader: true,
    });
    fn = new RegistryClient(functions.url);
    stream = new RegistryClient(streaming.url);
  });
  afterAll(async () => {
    await streaming?.stop();
    await functions?.stop();
  });

  async function start(client: RegistryClient, name: string): Promise<string> {
    const res = await client.request('POST', `/v2/${name}/blobs/uploads/`);
    expect(res.status).toBe(202);
    return res.headers.get('location') as string;
  }

  /** PATCHes chunks of `sizes` bytes with Content-Range (each within Lambda's payload limit). */
  async function chunks(client: RegistryClient, location: string, sizes: number[], all: Buffer[] = []): Promise<void> {
    let offset = all.reduce((n, b) => n + b.length, 0);
    for (const size of sizes) {
      const body = randomBytes(size);
      all.push(body);
      const res = await client.request('PATCH', location, {
        body,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + size - 1}` },
      });
      expect([res.status, await res.text()]).toEqual([202, '']);
      offset += size;
    }
  }

  const idOf = (location: string) => location.split('/').pop() as string;

  test('empty, tail-only, multipart and streamed sessions are swept; a fresh one and committed blobs stay', async () => {
    // Committed blobs: one monolithic, one assembled from multipart parts, one streamed.
    const small = await fn.pushBlob('expiry/app', `small blob ${Math.random()}`);
    const chunked = await start(fn, 'expiry/app');
    const chunkedBytes: Buffer[] = [];
    await chunks(fn, chunked, [3 * MiB, 3 * MiB], chunkedBytes);
    const assembled = sha256(Buffer.concat(chunkedBytes));
    expect((await fn.request('PUT', `${chunked}?digest=${assembled}`)).status).toBe(201);
    const streamedBlob = randomBytes(20 * MiB);
    const streamedAt = await start(stream, 'expiry/app');
    expect(
      (await stream.request('PUT', `${streamedAt}?digest=${sha256(streamedBlob)}`, { body: streamedBlob })).status,
    ).toBe(201);

    // Abandoned sessions, one of each shape.
    const empty = await start(fn, 'expiry/app');
    const tailOnly = await start(fn, 'expiry/app');
    await chunks(fn, tailOnly, [1 * MiB]);
    const multipart = await start(fn, 'expiry/app');
    await chunks(fn, multipart, [3 * MiB, 3 * MiB, 1 * MiB]); // one 6 MiB part and a 1 MiB staged tail
    const streamed = await start(stream, 'expiry/app');
    const patch = await stream.request('PATCH', streamed, {
      body: randomBytes(20 * MiB), // one 16 MiB part and a 4 MiB staged tail
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(patch.status).toBe(202);
    const abandoned = [empty, tailOnly, multipart, streamed].map(idOf);

    // The sweep runs a day and a bit later; a session opened just before it is fresh.
    const sweepAt = Date.now() + (TTL + GRACE + 60) * 1000;
    const fresh = await openWith(uploadsAt(functions, clockAt(sweepAt - 1000)), 'expiry/app', 6 * MiB, 1 * MiB);
    expect(fresh.multipart).toBeDefined();
    expect(fresh.tail).toHaveLength(1);

    const before = await inventory(functions);
    expect(before.sessions).toEqual([...abandoned, fresh.id].sort());
    const stagedOf = (id: string) => before.staged.filter((k) => k.startsWith(`uploads/${id}/`));
    expect(abandoned.map((id) => stagedOf(id).length)).toEqual([0, 1, 1, 1]);
    expect(before.multiparts).toHaveLength(3); // multipart, streamed, fresh

    const sweeper = composeUploadSweeper(functions.config, functions.clients, clockAt(sweepAt));
    const dry = await sweeper.sweep({ dryRun: true });
    expect(await inventory(functions)).toEqual(before);
    const progress: number[] = [];
    const result = await sweeper.sweep({}, async (totals) => {
      progress.push(totals.sessions);
    });
    expect(result).toEqual({
      sessions: 4,
      objects: 3,
      multipartAborted: 2,
      bytes: (1 + 7 + 20) * MiB,
      skipped: 0,
      failed: 0,
      errors: [],
      complete: true,
      orphans: 0,
    });
    expect(dry).toEqual(result);
    expect(progress.sort()).toEqual([1, 2, 3, 4]);

    // Nothing of the abandoned sessions is left: no staged object, no multipart upload, no item.
    const after = await inventory(functions);
    expect(after).toEqual({
      staged: fresh.tail.map((t) => t.key),
      blobs: before.blobs,
      multiparts: multipartOf(fresh),
      sessions: [fresh.id],
    });
    for (const location of [empty, tailOnly, multipart]) expect((await fn.request('GET', location)).status).toBe(404);
    expect((await stream.request('GET', streamed)).status).toBe(404);
    // Committed blobs are untouched and still served.
    for (const digest of [small, assembled, sha256(streamedBlob)]) {
      expect((await fn.request('HEAD', `/v2/expiry/app/blobs/${digest}`)).status).toBe(200);
    }
    // The fresh session goes on and completes.
    const uploads = uploadsAt(functions, clockAt(sweepAt));
    expect((await uploads.status('expiry/app', fresh.id)).size).toBe(7 * MiB);

    // A second sweep finds nothing.
    expect(await sweeper.sweep()).toMatchObject({ sessions: 0, objects: 0, multipartAborted: 0, bytes: 0 });
    expect(await inventory(functions)).toEqual(after);
  });

  test('the expiry index lists sessions page by page across its shards', async () => {
    const at = aDayAndAHalfAgo();
    const uploads = uploadsAt(functions, clockAt(at));
    const opened = await Promise.all(Array.from({ length: 25 }, () => uploads.start('expiry/pages')));
    const metadata = new DynamoDbMetadata(functions.clients.dynamodb, functions.config.table);
    const listed: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await metadata.listExpired(Math.floor(at / 1000) + TTL, 4, cursor);
      expect(page.items.length).toBeLessThanOrEqual(4);
      listed.push(...page.items.map((i) => i.id));
      cursor = page.cursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBeGreaterThanOrEqual(7);
    expect(listed.sort()).toEqual(opened.map((s) => s.id).sort());
    // Not yet expired at one second before: none.
    expect((await metadata.listExpired(Math.floor(at / 1000) + TTL - 1, 100)).items).toEqual([]);
    // DynamoDB's TTL may delete the item only a day after the session died: the sweeper comes first.
    const item = await functions.clients.dynamodb.send(
      new GetItemCommand({
        TableName: functions.config.table,
        Key: { pk: { S: `upload#${opened[0]!.id}` }, sk: { S: 'upload' } },
        ConsistentRead: true,
      }),
    );
    expect(Number(item.Item?.ttl?.N)).toBe(opened[0]!.expiresAt + 86_400);
    expect(Number(item.Item?.expiresAt?.N)).toBe(opened[0]!.expiresAt);
    // Conditional delete: a stale version changes nothing, the current one returns what it held.
    const one = opened[0]!;
    expect(await metadata.deleteIfUnchanged(one.id, one.version + 1)).toBeUndefined();
    expect(await metadata.deleteIfUnchanged(one.id, one.version)).toMatchObject({ id: one.id, name: 'expiry/pages' });
    expect(await metadata.deleteIfUnchanged(one.id, one.version)).toBeUndefined();
    await composeUploadSweeper(functions.config, functions.clients, clockAt(Date.now())).sweep();
  });
  leftoverTest(
    'leftovers of sessions removed without their bytes (a crash in between) are freed by the next purge',
    async () => {
      const now = Date.now();
      const uploads = uploadsAt(functions, clockAt(now));
      // Three uploads cut off as a crash would leave them: the session item gone, its multipart upload
      // and staged chunk not.
      const cut = await Promise.all([0, 1, 2].map(() => openWith(uploads, 'expiry/crashed', 6 * MiB, 1 * MiB)));
      for (const session of cut) {
        await functions.clients.dynamodb.send(
          new DeleteItemCommand({
            TableName: functions.config.table,
            Key: { pk: { S: `upload#${session.id}` }, sk: { S: 'upload' } },
          }),
        );
      }
      const live = await openWith(uploads, 'expiry/crashed', 6 * MiB, 1 * MiB);
      const before = await inventory(functions);
      for (const session of cut) expect(before.multiparts).toEqual(expect.arrayContaining(multipartOf(session)));
      const sweeper = composeUploadSweeper(functions.config, functions.clients, clockAt(now));
      const result = await sweeper.sweep({ olderThanSeconds: 3600 });
      // Younger than the purge's age: left alone.
      expect(result.orphans).toBe(0);
      const purged = await composeUploadSweeper(functions.config, functions.clients, clockAt(Date.now() + 2000)).sweep({
        olderThanSeconds: 0,
      });
      expect(purged).toMatchObject({ orphans: 6, failed: 0 });
      const after = await inventory(functions);
      for (const session of cut) {
        expect(after.multiparts).not.toEqual(expect.arrayContaining(multipartOf(session)));
        expect(after.staged.filter((key) => key.startsWith(`uploads/${session.id}/`))).toEqual([]);
      }
      expect(after.sessions).not.toContain(live.id);
    },
  );
});

describe('admin CLI `uploads purge` and the scheduled handler', () => {
  let registry: TestRegistry;
  let target: string[];
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
    target = stackTarget(registry.config);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('--dry-run counts, then purge removes the expired sessions; --older-than takes old unexpired ones', async () => {
    // Sessions opened a day and a half ago expired half a day ago; one opened 3 hours ago lives 21 more.
    const earlier = uploadsAt(registry, clockAt(aDayAndAHalfAgo()));
    const expiredTail = await openWith(earlier, 'cli/app', 1 * MiB);
    const expiredMultipart = await openWith(earlier, 'cli/app', 6 * MiB, 1 * MiB);
    const old = await openWith(uploadsAt(registry, clockAt(Date.now() - 3 * 3600 * 1000)), 'cli/app', 2 * MiB);
    const current = await new RegistryClient(registry.url).request('POST', '/v2/cli/app/blobs/uploads/');
    expect(current.status).toBe(202);
    const currentId = (current.headers.get('location') as string).split('/').pop() as string;
    const before = await inventory(registry);
    expect(before.sessions).toEqual([expiredTail.id, expiredMultipart.id, old.id, currentId].sort());

    const dry = await runAdminCli(['uploads', 'purge', '--dry-run', ...target], operatorEnv());
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(dry.stdout.trim()).toBe(
      'would remove 2 expired upload sessions: 2 staged objects, 1 multipart upload, 8.0 MiB',
    );
    expect(await inventory(registry)).toEqual(before);

    // The table and bucket may come from the environment too.
    const purged = await runAdminCli(['uploads', 'purge', '--json'], {
      ...operatorEnv(),
      REGISTRY_TABLE: registry.config.table,
      REGISTRY_BUCKET: registry.config.bucket,
    });
    expect(purged).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(purged.stdout)).toEqual({
      dryRun: false,
      sessions: 2,
      objects: 2,
      multipartAborted: 1,
      bytes: 8 * MiB,
      skipped: 0,
      failed: 0,
      errors: [],
      complete: true,
      orphans: 0,
    });
    const afterExpired = await inventory(registry);
    expect(afterExpired.sessions).toEqual([old.id, currentId].sort());
    expect(afterExpired.staged).toEqual(old.tail.map((t) => t.key));
    expect(afterExpired.multiparts).toEqual([]);

    const olderDry = await runAdminCli(
      ['uploads', 'purge', '--older-than', '2', '--dry-run', ...target],
      operatorEnv(),
    );
    expect(olderDry.stdout.trim()).toBe(
      'would remove 1 expired or older than 2 h upload session: 1 staged object, 0 multipart uploads, 2.0 MiB',
    );
    const older = await runAdminCli(['uploads', 'purge', '--older-than', '2', ...target], operatorEnv());
    expect(older).toMatchObject({ code: 0, stderr: '' });
    expect(older.stdout.trim()).toBe(
      'removed 1 expired or older than 2 h upload session: 1 staged object, 0 multipart uploads, 2.0 MiB',
    );
    expect(await inventory(registry)).toMatchObject({ sessions: [currentId], staged: [], multiparts: [] });

    // Nothing left to do is no error.
    const again = await runAdminCli(['uploads', 'purge', ...target], operatorEnv());
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout.trim()).toBe('removed 0 expired upload sessions: 0 staged objects, 0 multipart uploads, 0 B');
  });

  test('--local finds the bucket and table through local-endpoints.json; usage errors exit 2', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'uploads-cli-'));
    const external = process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1';
    const endpoints: LocalEndpoints = {
      registryUrl: registry.url,
      dynamodbEndpoint: (external ? process.env.AWS_ENDPOINT_URL : process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT) ?? '',
      s3Endpoint: (external ? process.env.AWS_ENDPOINT_URL : process.env.REGISTRY_TEST_S3_ENDPOINT) ?? '',
      region: external ? (process.env.AWS_REGION ?? LOCAL_REGION) : LOCAL_REGION,
      table: registry.config.table,
      accountsTable: registry.config.auth.accountsTable,
      bucket: registry.config.bucket,
    };
    writeFileSync(join(dataDir, LOCAL_ENDPOINTS_FILE), JSON.stringify(endpoints));
    await openWith(uploadsAt(registry, clockAt(aDayAndAHalfAgo())), 'cli/local', 1000);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    const local = await runAdminCli(['uploads', 'purge', '--local', '--data-dir', dataDir], env);
    expect(local).toMatchObject({ code: 0, stderr: '' });
    expect(local.stdout.trim()).toBe('removed 1 expired upload session: 1 staged object, 0 multipart uploads, 1000 B');

    const runs = await Promise.all([
      runAdminCli(['uploads', 'purge'], operatorEnv()),
      runAdminCli(['uploads', 'purge', '--table', registry.config.table], operatorEnv()),
      runAdminCli(['uploads', 'purge', '--older-than', 'soon', ...target], operatorEnv()),
      runAdminCli(['uploads', 'purge', '--local', ...target], operatorEnv()),
      runAdminCli(['uploads', 'purge', '--help'], operatorEnv()),
    ]);
    const [noTarget, accountsFlag, badHours, both, help] = runs;
    for (const run of [noTarget, accountsFlag, badHours, both]) expect(run!.code).toBe(2);
    expect(noTarget!.stderr).toContain('--metadata-table <table> and --bucket <bucket>');
    expect(accountsFlag!.stderr).toContain('--table names an accounts table');
    expect(badHours!.stderr).toContain('--older-than takes a number of hours, got "soon"');
    expect(both!.stderr).toContain('either --local or --metadata-table');
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help!.stdout).toContain('Usage: serverless-oci-registry uploads purge [options]');
    expect(help!.stdout).toContain('--older-than <hours>');
  });

  // `script` (util-linux) gives the CLI a terminal, where it draws its progress line on stderr.
  const withTerminal = existsSync('/usr/bin/script') ? test : test.skip;
  withTerminal('on a terminal, a progress line counts sessions, objects and bytes, and is cleared', async () => {
    await openWith(uploadsAt(registry, clockAt(aDayAndAHalfAgo())), 'cli/tty', 6 * MiB, 1000);
    const command = [process.execPath, '--import', 'tsx', 'bin/admin.ts', 'uploads', 'purge', ...target].join(' ');
    const run = await new Promise<CliRun>((resolve, reject) => {
      const child = spawn('/usr/bin/script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: operatorEnv() });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr: '' }));
      child.stdin.end();
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('\r\u001b[Kpurging: 1 sessions, 1 objects, 1 multipart, 6.0 MiB');
    expect(run.stdout).toContain(
      '\r\u001b[Kremoved 1 expired upload session: 1 staged object, 1 multipart upload, 6.0 MiB',
    );
  });

  test('the scheduled Lambda handler sweeps with the function environment the stack sets', async () => {
    const session = await openWith(uploadsAt(registry, clockAt(aDayAndAHalfAgo())), 'cli/lambda', 1000);
    const saved = { ...process.env };
    Object.assign(process.env, {
      REGISTRY_BUCKET: registry.config.bucket,
      REGISTRY_TABLE: registry.config.table,
      REGISTRY_S3_FORCE_PATH_STYLE: 'true',
      ...(process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1'
        ? {}
        : {
            AWS_ENDPOINT_URL_S3: process.env.REGISTRY_TEST_S3_ENDPOINT,
            AWS_ENDPOINT_URL_DYNAMODB: process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT,
            AWS_REGION: LOCAL_REGION,
            AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
          }),
    });
    const log = jest.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const { handler } = await import('../../lambda/handlers/sweeper');
      const result = await handler({}, { getRemainingTimeInMillis: () => 300_000 });
      expect(result).toMatchObject({ sessions: 1, objects: 1, bytes: 1000, failed: 0, complete: true });
      const line = JSON.parse(log.mock.calls[0]![0] as string) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 'info', message: 'upload sweep', sessions: 1 });
    } finally {
      log.mockRestore();
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
    expect((await inventory(registry)).sessions).not.toContain(session.id);
  });
});
