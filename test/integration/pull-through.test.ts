import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ensureClients } from '../../tools/local/tools';
import { ContainersTools } from '../support/containers';
import { startDockerd, type Dockerd } from '../support/dockerd';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';
import { OciLayoutBuilder, type Descriptor } from '../support/oci-layout';
import { requireTool, explain, craneIn, dockerAvailable } from '../support/tools';
import { MANIFEST_ACCEPT, startUpstreamRegistry, type UpstreamRegistry } from '../support/upstream-registry';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The rules' tag TTL: short, so that a moved tag is seen within the test, long enough to see it is not before. */
const TAG_TTL_SECONDS = 4;
const CREDENTIALS = { username: 'mirror', password: 'an upstream password' };

const HAS_DOCKER = dockerAvailable();
const dockerTest = HAS_DOCKER ? test : test.skip;

/**
 * The pull-through cache (docs/pull-through-cache.md) in the synthesized stack, with CNCF
 * distribution on loopback as the upstreams: one open, one behind htpasswd Basic auth. Images are
 * pushed only upstream; skopeo, crane and docker pull them through the cache under the rules'
 * prefixes (`open/…`, `auth/…`) and get the upstream's digests, also while the upstream is down.
 */
describe('pull-through cache with distribution as the upstream', () => {
  let stack: TestStack;
  let open: UpstreamRegistry;
  let authed: UpstreamRegistry;
  let redirecting: UpstreamRegistry;
  let crane: string;
  let dockerdStarting: Promise<Dockerd> | undefined;
  // Short: podman and containerd refuse long socket paths; skopeo keeps its state under it.
  const work = join(tmpdir().length <= 20 ? tmpdir() : '/tmp', `pt-${process.pid}-${Date.now().toString(36)}`);
  const tools = new ContainersTools(work);
  const images = {} as {
    multi: Descriptor;
    index: Descriptor;
    amd64: Descriptor;
    arm64: Descriptor;
    big: Descriptor;
    bigLayer: Descriptor;
    movingA: Descriptor;
    movingB: Descriptor;
    secret: Descriptor;
    large: Descriptor;
  };

  beforeAll(async () => {
    requireTool('skopeo');
    mkdirSync(work, { recursive: true });
    if (HAS_DOCKER) {
      dockerdStarting = startDockerd();
      dockerdStarting.catch(() => {});
    }
    crane = ensureClients().crane;
    [open, authed, redirecting] = await Promise.all([
      startUpstreamRegistry(),
      startUpstreamRegistry({ auth: CREDENTIALS }),
      startUpstreamRegistry({ storage: 's3' }),
    ]);

    const layout = (name: string) => new OciLayoutBuilder(join(work, 'layouts', name));
    const multi = layout('multi');
    images.multi = multi.image([300 * KiB, 200 * KiB, 100 * KiB]);
    multi.tag(images.multi, 'v1');
    const index = layout('index');
    images.amd64 = index.image([120 * KiB], 'amd64');
    images.arm64 = index.image([100 * KiB, 5 * KiB], 'arm64');
    images.index = index.index([images.amd64, images.arm64]);
    index.tag(images.index, 'v1');
    // Uncompressed random bytes: 256 MiB on the wire, past the blobs function's 64 MiB.
    const big = layout('big');
    images.big = big.image([256 * MiB], 'amd64', false);
    big.tag(images.big, 'v1');
    const [a, b] = [layout('moving-a'), layout('moving-b')];
    images.movingA = a.image([50 * KiB]);
    a.tag(images.movingA, 'v1');
    images.movingB = b.image([60 * KiB]);
    b.tag(images.movingB, 'next');
    const secret = layout('secret');
    images.secret = secret.image([80 * KiB, 40 * KiB]);
    secret.tag(images.secret, 'v1');
    // Past the blobs function's 64 MiB too, on the upstream that redirects: the fill path follows it.
    const large = layout('large');
    images.large = large.image([80 * MiB], 'amd64', false);
    large.tag(images.large, 'v1');
    const other = layout('other');
    other.tag(other.image([10 * KiB]), 'v1');

    await open.push(crane, multi.dir, 'pt/multi', 'v1');
    await open.push(crane, index.dir, 'pt/index', 'v1');
    await open.push(crane, a.dir, 'pt/moving', 'v1');
    await open.push(crane, b.dir, 'pt/moving', 'next');
    await open.push(crane, other.dir, 'other/thing', 'v1');
    await open.push(crane, big.dir, 'pt/big', 'v1');
    await authed.push(crane, secret.dir, 'pt/secret', 'v1');
    await redirecting.push(crane, multi.dir, 'pt/multi', 'v1');
    await redirecting.push(crane, large.dir, 'pt/large', 'v1');
    rmSync(large.dir, { recursive: true, force: true });
    const bigManifest = JSON.parse((await open.manifest('pt/big', 'v1')).body.toString()) as { layers: Descriptor[] };
    images.bigLayer = bigManifest.layers[0]!;
    rmSync(join(work, 'layouts', 'big'), { recursive: true, force: true });

    stack = await startTestStack({
      pullThrough: [
        { prefix: 'open', upstream: open.origin, allow: ['pt/*'], tagTtlSeconds: TAG_TTL_SECONDS },
        { prefix: 'auth', upstream: authed.origin, credentials: CREDENTIALS, tagTtlSeconds: TAG_TTL_SECONDS },
        // The auth upstream without its credentials: what a misconfigured rule gets.
        { prefix: 'nocreds', upstream: authed.origin, tagTtlSeconds: TAG_TTL_SECONDS },
        // An upstream that answers blob GETs with a redirect to its bucket, as Docker Hub's CDN does.
        { prefix: 'redirect', upstream: redirecting.origin, tagTtlSeconds: TAG_TTL_SECONDS },
      ],
    });
  }, STACK_START_TIMEOUT_MS);

  afterAll(async () => {
    await dockerdStarting?.then(
      (d) => d.stop(),
      () => {},
    );
    await Promise.all([stack?.stop(), open?.close(), authed?.close(), redirecting?.close()]);
    rmSync(work, { recursive: true, force: true });
  });

  const ref = (name: string, reference: string) =>
    `${stack.host}/${name}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
  const skopeo = (...args: string[]) => {
    // skopeo's oci: destination needs its parent directory.
    for (const arg of args) if (arg.startsWith('oci:')) mkdirSync(dirname(arg.slice(4)), { recursive: true });
    return explain(`skopeo ${args[0]}`, tools.skopeo(...args));
  };
  const craneRun = (...args: string[]) => craneIn(crane, join(work, 'crane'))(...args);

  /** The uploader's S3 calls and last log lines, for a failed fill's report. */
  const uploaderReport = () => {
    const calls = stack.calls.filter((c) => /uploader/i.test(c.principal) && c.service === 's3');
    const logs = stack.logs.filter((l) => l.startsWith('[uploader]')).slice(-10);
    return (
      `the uploader's S3 calls: ${calls.map((c) => `${c.operation} ${c.status}`).join(', ')}\n` +
      `uploader logs:\n${logs.join('\n')}\n`
    );
  };

  /** A request to our registry; the reply's body is read. */
  async function registry(
    method: string,
    path: string,
    init: RequestInit = {},
  ): Promise<{ status: number; headers: Headers; body: Buffer; text: string }> {
    const reply = await fetch(`${stack.url}${path}`, { method, redirect: 'manual', ...init });
    const body = Buffer.from(await reply.arrayBuffer());
    return { status: reply.status, headers: reply.headers, body, text: body.toString().slice(0, 500) };
  }
  const getManifest = (name: string, reference: string) =>
    registry('GET', `/v2/${name}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });

  /**
   * Checks an OCI layout a client wrote: `top` is in its index.json, and every blob the tree under it
   * references (child manifests, configs, layers) is there with bytes that hash to its digest.
   * Returns the digests checked.
   */
  function checkLayout(dir: string, top: string): string[] {
    const entries = (JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] })
      .manifests;
    expect(entries.map((e) => e.digest)).toContain(top);
    const checked: string[] = [];
    const blob = (digest: string) => {
      const bytes = readFileSync(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
      expect(sha256(bytes)).toBe(digest);
      checked.push(digest);
      return bytes;
    };
    const visit = (digest: string) => {
      const doc = JSON.parse(blob(digest).toString()) as {
        manifests?: Descriptor[];
        config?: Descriptor;
        layers?: Descriptor[];
      };
      for (const child of doc.manifests ?? []) visit(child.digest);
      if (doc.config) blob(doc.config.digest);
      for (const layer of doc.layers ?? []) blob(layer.digest);
    };
    visit(top);
    return checked;
  }
  const configOf = (image: Descriptor, dir: string) =>
    (
      JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', image.digest.slice('sha256:'.length)), 'utf8')) as {
        config: Descriptor;
      }
    ).config.digest;

  // ---- the clients pull what was pushed only upstream

  test('skopeo copies the multi-layer image and the index (all platforms) through the cache with the upstream digests', async () => {
    for (const [name, image] of [
      ['open/pt/multi', images.multi],
      ['open/pt/index', images.index],
    ] as const) {
      expect((await open.manifest(name.slice('open/'.length), 'v1')).digest).toBe(image.digest);
      const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${ref(name, 'v1')}`);
      expect(sha256(raw.stdout)).toBe(image.digest);
      const dir = join(work, 'skopeo', name.replace(/\//g, '-'));
      await skopeo('copy', '--all', '--src-tls-verify=false', `docker://${ref(name, 'v1')}`, `oci:${dir}:v1`);
      const checked = checkLayout(dir, image.digest);
      // multi: manifest, config, 3 layers; index: index, 2 × (manifest, config) and 3 layers.
      expect(checked).toHaveLength(image === images.multi ? 5 : 8);
    }
  });

  test('crane reads the digests and pulls the image and the index through the cache', async () => {
    for (const [name, image] of [
      ['open/pt/multi', images.multi],
      ['open/pt/index', images.index],
    ] as const) {
      expect((await craneRun('digest', ref(name, 'v1'))).stdout.trim()).toBe(image.digest);
      const dir = join(work, 'crane-pull', name.replace(/\//g, '-'));
      await craneRun('pull', '--format', 'oci', ref(name, 'v1'), dir);
      checkLayout(dir, image.digest);
    }
    // One platform of the index, by its own digest.
    expect((await craneRun('digest', '--platform', 'linux/arm64', ref('open/pt/index', 'v1'))).stdout.trim()).toBe(
      images.arm64.digest,
    );
  });

  dockerTest('docker pulls the image and the index through the cache: same repo digest and image id', async () => {
    const dockerd = await dockerdStarting!;
    for (const [name, image, platformImage] of [
      ['open/pt/multi', images.multi, images.multi],
      ['open/pt/index', images.index, images.amd64],
    ] as const) {
      await explain('docker pull', dockerd.docker('pull', ref(name, 'v1')));
      const repoDigests = JSON.parse(
        (await dockerd.docker('inspect', '--format', '{{json .RepoDigests}}', ref(name, 'v1'))).stdout,
      ) as string[];
      expect(repoDigests).toContain(`${stack.host}/${name}@${image.digest}`);
      // Docker Engine 20.10's image id is its config's digest.
      const id = (await dockerd.docker('inspect', '--format', '{{.Id}}', ref(name, 'v1'))).stdout.trim();
      const layoutDir = join(work, 'layouts', name === 'open/pt/multi' ? 'multi' : 'index');
      expect(id).toBe(configOf(platformImage, layoutDir));
    }
  });

  // ---- the rules' limits

  test('a repository outside the rule’s allow list is 404 NAME_UNKNOWN, never fetched', async () => {
    const seen = open.access.length;
    for (const reference of ['v1', images.multi.digest]) {
      const reply = await getManifest('open/other/thing', reference);
      expectStatus(reply, 404);
      expect(JSON.parse(reply.text).errors[0].code).toBe('NAME_UNKNOWN');
    }
    const blob = await registry('GET', `/v2/open/other/thing/blobs/${images.multi.digest}`);
    expectStatus(blob, 404);
    expect(open.access.slice(seen).filter((a) => a.path.startsWith('/v2/other/'))).toEqual([]);
  });

  test('pushes and deletes to a cached repository are 403 DENIED', async () => {
    const manifest = await open.manifest('pt/multi', 'v1');
    const attempts = [
      await registry('POST', '/v2/open/pt/multi/blobs/uploads/'),
      await registry('PUT', '/v2/open/pt/multi/manifests/v2', {
        body: manifest.body,
        headers: { 'Content-Type': manifest.mediaType },
      }),
      await registry('DELETE', `/v2/open/pt/multi/manifests/${images.multi.digest}`),
    ];
    for (const reply of attempts) {
      expectStatus(reply, 403);
      expect(JSON.parse(reply.text).errors[0].code).toBe('DENIED');
    }
    // And as a client sees it.
    const layoutDir = join(work, 'layouts', 'multi');
    await expect(
      skopeo('copy', '--dest-tls-verify=false', `oci:${layoutDir}:v1`, `docker://${ref('open/pt/multi', 'pushed')}`),
    ).rejects.toThrow(/denied/i);
    // The pulls still work: nothing was deleted.
    expect((await getManifest('open/pt/multi', images.multi.digest)).status).toBe(200);
  });

  test('a rule with credentials pulls from an upstream that refuses anonymous clients', async () => {
    expect((await fetch(`${authed.origin}/v2/pt/secret/manifests/v1`)).status).toBe(401);
    const dir = join(work, 'skopeo', 'auth-secret');
    await skopeo('copy', '--src-tls-verify=false', `docker://${ref('auth/pt/secret', 'v1')}`, `oci:${dir}:v1`);
    checkLayout(dir, images.secret.digest);
    expect((await craneRun('digest', ref('auth/pt/secret', 'v1'))).stdout.trim()).toBe(images.secret.digest);
  });

  test('a rule without credentials against that upstream fails with a clear error, not a 500', async () => {
    const reply = await getManifest('nocreds/pt/secret', 'v1');
    // What the client sees, for the report.
    process.stdout.write(`nocreds manifest GET: ${reply.status} ${reply.text}\n`);
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).not.toBe(500);
    const error = (JSON.parse(reply.text) as { errors: { code: string; message: string }[] }).errors[0]!;
    expect(`${error.code} ${error.message}`).toMatch(/upstream/i);
    expect(`${error.code} ${error.message}`).toMatch(/401|unauthori[sz]ed|credential|denied|authenticat/i);
    // Nor is it passed off as ours: a digest pull fails the same way.
    const byDigest = await getManifest('nocreds/pt/secret', images.secret.digest);
    expect(byDigest.status).toBeGreaterThanOrEqual(400);
    expect(byDigest.status).not.toBe(500);
  });

  test('blobs of an upstream that redirects their downloads are fetched from where it points', async () => {
    const layer = (
      JSON.parse((await redirecting.manifest('pt/multi', 'v1')).body.toString()) as { layers: Descriptor[] }
    ).layers[0]!;
    const direct = await redirecting.fetch(`/v2/pt/multi/blobs/${layer.digest}`, { redirect: 'manual' });
    await direct.arrayBuffer();
    expect(direct.status).toBe(307);
    const dir = join(work, 'skopeo', 'redirect-multi');
    await skopeo('copy', '--src-tls-verify=false', `docker://${ref('redirect/pt/multi', 'v1')}`, `oci:${dir}:v1`);
    expect(checkLayout(dir, images.multi.digest)).toHaveLength(5);

    // A layer the uploader fills, following the upstream's redirect.
    const manifest = await getManifest('redirect/pt/large', 'v1');
    expectStatus(manifest, 200);
    expect(manifest.headers.get('docker-content-digest')).toBe(images.large.digest);
    const largeLayer = (JSON.parse(manifest.body.toString()) as { layers: Descriptor[] }).layers[0]!;
    const first = await registry('GET', `/v2/redirect/pt/large/blobs/${largeLayer.digest}`);
    expectStatus(first, 307);
    const location = new URL(first.headers.get('location') ?? '', stack.url);
    expect(location.pathname).toBe(`/v2/redirect/pt/large/blobs/_fill/${largeLayer.digest}`);
    let received = -1;
    // 80 MiB over loopback takes seconds; a minute means the fill stalled.
    const filled = await fetch(location, { signal: AbortSignal.timeout(60_000) })
      .then(async (bytes) => {
        received = 0;
        if (bytes.status !== 200) return { status: bytes.status, text: (await bytes.text()).slice(0, 500) };
        return { status: 200, text: '', ...(await hashBody(bytes, (size) => (received = size))) };
      })
      .catch((err: Error) => ({ status: 0, text: String(err) }));
    if (!('digest' in filled) || filled.digest !== largeLayer.digest) {
      // Where it stopped: what arrived, what the upstream was asked, what the uploader said.
      const upstreamLines = redirecting.access
        .filter((a) => a.path.includes(largeLayer.digest))
        .map((a) => `${a.method} ${a.status} (${a.userAgent})`);
      process.stdout.write(
        `large fill from the redirecting upstream: ${JSON.stringify(filled)}, ${received} of ${largeLayer.size} bytes\n` +
          `upstream requests for the layer: ${upstreamLines.join(', ')}\n` +
          uploaderReport(),
      );
    }
    expectStatus(filled, 200);
    expect(filled).toMatchObject({ digest: largeLayer.digest, size: largeLayer.size });
  }, 180_000);

  // ---- tags: revalidated after the TTL, not before

  test('a tag moved upstream is seen after the tag TTL and not before', async () => {
    const started = Date.now();
    const first = await getManifest('open/pt/moving', 'v1');
    expectStatus(first, 200);
    expect(first.headers.get('docker-content-digest')).toBe(images.movingA.digest);
    // The cache checked the tag at some moment until now: a TTL after now it is due again.
    const checked = Date.now();
    // Move v1 upstream to the image pushed as `next`, as a push would.
    const next = await open.manifest('pt/moving', 'next');
    expect(next.digest).toBe(images.movingB.digest);
    await open.putManifest('pt/moving', 'v1', next.body, next.mediaType);
    expect((await open.manifest('pt/moving', 'v1')).digest).toBe(images.movingB.digest);

    const before = await getManifest('open/pt/moving', 'v1');
    const elapsed = Date.now() - started;
    // The check below is only meaningful within the TTL of the first fetch.
    expect(elapsed).toBeLessThan(TAG_TTL_SECONDS * 1000);
    expect(before.headers.get('docker-content-digest')).toBe(images.movingA.digest);

    await sleep(checked + (TAG_TTL_SECONDS + 1) * 1000 - Date.now());
    const after = await getManifest('open/pt/moving', 'v1');
    expectStatus(after, 200);
    expect(after.headers.get('docker-content-digest')).toBe(images.movingB.digest);
    expect(sha256(after.body)).toBe(images.movingB.digest);
    expect((await craneRun('digest', ref('open/pt/moving', 'v1'))).stdout.trim()).toBe(images.movingB.digest);
    // The image it pointed to stays pullable by digest.
    expect((await getManifest('open/pt/moving', images.movingA.digest)).status).toBe(200);
  });

  // ---- large blobs: streamed through the uploader, fetched from the upstream once

  test('four concurrent first pulls of a 256 MiB layer all get its bytes; the upstream serves it once', async () => {
    const layer = images.bigLayer;
    const upstreamPath = `/v2/pt/big/blobs/${layer.digest}`;
    const manifest = await getManifest('open/pt/big', 'v1');
    expectStatus(manifest, 200);
    expect(manifest.headers.get('docker-content-digest')).toBe(images.big.digest);
    expect(open.count('GET', upstreamPath)).toBe(0);

    /** One pull as a client makes it: the registry's 307, then the bytes where it points, hashed. */
    const pull = async () => {
      const started = Date.now();
      // A pull that hangs is reported as such, not as the test's timeout.
      const signal = AbortSignal.timeout(120_000);
      const outcome = { status: 0, hop: '', text: '', digest: '', size: 0, ms: 0 };
      try {
        const first = await fetch(`${stack.url}/v2/open/pt/big/blobs/${layer.digest}`, { redirect: 'manual', signal });
        outcome.status = first.status;
        outcome.text = Buffer.from(await first.arrayBuffer())
          .toString()
          .slice(0, 300);
        const location = first.headers.get('location');
        if (first.status === 307 && location) {
          const target = new URL(location, stack.url);
          outcome.hop = target.pathname;
          const reply = await fetch(target, { signal });
          outcome.status = reply.status;
          if (reply.status === 200)
            Object.assign(outcome, { text: '' }, await hashBody(reply, (size) => (outcome.size = size)));
          else outcome.text = (await reply.text()).slice(0, 300);
        }
      } catch (err) {
        outcome.text = `${outcome.text} ${String((err as Error).cause ?? err)}`;
      }
      outcome.ms = Date.now() - started;
      return outcome;
    };
    const seen = open.access.length;
    const upstreamLines = () =>
      open.access
        .slice(seen)
        .filter((a) => a.path.split('?')[0] === upstreamPath)
        .map((a) => `${a.method} ${a.status} (${a.userAgent})`);
    const pulls = await Promise.all([pull(), pull(), pull(), pull()]);
    process.stdout.write(
      `concurrent large pulls:\n${pulls.map((p) => `  ${JSON.stringify(p)}`).join('\n')}\n` +
        `upstream requests for the layer: ${upstreamLines().join(', ')}\n` +
        `registry requests for the layer: ${stack.requests
          .filter((r) => r.path.includes(layer.digest))
          .map((r) => `${r.method} ${r.path.replace(layer.digest, '<digest>')} ${r.group} ${r.status}`)
          .join(', ')}\n` +
        `function and uploader logs:\n${stack.logs.slice(-20).join('\n')}\n`,
    );
    for (const pulled of pulls) {
      expectStatus(pulled, 200);
      expect({ digest: pulled.digest, size: pulled.size }).toEqual({ digest: layer.digest, size: layer.size });
    }
    // Larger than the blobs function fills: the uploader's fill path streams it.
    expect(pulls.some((p) => p.hop.endsWith(`/v2/open/pt/big/blobs/_fill/${layer.digest}`))).toBe(true);
    expect(open.count('GET', upstreamPath)).toBe(1);

    // Once filled, it comes from the bucket.
    const again = await pull();
    expectStatus(again, 200);
    expect({ digest: again.digest, size: again.size }).toEqual({ digest: layer.digest, size: layer.size });
    expect(open.count('GET', upstreamPath)).toBe(1);
  }, 240_000);

  // ---- the upstream down: what was pulled stays pullable

  test('with the upstream stopped, pulls by tag (past its TTL) and by digest are served from the cache', async () => {
    await open.stop();
    try {
      expect(
        await fetch(`${open.origin}/v2/`).then(
          () => 'answered',
          () => 'refused',
        ),
      ).toBe('refused');
      // Every tag is past its TTL now: the cache has to ask the upstream, which does not answer.
      await sleep((TAG_TTL_SECONDS + 1) * 1000);
      for (const [name, image] of [
        ['open/pt/multi', images.multi],
        ['open/pt/index', images.index],
      ] as const) {
        const byTag = await getManifest(name, 'v1');
        expectStatus(byTag, 200);
        expect(byTag.headers.get('docker-content-digest')).toBe(image.digest);
        const warning = byTag.headers.get('warning');
        if (warning) expect(warning).toMatch(/^110 /);
        process.stdout.write(`stale ${name}:v1 served with Warning: ${warning ?? '(none)'}\n`);
        expect((await getManifest(name, image.digest)).status).toBe(200);

        for (const reference of ['v1', image.digest]) {
          const by = reference === 'v1' ? 'tag' : 'digest';
          const dir = join(work, 'skopeo-down', `${name.replace(/\//g, '-')}-${by}`);
          await skopeo('copy', '--all', '--src-tls-verify=false', `docker://${ref(name, reference)}`, `oci:${dir}:v1`);
          checkLayout(dir, image.digest);
          expect((await craneRun('digest', ref(name, reference))).stdout.trim()).toBe(image.digest);
          const craneDir = join(work, 'crane-down', `${name.replace(/\//g, '-')}-${by}`);
          await craneRun('pull', '--format', 'oci', ref(name, reference), craneDir);
          checkLayout(craneDir, image.digest);
        }
      }
      if (HAS_DOCKER) {
        const dockerd = await dockerdStarting!;
        for (const [name, image] of [
          ['open/pt/multi', images.multi],
          ['open/pt/index', images.index],
        ] as const) {
          for (const reference of ['v1', image.digest]) {
            await dockerd.docker('image', 'rm', '--force', ref(name, 'v1')).catch(() => undefined);
            await dockerd
              .docker('image', 'rm', '--force', `${stack.host}/${name}@${image.digest}`)
              .catch(() => undefined);
            await explain('docker pull (upstream down)', dockerd.docker('pull', ref(name, reference)));
            const repoDigests = JSON.parse(
              (await dockerd.docker('inspect', '--format', '{{json .RepoDigests}}', ref(name, reference))).stdout,
            ) as string[];
            expect(repoDigests).toContain(`${stack.host}/${name}@${image.digest}`);
          }
        }
      }
      // The rule with credentials keeps serving what it cached, too.
      await authed.stop();
      const secret = await getManifest('auth/pt/secret', 'v1');
      expectStatus(secret, 200);
      expect(secret.headers.get('docker-content-digest')).toBe(images.secret.digest);
    } finally {
      await open.start();
      await authed.start();
    }
  }, 180_000);
});

/** Expects a reply's status, showing its body when it is another. */
function expectStatus(reply: { status: number; text: string }, status: number): void {
  expect(`${reply.status} ${reply.text}`).toMatch(new RegExp(`^${status} `));
}

function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function hashBody(reply: Response, progress?: (size: number) => void): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const reader = reply.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hash.update(value);
    size += value.length;
    progress?.(size);
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
