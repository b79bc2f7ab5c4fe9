import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainersTools } from '../support/containers';
import { OciLayoutBuilder } from '../support/oci-layout';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';
import { requireTool } from '../support/tools';

const KiB = 1024;

/**
 * Real clients from Debian push to and pull from local mode. Layers stay below one Lambda request
 * here (about 4.5 MiB); bigger layers are the large-upload path's business.
 */
describe('real clients against local mode', () => {
  let registry: TestStack;
  const work = mkdtempSync(join(tmpdir(), 'clients-'));
  const tools = new ContainersTools(work);

  beforeAll(async () => {
    requireTool('skopeo');
    registry = await startTestStack();
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const skopeo = (...args: string[]) => tools.skopeo(...args);

  test('skopeo copies a multi-layer image in and back out with identical digests', async () => {
    const layout = new OciLayoutBuilder(join(work, 'multi'));
    const image = layout.image([3 * 1024 * KiB, 700 * KiB, 5 * KiB]);
    layout.tag(image, 'v1');
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${registry.host}/it/multi:v1`);
    const { stdout } = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/it/multi:v1`);
    expect(sha256(stdout)).toBe(image.digest);
    const back = join(work, 'multi-back');
    await skopeo('copy', '--src-tls-verify=false', `docker://${registry.host}/it/multi:v1`, `oci:${back}:v1`);
    expect(JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')).manifests[0].digest).toBe(image.digest);
    const manifest = JSON.parse(readFileSync(join(back, 'blobs', 'sha256', image.digest.slice(7)), 'utf8'));
    for (const layer of manifest.layers) {
      expect(sha256(readFileSync(join(back, 'blobs', 'sha256', layer.digest.slice(7))))).toBe(layer.digest);
    }
  });

  test('skopeo copies a multi-arch index with all its images and identical digests', async () => {
    const layout = new OciLayoutBuilder(join(work, 'index'));
    const amd64 = layout.image([400 * KiB], 'amd64');
    const arm64 = layout.image([300 * KiB, 2 * KiB], 'arm64');
    const index = layout.index([amd64, arm64]);
    layout.tag(index, 'multi');
    await skopeo(
      'copy',
      '--all',
      '--dest-tls-verify=false',
      `oci:${layout.dir}:multi`,
      `docker://${registry.host}/it/index:multi`,
    );
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/it/index:multi`);
    expect(sha256(raw.stdout)).toBe(index.digest);
    const back = join(work, 'index-back');
    await skopeo(
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${registry.host}/it/index:multi`,
      `oci:${back}:multi`,
    );
    for (const d of [index, amd64, arm64]) {
      expect(sha256(readFileSync(join(back, 'blobs', 'sha256', d.digest.slice(7))))).toBe(d.digest);
    }
  });

  test('podman pulls an image pushed by skopeo', async () => {
    requireTool('podman');
    const layout = new OciLayoutBuilder(join(work, 'podman'));
    const image = layout.image([200 * KiB]);
    layout.tag(image, 'latest');
    await skopeo(
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout.dir}:latest`,
      `docker://${registry.host}/it/podman:latest`,
    );
    const podman = (...args: string[]) => tools.podman(...args);
    await podman('pull', '--signature-policy', tools.policy, '--tls-verify=false', `${registry.host}/it/podman:latest`);
    const { stdout } = await podman('image', 'inspect', '--format', '{{.Digest}}', `${registry.host}/it/podman:latest`);
    expect(stdout.trim()).toBe(image.digest);
  });
});

function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
