import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../lambda/core/ports/clock';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { ensureClients } from '../../tools/local/tools';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';
import { OciLayoutBuilder, type Descriptor } from '../support/oci-layout';
import { craneIn } from '../support/tools';
import { startUpstreamRegistry, type UpstreamRegistry } from '../support/upstream-registry';

const MiB = 1024 * 1024;
const PASSWORD = 'a reader password';
const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * The pull-through cache under our own access control (docs/pull-through-cache.md, "Rules"): token
 * mode, a user who may pull the cached repositories and one who may not. A layer past the blobs
 * function's 64 MiB is filled by the uploader, which the client reaches by the blobs function's
 * same-host redirect, its credentials with it; the fill checks them as a blob GET does.
 */
describe('pull-through cache with token auth', () => {
  let upstream: UpstreamRegistry;
  let stack: TestStack;
  let crane: string;
  let image: Descriptor;
  let layer: Descriptor;
  const work = join(tmpdir().length <= 20 ? tmpdir() : '/tmp', `pta-${process.pid}-${Date.now().toString(36)}`);

  /** crane as `user`, logged in with its own config directory. */
  const craneAs = (user: string, ...args: string[]) => craneIn(crane, join(work, user))(...args);

  beforeAll(async () => {
    crane = ensureClients().crane;
    upstream = await startUpstreamRegistry();
    const layout = new OciLayoutBuilder(join(work, 'layout'));
    image = layout.image([80 * MiB], 'amd64', false);
    layout.tag(image, 'v1');
    await upstream.push(crane, layout.dir, 'team/app', 'v1');
    const manifest = JSON.parse(readFileSync(join(layout.dir, 'blobs', 'sha256', image.digest.slice(7)), 'utf8')) as {
      layers: Descriptor[];
    };
    layer = manifest.layers[0]!;
    rmSync(join(work, 'layout'), { recursive: true, force: true });

    stack = await startTestStack({
      auth: { mode: 'token' },
      pullThrough: [{ prefix: 'up', upstream: upstream.origin, tagTtlSeconds: 60 }],
    });
    const admin = new AccountAdmin(stack.accounts, systemClock);
    await admin.addUser('reader', { password: PASSWORD });
    await admin.grant('reader', 'up/*', ['pull']);
    await admin.addUser('stranger', { password: PASSWORD });
    await admin.grant('stranger', 'mine/*', ['pull', 'push']);
    for (const user of ['reader', 'stranger']) {
      mkdirSync(join(work, user), { recursive: true });
      await craneAs(user, 'auth', 'login', stack.host, '-u', user, '-p', PASSWORD);
    }
  }, STACK_START_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all([stack?.stop(), upstream?.close()]);
    rmSync(work, { recursive: true, force: true });
  });

  test('a user who may pull gets the image, its large layer through the uploader’s fill, byte for byte', async () => {
    const seen = stack.requests.length;
    const out = join(work, 'pulled');
    await craneAs('reader', 'pull', '--format', 'oci', `${stack.host}/up/team/app:v1`, out);
    const bytes = readFileSync(join(out, 'blobs', 'sha256', layer.digest.slice(7)));
    expect(bytes.length).toBe(layer.size);
    expect(sha256(bytes)).toBe(layer.digest);
    const served = stack.requests.slice(seen);
    const fill = served.filter((r) => r.path === `/v2/up/team/app/blobs/_fill/${layer.digest}`);
    expect(fill.map((r) => [r.group, r.status])).toEqual([['uploader', 200]]);
    expect(upstream.count('GET', `/v2/team/app/blobs/${layer.digest}`)).toBe(1);
  });

  test('the fill path asks for credentials like any blob GET; a caller without pull there is denied', async () => {
    const anonymous = await fetch(`${stack.url}/v2/up/team/app/blobs/_fill/${layer.digest}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer realm=.*scope="repository:up\/team\/app:pull"/);
    await expect(craneAs('stranger', 'manifest', `${stack.host}/up/team/app:v1`)).rejects.toThrow(/DENIED/);
    await expect(craneAs('stranger', 'blob', `${stack.host}/up/team/app@${layer.digest}`)).rejects.toThrow(
      /DENIED|UNAUTHORIZED/,
    );
  });

  test('a reader’s push into the cache is denied', async () => {
    await expect(craneAs('reader', 'tag', `${stack.host}/up/team/app:v1`, 'v2')).rejects.toThrow(/DENIED/);
  });
});
