import { DynamoDbMetadata } from '../../lambda/adapters/dynamodb/dynamodb-metadata';
import { S3BlobStore } from '../../lambda/adapters/s3/s3-blob-store';
import type { Clock } from '../../lambda/core/ports/clock';
import { dayOf } from '../../lambda/core/pulls';
import { ManifestService } from '../../lambda/core/services/manifest-service';
import { runGc } from '../../tools/admin/lifecycle-cli';
import { operatorEnv, runAdminCli, stackTarget } from '../support/admin-cli';
import { RegistryClient } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const DAY = 86_400_000;

/** A clock a test runs ahead of the wall clock; the registry's functions keep real time. */
class AheadClock implements Clock {
  constructor(public aheadMs = 0) {}
  now(): number {
    return Date.now() + this.aheadMs;
  }
}

/**
 * The "not pulled for N days" rule on DynamoDB Local and versitygw: pulls record their day, the
 * policy stores the rule, `gc --dry-run` two days later lists what would go with its last-pull day,
 * and the run removes it (tags, manifest, then its blobs) while what was pulled that day stays.
 */
describe('garbage collection: not pulled for N days (local mode)', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  let target: string[];
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
    client = new RegistryClient(registry.url);
    target = stackTarget(registry.config);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  /** The admin CLI's `gc` in this process, on `clock`, with the operator's AWS environment; its output lines. */
  async function gc(args: Record<string, string | boolean>, clock: Clock): Promise<string> {
    const env = operatorEnv();
    const saved = { ...process.env };
    const lines: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: unknown) => lines.push(String(line)));
    Object.assign(process.env, env);
    try {
      await runGc({ 'metadata-table': registry.config.table, bucket: registry.config.bucket, ...args }, clock);
    } finally {
      log.mockRestore();
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
    return lines.join('\n');
  }

  test('gc --dry-run lists what was not pulled for a day, with its last pull; the run removes it, and what was pulled that day stays', async () => {
    const pulledLongAgo = await client.pushImage('idle/app', 'old');
    const neverPulled = await client.pushImage('idle/app', 'never');
    const pulledToday = await client.pushImage('idle/app', 'fresh');
    // A real pull now records today's day on the first.
    expect((await client.request('GET', '/v2/idle/app/manifests/old')).status).toBe(200);
    const realDay = dayOf(Date.now());

    const set = await runAdminCli(['policy', 'set', '--not-pulled-days', '1', ...target], operatorEnv());
    expect(set).toMatchObject({ code: 0, stderr: '' });
    const show = await runAdminCli(['policy', 'show', '--json', ...target], operatorEnv());
    expect(JSON.parse(show.stdout)).toEqual({ notPulledForDays: 1 });
    expect((await runAdminCli(['policy', 'set', '--not-pulled-days', '0', ...target], operatorEnv())).code).toBe(2);

    // Two days on, `fresh` is pulled: its day is "today" on that clock.
    const clock = new AheadClock(2 * DAY);
    const metadata = new DynamoDbMetadata(registry.clients.dynamodb, registry.config.table);
    const store = new S3BlobStore({ client: registry.clients.s3, bucket: registry.config.bucket });
    const manifests = new ManifestService(store, metadata, metadata, {
      maxManifestSize: 4 * 1024 * 1024,
      inlineLimit: 256 * 1024,
      clock,
    });
    const { record } = await manifests.get('idle/app', 'fresh', true);
    expect(await manifests.recordPull('idle/app', record)).toBe(true);

    // Nothing is old on the wall clock.
    expect(await gc({ 'dry-run': true, json: true }, new AheadClock())).toMatch(/"notPulled": \[\]/);

    const dry = await gc({ 'dry-run': true }, clock);
    expect(dry).toContain('would remove 2 tag(s), 2 manifest(s)');
    expect(dry).toContain(`idle/app@${pulledLongAgo.digest}  last pulled ${realDay}  tags: old`);
    expect(dry).toMatch(new RegExp(`idle/app@${neverPulled.digest}  never pulled, pushed \\S+Z  tags: never`));
    expect(dry).not.toContain(pulledToday.digest);
    const report = JSON.parse(await gc({ 'dry-run': true, json: true }, clock));
    expect(report.notPulled).toHaveLength(2);
    expect(report.notPulled).toContainEqual({
      repository: 'idle/app',
      digest: pulledLongAgo.digest,
      tags: ['old'],
      lastPulled: realDay,
      pushedAt: expect.stringMatching(/Z$/),
    });
    // A dry run changed nothing.
    expect((await client.request('GET', '/v2/idle/app/manifests/never')).status).toBe(200);

    const run = await gc({}, clock);
    expect(run).toMatch(/removed 2 tag\(s\), 2 manifest\(s\), \d+ link\(s\), 4 blob\(s\)/);
    for (const tag of ['old', 'never']) {
      expect((await client.request('GET', `/v2/idle/app/manifests/${tag}`)).status).toBe(404);
    }
    expect((await client.request('GET', `/v2/idle/app/manifests/${neverPulled.digest}`)).status).toBe(404);
    const fresh = await client.request('GET', '/v2/idle/app/manifests/fresh');
    expect(fresh.status).toBe(200);
    // The blobs only the removed manifests used are gone; those of the one that stays still serve.
    const layerOf = (body: string) => (JSON.parse(body) as { layers: { digest: string }[] }).layers[0]!.digest;
    expect((await client.request('GET', `/v2/idle/app/blobs/${layerOf(pulledLongAgo.body)}`)).status).toBe(404);
    expect((await client.request('GET', `/v2/idle/app/blobs/${layerOf(pulledToday.body)}`)).status).toBe(307);
    expect(await gc({ 'dry-run': true, json: true }, clock)).toMatch(/"notPulled": \[\]/);
  }, 120_000);
});
