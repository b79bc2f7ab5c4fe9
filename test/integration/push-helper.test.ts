import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { createPushHelper } from '../../lambda/push-helper/relay';
import { ContainersTools } from '../support/containers';
import { OciLayoutBuilder, type Descriptor } from '../support/oci-layout';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';
import { requireTool } from '../support/tools';

/**
 * A registry deployed without the upload data path takes about 4.5 MiB per request. Through the push
 * helper, skopeo's single 64 MiB PATCH reaches it as 4 MiB chunks, which the registry verifies as it
 * verifies any chunked upload.
 */
describe('push helper relaying to a registry without the upload data path', () => {
  let registry: TestRegistry;
  let helper: Server;
  let helperHost: string;
  const work = mkdtempSync(join(tmpdir(), 'push-helper-'));
  const tools = new ContainersTools(work);

  beforeAll(async () => {
    requireTool('skopeo');
    registry = await startTestRegistry({ uploader: false });
    helper = createPushHelper({ upstream: registry.url });
    await new Promise<void>((resolve) => helper.listen(0, '127.0.0.1', resolve));
    helperHost = `localhost:${(helper.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => helper?.close(resolve));
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('a direct push of a 64 MiB layer is refused with the limit; through the helper it lands intact', async () => {
    const layout = new OciLayoutBuilder(join(work, 'img'));
    const image = layout.image([64 * 1024 * 1024], 'amd64', false);
    layout.tag(image, 'v1');
    const manifest = JSON.parse(readFileSync(join(layout.dir, 'blobs', 'sha256', image.digest.slice(7)), 'utf8'));
    const layer = manifest.layers[0] as Descriptor;

    const direct = await tools
      .skopeo(
        'copy',
        '--preserve-digests',
        '--dest-tls-verify=false',
        '--retry-times',
        '0',
        `oci:${layout.dir}:v1`,
        `docker://${registry.host}/helper/direct:v1`,
      )
      .then(
        () => 'pushed',
        (err: { stderr?: string }) => err.stderr ?? 'failed',
      );
    expect(direct).toMatch(/413|too large|SIZE_INVALID/i);

    const before = registry.requests.length;
    await tools.skopeo(
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout.dir}:v1`,
      `docker://${helperHost}/helper/app:v1`,
    );
    const patches = registry.requests.slice(before).filter((r) => r.method === 'PATCH');
    expect(patches.length).toBeGreaterThanOrEqual(16);
    expect(patches.every((r) => r.status === 202 && r.group === 'blobs')).toBe(true);

    const pushed = await fetch(`${registry.url}/v2/helper/app/manifests/v1`);
    const stored = (await pushed.json()) as { layers: Descriptor[] };
    const storedLayer = stored.layers[0] as Descriptor;
    expect(storedLayer.size).toBeGreaterThanOrEqual(layer.size);
    const back = join(work, 'back');
    await tools.skopeo('copy', '--src-tls-verify=false', `docker://${helperHost}/helper/app:v1`, `oci:${back}:v1`);
    const bytes = readFileSync(join(back, 'blobs', 'sha256', storedLayer.digest.slice(7)));
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(storedLayer.digest);
  }, 180_000);
});
