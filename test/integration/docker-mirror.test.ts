import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestRecord } from '../../tools/local/gateway';
import { ensureClients } from '../../tools/local/tools';
import { explain, craneIn, dockerAvailable } from '../support/tools';
import { startDockerd, type Dockerd } from '../support/dockerd';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';
import { OciLayoutBuilder, type Descriptor } from '../support/oci-layout';
import { MANIFEST_ACCEPT, startUpstreamRegistry, type UpstreamRegistry } from '../support/upstream-registry';

const KiB = 1024;

const HAS_DOCKER = dockerAvailable();
const describeWithDocker = HAS_DOCKER ? describe : describe.skip;

const sha256 = (bytes: string | Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * The `*` pull-through rule as the Docker daemon's `registry-mirrors` (docs/pull-through-cache.md):
 * the daemon asks the mirror for `library/app`, not `hub/library/app`, and the rule passes that name
 * to its upstream unchanged (it is not Docker Hub). This machine has no way to Docker Hub, so
 * `docker pull app:v1` (docker.io/library/app:v1) can only succeed through the mirror.
 */
describeWithDocker('the Docker daemon with the registry as its registry-mirror', () => {
  let stack: TestStack;
  let upstream: UpstreamRegistry;
  let dockerd: Dockerd;
  let crane: string;
  let image: Descriptor;
  let configDescriptor: Descriptor;
  let layers: Descriptor[];
  /** What the upstream holds under library/app:v1: crane's digest and the sha256 of crane's config. */
  const upstreamHolds = { digest: '', config: '' };
  const work = join(tmpdir().length <= 20 ? tmpdir() : '/tmp', `dm-${process.pid}-${Date.now().toString(36)}`);

  const craneRun = (...args: string[]) => craneIn(crane, join(work, 'crane'))(...args);

  beforeAll(async () => {
    mkdirSync(join(work, 'crane'), { recursive: true });
    crane = ensureClients().crane;
    upstream = await startUpstreamRegistry();

    const layout = new OciLayoutBuilder(join(work, 'layout'));
    image = layout.image([96 * KiB, 8 * KiB]);
    layout.tag(image, 'v1');
    await upstream.push(crane, layout.dir, 'library/app', 'v1');
    upstreamHolds.digest = (await craneRun('digest', `${upstream.host}/library/app:v1`)).stdout.trim();
    upstreamHolds.config = sha256((await craneRun('config', `${upstream.host}/library/app:v1`)).stdout);
    const manifest = JSON.parse(readFileSync(join(layout.dir, 'blobs', 'sha256', image.digest.slice(7)), 'utf8')) as {
      config: Descriptor;
      layers: Descriptor[];
    };
    configDescriptor = manifest.config;
    layers = manifest.layers;

    stack = await startTestStack({ pullThrough: [{ prefix: '*', upstream: upstream.origin }] });
    dockerd = await startDockerd({
      registryMirrors: [`http://localhost:${stack.port}`],
      insecureRegistries: [stack.host],
    });
  }, STACK_START_TIMEOUT_MS);

  afterAll(async () => {
    await dockerd?.stop();
    await Promise.all([stack?.stop(), upstream?.close()]);
    rmSync(work, { recursive: true, force: true });
  });

  /** The daemon's image id and repo digests of `reference`. */
  async function inspect(reference: string): Promise<{ id: string; repoDigests: string[] }> {
    const { stdout } = await explain(
      'docker inspect',
      dockerd.docker('image', 'inspect', '--format', '{{json .Id}} {{json .RepoDigests}}', reference),
    );
    const [id, repoDigests] = stdout.trim().split(' ', 2);
    return { id: JSON.parse(id!) as string, repoDigests: JSON.parse(repoDigests!) as string[] };
  }

  /**
   * Docker Engine 20.10 resolves the tag with a HEAD (its Docker-Content-Digest), then GETs the
   * manifest by that digest and the config and layers by theirs; the blobs function answers a blob it
   * holds with a 307 to the bucket (presigned), or 200 with the bytes. Pulling again after
   * `docker rmi`, the engine may take the manifest from its own cache (its containerd's content
   * store) instead of asking the mirror for it by digest (`manifestByDigest` false).
   */
  function expectMirrorServed(served: readonly RequestRecord[], manifestByDigest: boolean): void {
    const byTag = served.filter((r) => r.path === '/v2/library/app/manifests/v1');
    expect(byTag.length).toBeGreaterThan(0);
    expect(byTag.map((r) => r.status)).toEqual(byTag.map(() => 200));
    const byDigest = served.filter((r) => r.path === `/v2/library/app/manifests/${image.digest}`);
    if (manifestByDigest) expect(byDigest.filter((r) => r.method === 'GET').length).toBeGreaterThan(0);
    expect(byDigest.map((r) => r.status)).toEqual(byDigest.map(() => 200));
    for (const blob of [configDescriptor, ...layers]) {
      const gets = served.filter((r) => r.method === 'GET' && r.path === `/v2/library/app/blobs/${blob.digest}`);
      expect(gets.length).toBeGreaterThan(0);
      for (const get of gets) expect([200, 307]).toContain(get.status);
    }
  }

  test('the layout crane pushed is what the upstream holds', () => {
    expect(upstreamHolds.digest).toBe(image.digest);
    expect(upstreamHolds.config).toBe(configDescriptor.digest);
  });

  test('docker pull app:v1 goes through the mirror and gets the upstream’s manifest digest and image id', async () => {
    const seen = stack.requests.length;
    const upstreamSeen = upstream.access.length;
    const started = Date.now();
    await explain('docker pull app:v1', dockerd.docker('pull', 'app:v1'));
    process.stdout.write(`docker pull app:v1 through the mirror: ${Date.now() - started} ms\n`);
    const upstreamAfterPull = upstream.access.length;

    const { id, repoDigests } = await inspect('app:v1');
    // Docker Engine 20.10's image id is its config's digest; docker.io/library/app is `app` to it.
    expect(id).toBe(upstreamHolds.config);
    expect(repoDigests).toEqual([`app@${upstreamHolds.digest}`]);

    // The cache fetched the name unchanged (no `library/` doubled, no prefix) from its upstream.
    const fetched = upstream.access.slice(upstreamSeen, upstreamAfterPull);
    process.stdout.write(
      `upstream requests: ${fetched.map((a) => `${a.method} ${a.path} ${a.status} (${a.userAgent})`).join('; ')}\n`,
    );
    expect(fetched.filter((a) => a.path.split('?')[0] === '/v2/library/app/manifests/v1').length).toBeGreaterThan(0);
    expect(fetched.filter((a) => a.status >= 400 && a.path !== '/v2/')).toEqual([]);

    const served = stack.requests.slice(seen);
    process.stdout.write(
      `mirror requests: ${served.map((r) => `${r.method} ${r.path} ${r.status} (${r.group})`).join('; ')}\n`,
    );
    expectMirrorServed(served, true);
    // An engine that GETs the tag itself (rather than HEAD, then GET by digest) gets the upstream's
    // bytes under the upstream's digest.
    const byTag = await fetch(`${stack.url}/v2/library/app/manifests/v1`, { headers: { Accept: MANIFEST_ACCEPT } });
    const body = Buffer.from(await byTag.arrayBuffer());
    expect(byTag.status).toBe(200);
    expect(byTag.headers.get('docker-content-digest')).toBe(upstreamHolds.digest);
    expect(sha256(body)).toBe(upstreamHolds.digest);
    expect(body.equals((await upstream.manifest('library/app', 'v1')).body)).toBe(true);
    expect(stack.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v2/library/app/manifests/v1', status: 200 });
  });

  test('with the upstream down, the daemon pulls app:v1 again from the cache with the same image id', async () => {
    await explain('docker rmi app:v1', dockerd.docker('rmi', 'app:v1'));
    await upstream.stop();
    try {
      const seen = stack.requests.length;
      const started = Date.now();
      await explain('docker pull app:v1', dockerd.docker('pull', 'app:v1'));
      process.stdout.write(`docker pull app:v1 with the upstream down: ${Date.now() - started} ms\n`);
      const { id, repoDigests } = await inspect('app:v1');
      expect(id).toBe(upstreamHolds.config);
      expect(repoDigests).toEqual([`app@${upstreamHolds.digest}`]);
      expectMirrorServed(stack.requests.slice(seen), false);
    } finally {
      await upstream.start();
    }
  });
});
