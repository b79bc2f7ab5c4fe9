import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { RequestRecord } from '../../tools/local/gateway';
import { ensureClients } from '../../tools/local/tools';
import { createPushHelper } from '../../tools/push-helper/relay';
import { ContainersTools } from '../support/containers';
import { startDockerd } from '../support/dockerd';
import { OciLayoutBuilder, type Descriptor } from '../support/oci-layout';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';
import { requireTool } from '../support/tools';

const run = promisify(execFile);

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `localhost:${(server.address() as AddressInfo).port}`;
}

/**
 * A registry deployed without the upload data path takes about 4.5 MiB per request. Through the push
 * helper, a 64 MiB layer reaches it all the same: by default its bytes go to the bucket through
 * presigned part URLs and the registry reads them back to verify them; in chunks mode they reach the
 * registry as 4 MiB chunks, which it verifies as it verifies any chunked upload.
 */
describe('push helper relaying to a registry without the upload data path', () => {
  let registry: TestStack;
  let helper: Server;
  let helperHost: string;
  let chunksHelper: Server;
  let chunksHost: string;
  let partsHelper: Server;
  let partsHost: string;
  const work = mkdtempSync(join(tmpdir(), 'push-helper-'));
  const tools = new ContainersTools(work);

  beforeAll(async () => {
    requireTool('skopeo');
    registry = await startTestStack({ uploader: false });
    helper = createPushHelper({ upstream: registry.url });
    helperHost = await listen(helper);
    chunksHelper = createPushHelper({ upstream: registry.url, mode: 'chunks' });
    chunksHost = await listen(chunksHelper);
    partsHelper = createPushHelper({ upstream: registry.url, spool: false });
    partsHost = await listen(partsHelper);
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await new Promise((resolve) => helper?.close(resolve));
    await new Promise((resolve) => chunksHelper?.close(resolve));
    await new Promise((resolve) => partsHelper?.close(resolve));
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** The requests the registry served while `action` ran. */
  async function servedDuring(action: () => Promise<unknown>): Promise<RequestRecord[]> {
    const before = registry.requests.length;
    await action();
    return registry.requests.slice(before);
  }

  /** skopeo's pull back through `host`, re-hashed: the layer it stored under `digest` is intact. */
  async function pullsBackIntact(host: string, ref: string): Promise<void> {
    const pushed = await fetch(`${registry.url}/v2/${ref.replace(':', '/manifests/')}`);
    const stored = (await pushed.json()) as { layers: Descriptor[] };
    const storedLayer = stored.layers[0] as Descriptor;
    const back = join(work, `back-${randomBytes(4).toString('hex')}`);
    await tools.skopeo('copy', '--src-tls-verify=false', `docker://${host}/${ref}`, `oci:${back}:v1`);
    const bytes = readFileSync(join(back, 'blobs', 'sha256', storedLayer.digest.slice(7)));
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(storedLayer.digest);
  }

  function layoutWith64MiBLayer(dir: string): { layout: OciLayoutBuilder; layer: Descriptor } {
    const layout = new OciLayoutBuilder(join(work, dir));
    const image = layout.image([64 * 1024 * 1024], 'amd64', false);
    layout.tag(image, 'v1');
    const manifest = JSON.parse(readFileSync(join(layout.dir, 'blobs', 'sha256', image.digest.slice(7)), 'utf8'));
    return { layout, layer: manifest.layers[0] as Descriptor };
  }

  test.each([
    ['spooled, one checked PUT per blob', 'direct'],
    ['in parts (--parts), read back', 'parts'],
  ])(
    'skopeo: in direct mode no byte of the layer passes through the registry (%s)',
    async (_, repo) => {
      const host = repo === 'parts' ? partsHost : helperHost;
      const { layout } = layoutWith64MiBLayer(`${repo}-img`);
      const served = await servedDuring(() =>
        tools.skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${host}/helper/${repo}:v1`),
      );
      expect(served.filter((r) => r.method === 'PATCH' || r.method === 'PUT').map((r) => r.path)).toEqual([
        `/v2/helper/${repo}/manifests/v1`,
      ]);
      // Per blob (layer and config): one URL request (?put=, or ?parts= for 4 parts of 16 MiB), one finish.
      const posts = served.filter((r) => r.method === 'POST' && r.path !== `/v2/helper/${repo}/blobs/uploads/`);
      expect(posts.map((r) => r.status).sort()).toEqual([200, 200, 201, 201]);
      await pullsBackIntact(host, `helper/${repo}:v1`);
    },
    180_000,
  );

  test('docker (Docker Engine): `docker push localhost:<port>/…` through the helper, layer direct to the bucket', async () => {
    const { layout, layer } = layoutWith64MiBLayer('docker-img');
    const ref = `${helperHost}/helper/docker:v1`;
    const archive = join(work, 'docker.tar');
    await tools.skopeo('copy', `oci:${layout.dir}:v1`, `docker-archive:${archive}:${ref}`);
    const dockerd = await startDockerd();
    try {
      await dockerd.docker('load', '-i', archive);
      const served = await servedDuring(() => dockerd.docker('push', ref));
      expect(served.some((r) => r.method === 'PATCH')).toBe(false);
      expect(served.filter((r) => r.method === 'POST' && r.status === 201).length).toBeGreaterThanOrEqual(2);
      // docker compresses the layer it pushes: find it through the manifest.
      const manifest = await fetch(`${registry.url}/v2/helper/docker/manifests/v1`, {
        headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      const [pushedLayer] = ((await manifest.json()) as { layers: Descriptor[] }).layers;
      expect(pushedLayer?.size).toBeGreaterThan(layer.size / 2);
      const head = await fetch(`${registry.url}/v2/helper/docker/blobs/${pushedLayer?.digest}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      const imageId = (await dockerd.docker('inspect', '--format', '{{.Id}}', ref)).stdout.trim();
      await dockerd.docker('rmi', ref);
      await dockerd.docker('pull', ref);
      expect((await dockerd.docker('inspect', '--format', '{{.Id}}', ref)).stdout.trim()).toBe(imageId);
    } finally {
      await dockerd.stop();
    }
  }, 300_000);

  test('oras: a whole-blob upload (POST, then PUT with the body) goes direct too', async () => {
    const dir = join(work, 'oras');
    mkdirSync(dir, { recursive: true });
    const bytes = randomBytes(24 * 1024 * 1024);
    writeFileSync(join(dir, 'artifact.bin'), bytes);
    const oras = ensureClients().oras;
    const served = await servedDuring(() =>
      run(oras, ['push', '--plain-http', `${helperHost}/helper/oras:v1`, 'artifact.bin'], { cwd: dir }),
    );
    expect(served.some((r) => r.method === 'PATCH')).toBe(false);
    expect(served.filter((r) => r.method === 'POST' && r.status === 201)).toHaveLength(2); // artifact, config
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const head = await fetch(`${registry.url}/v2/helper/oras/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const out = join(dir, 'out');
    await run(oras, ['pull', '--plain-http', `${helperHost}/helper/oras:v1`, '-o', out]);
    expect(
      createHash('sha256')
        .update(readFileSync(join(out, 'artifact.bin')))
        .digest('hex'),
    ).toBe(digest.slice(7));
  }, 180_000);

  test('chunks with Content-Range go direct too; one that does not start where the upload ends gets 416', async () => {
    const bytes = randomBytes(7 * 1024 * 1024);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const helper = (path: string, init: RequestInit = {}) =>
      fetch(new URL(path, `http://${helperHost}`), { redirect: 'manual', ...init });
    const start = await helper('/v2/helper/chunks/blobs/uploads/', { method: 'POST' });
    const location = start.headers.get('location') as string;
    const chunk = (from: number, to: number) =>
      helper(location, {
        method: 'PATCH',
        headers: { 'Content-Range': `${from}-${to - 1}`, 'Content-Type': 'application/octet-stream' },
        body: bytes.subarray(from, to),
      });
    const first = await chunk(0, 5 * 1024 * 1024);
    expect([first.status, first.headers.get('range')]).toEqual([202, `0-${5 * 1024 * 1024 - 1}`]);
    const wrong = await chunk(1024, 2048);
    expect([wrong.status, wrong.headers.get('range')]).toEqual([416, `0-${5 * 1024 * 1024 - 1}`]);
    expect((await chunk(5 * 1024 * 1024, bytes.length)).status).toBe(202);
    const status = await helper(location);
    expect([status.status, status.headers.get('range')]).toEqual([204, `0-${bytes.length - 1}`]);
    const done = await helper(`${location}?digest=${digest}`, { method: 'PUT' });
    expect([done.status, done.headers.get('docker-content-digest')]).toEqual([201, digest]);
    const head = await fetch(`${registry.url}/v2/helper/chunks/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  test('a push of a 64 MiB layer without the helper is refused with the limit; in chunks mode it lands intact', async () => {
    const { layout, layer } = layoutWith64MiBLayer('img');

    const direct = await tools
      .skopeo(
        'copy',
        '--preserve-digests',
        '--dest-tls-verify=false',
        '--retry-times',
        '0',
        `oci:${layout.dir}:v1`,
        `docker://${registry.host}/helper/refused:v1`,
      )
      .then(
        () => 'pushed',
        (err: { stderr?: string }) => err.stderr ?? 'failed',
      );
    // The gateway reads the refused body to its end before it answers, so skopeo reads the 413
    // instead of failing on a broken pipe.
    expect(direct).toMatch(/413|too large|SIZE_INVALID/i);
    expect(direct).not.toMatch(/broken pipe|connection reset/i);
    const refused = await fetch(`${registry.url}/v2/helper/refused/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(refused.status).toBe(404);

    const served = await servedDuring(() =>
      tools.skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${chunksHost}/helper/app:v1`),
    );
    const patches = served.filter((r) => r.method === 'PATCH');
    expect(patches.length).toBeGreaterThanOrEqual(16);
    expect(patches.every((r) => r.status === 202 && r.group === 'blobs')).toBe(true);

    const pushed = await fetch(`${registry.url}/v2/helper/app/manifests/v1`);
    const stored = (await pushed.json()) as { layers: Descriptor[] };
    expect((stored.layers[0] as Descriptor).size).toBeGreaterThanOrEqual(layer.size);
    await pullsBackIntact(chunksHost, 'helper/app:v1');
  }, 180_000);
});
