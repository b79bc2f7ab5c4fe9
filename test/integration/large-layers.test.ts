import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureClients } from '../../tools/local/tools';
import { OciLayoutBuilder, type Descriptor } from '../support/oci-layout';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';
import { ContainersTools } from '../support/containers';
import { startDockerd } from '../support/dockerd';
import { requireTool } from '../support/tools';

const run = promisify(execFile);
const LAYER_SIZE = 256 * 1024 * 1024;

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Every stock client sends a whole layer in one request (a streamed PATCH, or a PUT). With the
 * functions' 6 MB payload limit enforced, a 256 MiB layer goes through only because local mode, like
 * the deployed stack, routes uploads to the streaming upload data path.
 */
describe('256 MiB layers from stock clients', () => {
  let registry: TestStack;
  let tools: ReturnType<typeof ensureClients>;
  // Lowercase on purpose: podman names images after their layout's path.
  const work = join(tmpdir(), `large-layers-${process.pid}-${Date.now()}`);
  const containers = new ContainersTools(work);
  const { env, policy } = containers;

  beforeAll(async () => {
    mkdirSync(work, { recursive: true });
    tools = ensureClients();
    registry = await startTestStack();
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** A fresh image with one 256 MiB uncompressed layer, so no client can skip the upload. */
  function bigImage(name: string): { layout: OciLayoutBuilder; image: Descriptor; layer: Descriptor } {
    const layout = new OciLayoutBuilder(join(work, name));
    const image = layout.image([LAYER_SIZE], 'amd64', false);
    layout.tag(image, 'v1');
    const manifest = JSON.parse(readFileSync(join(layout.dir, 'blobs', 'sha256', image.digest.slice(7)), 'utf8'));
    return { layout, image, layer: manifest.layers[0] as Descriptor };
  }

  /** The registry holds the manifest under the tag, and the layer with its full size. */
  async function expectStored(repo: string, image: Descriptor, layer: Descriptor): Promise<void> {
    const manifest = await fetch(`${registry.url}/v2/${repo}/manifests/v1`, { method: 'HEAD' });
    expect(manifest.headers.get('docker-content-digest')).toBe(image.digest);
    const blob = await fetch(`${registry.url}/v2/${repo}/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(blob.status).toBe(200);
    expect(Number(blob.headers.get('content-length'))).toBe(layer.size);
    const bodies = registry.requests.filter((r) => r.path.startsWith(`/v2/${repo}/blobs/uploads/`));
    expect(bodies.every((r) => r.group === 'uploader')).toBe(true);
  }

  test('skopeo', async () => {
    requireTool('skopeo');
    const { layout } = bigImage('skopeo');
    const skopeo = (...args: string[]) => containers.skopeo(...args);
    // skopeo gzips uncompressed layers on the way (random bytes stay ~256 MiB), so the pushed
    // manifest is the one it reports, not the layout's.
    const digestFile = join(work, 'skopeo.digest');
    const ref = `docker://${registry.host}/large/skopeo:v1`;
    await skopeo('copy', '--dest-tls-verify=false', '--digestfile', digestFile, `oci:${layout.dir}:v1`, ref);
    const pushed = readFileSync(digestFile, 'utf8').trim();
    const manifest = await fetch(`${registry.url}/v2/large/skopeo/manifests/v1`);
    expect(manifest.headers.get('docker-content-digest')).toBe(pushed);
    const layer = ((await manifest.json()) as { layers: Descriptor[] }).layers[0] as Descriptor;
    expect(layer.size).toBeGreaterThan(LAYER_SIZE);
    const back = join(work, 'skopeo-back');
    await skopeo('copy', '--src-tls-verify=false', ref, `oci:${back}:v1`);
    expect(await fileDigest(join(back, 'blobs', 'sha256', layer.digest.slice(7)))).toBe(layer.digest);
    const index = JSON.parse(readFileSync(join(back, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(pushed);
  }, 180_000);

  test('podman', async () => {
    requireTool('podman');
    const { layout } = bigImage('podman');
    const podman = (...args: string[]) => containers.podman(...args);
    const ref = `${registry.host}/large/podman:v1`;
    await podman('pull', '--signature-policy', policy, `oci:${layout.dir}:v1`);
    const { stdout: id } = await podman('images', '--quiet', '--no-trunc', '--filter', 'dangling=false');
    const imageId = id.trim().split('\n')[0] as string;
    const digestFile = join(work, 'podman.digest');
    await podman('push', '--signature-policy', policy, '--tls-verify=false', '--digestfile', digestFile, imageId, ref);
    const pushed = readFileSync(digestFile, 'utf8').trim();
    const head = await fetch(`${registry.url}/v2/large/podman/manifests/v1`, { method: 'HEAD' });
    expect(head.headers.get('docker-content-digest')).toBe(pushed);
    await podman('rmi', '--all', '--force');
    await podman('pull', '--signature-policy', policy, '--tls-verify=false', ref);
    const { stdout } = await podman('image', 'inspect', '--format', '{{.Digest}}', ref);
    expect(stdout.trim()).toBe(pushed);
  }, 240_000);

  test('crane', async () => {
    const { layout, image, layer } = bigImage('crane');
    const ref = `${registry.host}/large/crane:v1`;
    await run(tools.crane, ['push', '--insecure', layout.dir, ref], { env });
    await expectStored('large/crane', image, layer);
    const back = join(work, 'crane-back');
    await run(tools.crane, ['pull', '--insecure', '--format', 'oci', ref, back], { env });
    expect(await fileDigest(join(back, 'blobs', 'sha256', layer.digest.slice(7)))).toBe(layer.digest);
  }, 180_000);

  test('oras', async () => {
    const { layout, image, layer } = bigImage('oras');
    const ref = `${registry.host}/large/oras:v1`;
    await run(tools.oras, ['cp', '--from-oci-layout', `${layout.dir}:v1`, '--to-plain-http', ref], { env });
    await expectStored('large/oras', image, layer);
    const back = join(work, 'oras-back');
    await run(tools.oras, ['cp', '--from-plain-http', ref, '--to-oci-layout', `${back}:v1`], { env });
    expect(await fileDigest(join(back, 'blobs', 'sha256', layer.digest.slice(7)))).toBe(layer.digest);
  }, 180_000);

  test('regctl', async () => {
    const { layout, image, layer } = bigImage('regctl');
    const ref = `${registry.host}/large/regctl:v1`;
    const host = ['--host', `reg=${registry.host},tls=disabled`];
    await run(tools.regctl, [...host, 'image', 'copy', `ocidir://${layout.dir}:v1`, ref], { env });
    await expectStored('large/regctl', image, layer);
    const back = join(work, 'regctl-back');
    await run(tools.regctl, [...host, 'image', 'copy', ref, `ocidir://${back}:v1`], { env });
    expect(await fileDigest(join(back, 'blobs', 'sha256', layer.digest.slice(7)))).toBe(layer.digest);
  }, 180_000);

  test('docker (Docker Engine, classic store: one chunked PATCH per layer)', async () => {
    requireTool('skopeo');
    const { layout } = bigImage('docker');
    const archive = join(work, 'docker.tar');
    const ref = `${registry.host}/large/docker:v1`;
    await containers.skopeo('copy', `oci:${layout.dir}:v1`, `docker-archive:${archive}:${ref}`);
    const dockerd = await startDockerd();
    try {
      await dockerd.docker('load', '-i', archive);
      const imageId = (await dockerd.docker('inspect', '--format', '{{.Id}}', ref)).stdout.trim();
      await dockerd.docker('push', ref);
      const pushed = (await dockerd.docker('inspect', '--format', '{{index .RepoDigests 0}}', ref)).stdout.trim();
      const head = await fetch(`${registry.url}/v2/large/docker/manifests/v1`, {
        method: 'HEAD',
        headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      expect(`${registry.host}/large/docker@${head.headers.get('docker-content-digest')}`).toBe(pushed);
      await dockerd.docker('rmi', ref);
      await dockerd.docker('pull', ref);
      expect((await dockerd.docker('inspect', '--format', '{{.Id}}', ref)).stdout.trim()).toBe(imageId);
      expect((await dockerd.docker('inspect', '--format', '{{index .RepoDigests 0}}', ref)).stdout.trim()).toBe(pushed);
    } finally {
      await dockerd.stop();
    }
  }, 300_000);
});
