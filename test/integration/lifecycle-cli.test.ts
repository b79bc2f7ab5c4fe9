import { operatorEnv, runAdminCli, stackTarget } from '../support/admin-cli';
import { RegistryClient } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

/** The admin CLI's `gc`, `du`, `verify` and `policy` against a stack's table and bucket. */
describe('admin CLI: gc, du, verify, policy', () => {
  let registry: TestRegistry;
  let target: string[];
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
    target = stackTarget(registry.config);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('du and verify report on what was pushed; gc --dry-run within the grace period finds nothing', async () => {
    const client = new RegistryClient(registry.url);
    await client.pushImage('cli/one', 'v1');
    await client.pushImage('cli/two', 'v1');
    const du = await runAdminCli(['du', '--json', ...target], operatorEnv());
    expect(du).toMatchObject({ code: 0, stderr: '' });
    const usage = JSON.parse(du.stdout) as { repository: string; blobs: number; bytes: number }[];
    expect(usage.map((u) => u.repository).sort()).toEqual(['cli/one', 'cli/two']);
    expect(usage.every((u) => u.blobs === 2 && u.bytes > 0)).toBe(true);

    const verify = await runAdminCli(['verify', ...target], operatorEnv());
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/4 blob\(s\), .* re-hashed; 0 mismatch\(es\)/);

    const dry = await runAdminCli(['gc', '--dry-run', '--json', ...target], operatorEnv());
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, manifests: 0, links: 0, blobs: 0 });
    expect((await runAdminCli(['gc', '--grace-hours', '0', ...target], operatorEnv())).code).toBe(2);
  }, 60_000);

  test('policy set stores rules and the manifests function enforces an immutable tag within its cache time', async () => {
    const set = await runAdminCli(
      [
        'policy',
        'set',
        '--immutable',
        'locked/*:v*',
        '--retention',
        'ci/*:build-*=3',
        '--untagged-days',
        'never',
        ...target,
      ],
      operatorEnv(),
    );
    expect(set).toMatchObject({ code: 0, stderr: '' });
    const show = await runAdminCli(['policy', 'show', '--json', ...target], operatorEnv());
    expect(JSON.parse(show.stdout)).toEqual({
      immutableTags: [{ repository: 'locked/*', tag: 'v*' }],
      tagRetention: [{ repository: 'ci/*', tag: 'build-*', keepLast: 3 }],
      untaggedRetentionDays: null,
    });
    const bad = await runAdminCli(['policy', 'set', '--retention', 'ci/*:build-*', ...target], operatorEnv());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('keep last');
    // This registry's functions started before the rule and cache the policy for a minute; a fresh one applies it.
    const fresh = await startTestRegistryOn(registry);
    try {
      const client = new RegistryClient(fresh.url);
      await client.pushImage('locked/app', 'v1');
      await expect(client.pushImage('locked/app', 'v1')).rejects.toThrow(/403.*immutable/);
      await client.pushImage('locked/app', 'latest');
      await client.pushImage('locked/app', 'latest');
    } finally {
      await fresh.stop();
    }
  }, 60_000);
});

/** A second registry on the same table and bucket, as another function instance would be. */
async function startTestRegistryOn(registry: TestRegistry) {
  const { startLocalRegistry } = await import('../../tools/local/registry');
  return startLocalRegistry({
    port: 0,
    dataDir: registry.dataDir,
    clients: registry.clients,
    bucket: registry.config.bucket,
    table: registry.config.table,
    uploader: false,
  });
}
