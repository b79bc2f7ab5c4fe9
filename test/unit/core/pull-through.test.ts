import { createHash } from 'node:crypto';
import { MemoryBlobStore } from '../../../lambda/adapters/memory/memory-blob-store';
import { MemoryFillClaims } from '../../../lambda/adapters/memory/memory-fill-claims';
import { MemoryMetadata } from '../../../lambda/adapters/memory/memory-metadata';
import { BlobService } from '../../../lambda/core/services/blob-service';
import { ManifestService } from '../../../lambda/core/services/manifest-service';
import { BlobCache, CacheRules, type CacheRule } from '../../../lambda/core/services/pull-through';
import { UploadService } from '../../../lambda/core/services/upload-service';
import {
  UpstreamError,
  type UpstreamBlob,
  type UpstreamDescriptor,
  type UpstreamManifest,
  type UpstreamRegistry,
} from '../../../lambda/core/ports/upstream';
import { ManualClock, tinyUploadOptions } from '../../support/memory-registry';
import { requestEvents, takeRecorded, withEventScope } from '../../../lambda/http/event-scope';
import { MemoryEventPublisher } from '../../../lambda/adapters/memory/memory-event-publisher';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** An upstream scripted in memory, counting what it was asked. */
class FakeUpstream implements UpstreamRegistry {
  readonly origin = 'https://upstream.example';
  readonly manifests = new Map<string, UpstreamManifest>();
  readonly tags = new Map<string, string>();
  readonly blobs = new Map<string, Uint8Array>();
  down = false;
  readonly calls: string[] = [];

  tag(repo: string, tag: string, body: Uint8Array): string {
    const digest = sha(body);
    this.manifests.set(`${repo}@${digest}`, { digest, mediaType: OCI_MANIFEST, size: body.length, body });
    this.tags.set(`${repo}:${tag}`, digest);
    return digest;
  }
  private check(call: string): void {
    this.calls.push(call);
    if (this.down) throw new UpstreamError('connection refused');
  }
  private resolve(repo: string, ref: string): UpstreamManifest | undefined {
    const digest = ref.startsWith('sha256:') ? ref : this.tags.get(`${repo}:${ref}`);
    return digest ? this.manifests.get(`${repo}@${digest}`) : undefined;
  }
  async headManifest(repo: string, ref: string): Promise<UpstreamDescriptor | undefined> {
    this.check(`HEAD ${repo}:${ref}`);
    const m = this.resolve(repo, ref);
    return m && { digest: m.digest, mediaType: m.mediaType, size: m.size };
  }
  async getManifest(repo: string, ref: string): Promise<UpstreamManifest | undefined> {
    this.check(`GET ${repo}:${ref}`);
    return this.resolve(repo, ref);
  }
  async headBlob(_repo: string, digest: string) {
    this.check(`HEAD blob ${digest}`);
    const b = this.blobs.get(digest);
    return b && { size: b.length };
  }
  async getBlob(_repo: string, digest: string): Promise<UpstreamBlob | undefined> {
    this.check(`GET blob ${digest}`);
    const b = this.blobs.get(digest);
    if (!b) return undefined;
    return {
      size: b.length,
      body: (async function* () {
        await new Promise((r) => setTimeout(r, 20));
        yield b;
      })(),
      cancel: async () => {},
    };
  }
}

function manifestOf(layers: string[], config: string): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: layers.map((d) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: d, size: 1 })),
    }),
  );
}

function setup(options: { allow?: string[]; inlineLimit?: number; fill?: boolean } = {}) {
  const upstream = new FakeUpstream();
  const clock = new ManualClock(Date.now());
  const rule: CacheRule = {
    prefix: 'hub',
    upstream,
    tagTtlSeconds: 60,
    dockerHub: true,
    ...(options.allow ? { allow: options.allow } : {}),
  };
  const rules = new CacheRules([rule]);
  const store = new MemoryBlobStore(16);
  const metadata = new MemoryMetadata();
  const uploads = new UploadService(store, metadata, metadata, clock, tinyUploadOptions());
  const claims = new MemoryFillClaims(() => clock.now());
  const blobCache = new BlobCache(
    metadata,
    async (name, digest, body, size) => uploads.putStreamed(name, (await uploads.start(name)).id, digest, body, size),
    claims,
    { now: () => Date.now() },
    {
      inlineLimit: options.inlineLimit ?? 1024,
      ...(options.fill ? { fillPath: (n: string, d: string) => `/v2/${n}/blobs/_fill/${d}` } : {}),
      waitMs: 3000,
      pollMs: 20,
      claimSeconds: 60,
      fillWaitMs: 3000,
      fillClaimSeconds: 60,
    },
  );
  const manifests = new ManifestService(store, metadata, metadata, {
    maxManifestSize: 4 * 1024 * 1024,
    inlineLimit: 256 * 1024,
    clock,
    cache: rules,
    events: requestEvents,
  });
  const blobs = new BlobService(store, metadata, 900, { rules, blobs: blobCache }, requestEvents);
  return { upstream, clock, manifests, blobs, metadata, claims, uploads };
}

describe('pull-through cache', () => {
  it('maps names to the upstream: Docker Hub library/ shorthand, allow lists, other names untouched', () => {
    const { upstream } = setup();
    const rules = new CacheRules([
      { prefix: 'hub', upstream, tagTtlSeconds: 1, dockerHub: true, allow: ['library/*'] },
      { prefix: 'ghcr', upstream, tagTtlSeconds: 1, dockerHub: false },
    ]);
    expect(rules.match('hub/nginx')?.remote).toBe('library/nginx');
    expect(rules.match('hub/library/nginx')?.remote).toBe('library/nginx');
    expect(rules.match('ghcr/org/tool')?.remote).toBe('org/tool');
    expect(rules.match('ghcr/tool')?.remote).toBe('tool');
    expect(rules.match('mine/app')).toBeUndefined();
    expect(rules.match('hub')).toBeUndefined();
    expect(() => rules.match('hub/someone/app')).toThrow(/not among what the cache rule .* allows/);
    expect(rules.covers('hub/someone/app')).toBe(true);
  });

  it('a root rule (*) serves every name no prefix rule does', () => {
    const { upstream } = setup();
    const rules = new CacheRules([
      { prefix: '*', upstream, tagTtlSeconds: 1, dockerHub: true },
      { prefix: 'ghcr', upstream, tagTtlSeconds: 1, dockerHub: false },
    ]);
    expect(rules.match('nginx')?.remote).toBe('library/nginx');
    expect(rules.match('grafana/loki')?.remote).toBe('grafana/loki');
    expect(rules.match('ghcr/org/tool')?.rule.prefix).toBe('ghcr');
  });

  it('fetches a manifest by tag once, serves it within the TTL, revalidates with a HEAD after it, follows a moved tag', async () => {
    const { upstream, clock, manifests } = setup();
    const first = manifestOf([sha(Buffer.from('a'))], sha(Buffer.from('{}')));
    const d1 = upstream.tag('library/nginx', '1.27', first);
    const got = await manifests.get('hub/nginx', '1.27', true);
    expect(got.record.digest).toBe(d1);
    expect(Buffer.from(got.body!).equals(Buffer.from(first))).toBe(true);
    expect(got.cache?.outcome).toBe('miss');
    expect(upstream.calls).toEqual(['HEAD library/nginx:1.27', `GET library/nginx:${d1}`]);

    upstream.calls.length = 0;
    expect((await manifests.get('hub/nginx', '1.27', true)).cache?.outcome).toBe('hit');
    expect((await manifests.get('hub/nginx', '1.27', false)).record.digest).toBe(d1);
    expect(upstream.calls).toEqual([]);

    clock.advance(61);
    expect((await manifests.get('hub/nginx', '1.27', true)).record.digest).toBe(d1);
    expect(upstream.calls).toEqual(['HEAD library/nginx:1.27']);
    // The check renewed the tag's age.
    upstream.calls.length = 0;
    await manifests.get('hub/nginx', '1.27', true);
    expect(upstream.calls).toEqual([]);

    const second = manifestOf([sha(Buffer.from('b'))], sha(Buffer.from('{}')));
    const d2 = upstream.tag('library/nginx', '1.27', second);
    expect((await manifests.get('hub/nginx', '1.27', true)).record.digest).toBe(d1);
    clock.advance(61);
    const moved = await manifests.get('hub/nginx', '1.27', true);
    expect(moved.record.digest).toBe(d2);
    expect(moved.cache?.outcome).toBe('miss');
    // By digest, both stay; a digest is never revalidated.
    upstream.down = true;
    upstream.calls.length = 0;
    expect((await manifests.get('hub/nginx', d1, true)).record.digest).toBe(d1);
    expect(upstream.calls).toEqual([]);
  });

  it('serves a stored tag stale while the upstream is down, and UNAVAILABLE without a copy', async () => {
    const { upstream, clock, manifests } = setup();
    const d1 = upstream.tag('library/app', 'v1', manifestOf([], sha(Buffer.from('{}'))));
    await manifests.get('hub/app', 'v1', true);
    upstream.down = true;
    clock.advance(3600);
    const stale = await manifests.get('hub/app', 'v1', true);
    expect(stale.record.digest).toBe(d1);
    expect(stale.cache?.outcome).toBe('stale');
    await expect(manifests.get('hub/app', 'v2', true)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(manifests.get('hub/app', sha(Buffer.from('x')), true)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('refuses what does not hash to its digest, unknown manifests, names outside allow, and writes', async () => {
    const { upstream, manifests } = setup({ allow: ['library/*'] });
    const body = manifestOf([], sha(Buffer.from('{}')));
    const real = upstream.tag('library/app', 'v1', body);
    const lie = sha(Buffer.from('something else'));
    upstream.manifests.set(`library/app@${lie}`, { digest: lie, mediaType: OCI_MANIFEST, size: body.length, body });
    await expect(manifests.get('hub/app', lie, true)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(manifests.get('hub/app', lie, true)).rejects.toThrow(/nothing was stored/);
    await expect(manifests.get('hub/app', 'nope', true)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(manifests.get('hub/other/app', 'v1', true)).rejects.toMatchObject({ code: 'NAME_UNKNOWN' });
    await expect(manifests.put('hub/app', 'v2', OCI_MANIFEST, body)).rejects.toMatchObject({ code: 'DENIED' });
    await expect(manifests.delete('hub/app', real)).rejects.toMatchObject({ code: 'DENIED' });
  });

  it('fills a small blob once for concurrent pulls, verified, and links blobs the bucket has already', async () => {
    const { upstream, blobs, metadata } = setup();
    const bytes = Buffer.from('layer bytes '.repeat(20));
    const digest = sha(bytes);
    upstream.blobs.set(digest, bytes);
    const results = await Promise.all([1, 2, 3, 4].map(() => blobs.locate('hub/app', digest)));
    for (const r of results) expect(r.record?.digest).toBe(digest);
    expect(upstream.calls.filter((c) => c === `GET blob ${digest}`)).toHaveLength(1);
    expect(await metadata.getLink('hub/app', digest)).toBeDefined();
    // Another cached repository: the bucket has it, so it is linked without the upstream.
    upstream.calls.length = 0;
    expect((await blobs.locate('hub/other', digest)).record?.digest).toBe(digest);
    expect((await blobs.stat('hub/third', digest)).size).toBe(bytes.length);
    expect(upstream.calls).toEqual([]);
  });

  it('keeps nothing when the upstream sends other bytes, and answers a large blob with the fill path', async () => {
    const { upstream, blobs, metadata } = setup({ inlineLimit: 64, fill: true });
    const digest = sha(Buffer.from('expected'));
    upstream.blobs.set(digest, Buffer.from('tampered'));
    await expect(blobs.locate('hub/app', digest)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await metadata.getBlob(digest)).toBeUndefined();
    const big = Buffer.alloc(1000, 7);
    upstream.blobs.set(sha(big), big);
    upstream.calls.length = 0;
    expect(await blobs.locate('hub/app', sha(big))).toEqual({ fill: `/v2/hub/app/blobs/_fill/${sha(big)}` });
    // Its size came from a HEAD: only the fill fetches it.
    expect(upstream.calls).toEqual([`HEAD blob ${sha(big)}`]);
    // HEAD asks the upstream for the size and stores nothing.
    expect((await blobs.stat('hub/app', sha(big))).size).toBe(1000);
    const opened = await blobs.openFill('hub/app', sha(big));
    if ('record' in opened) throw new Error('expected a fill');
    const record = await opened.store(opened.body);
    await opened.release();
    expect(record.digest).toBe(sha(big));
    expect(await blobs.openFill('hub/app', sha(big))).toHaveProperty('record');
  });

  it('tells what it did as events: Cache Filled on a fetch, Upstream Failed on a stale answer, cache on pulls', async () => {
    const { upstream, clock, manifests, blobs } = setup();
    const digest = upstream.tag('library/app', 'v1', manifestOf([], sha(Buffer.from('{}'))));
    const layer = Buffer.from('layer');
    upstream.blobs.set(sha(layer), layer);
    const scope = { events: new MemoryEventPublisher(), publishPulls: true };
    const recorded = (fn: () => Promise<unknown>) =>
      withEventScope(scope, async () => {
        await fn();
        return takeRecorded().map(([type, facts]) => [type, facts.cache ?? facts.upstream ?? facts.tag]);
      });
    expect(await recorded(() => manifests.get('hub/app', 'v1', true))).toEqual([
      ['Cache Filled', upstream.origin],
      ['Manifest Pulled', 'miss'],
    ]);
    expect(await recorded(() => manifests.get('hub/app', 'v1', true))).toEqual([['Manifest Pulled', 'hit']]);
    // A HEAD is no pull.
    expect(await recorded(() => manifests.get('hub/app', digest, false))).toEqual([]);
    expect(await recorded(() => blobs.locate('hub/app', sha(layer)))).toEqual([
      ['Cache Filled', upstream.origin],
      ['Blob Pulled', 'miss'],
    ]);
    upstream.down = true;
    clock.advance(3600);
    expect(await recorded(() => manifests.get('hub/app', 'v1', true))).toEqual([
      ['Upstream Failed', upstream.origin],
      ['Manifest Pulled', 'stale'],
    ]);
    // Pull events off: the cache's own events still go.
    clock.advance(3600);
    const off = await withEventScope({ events: scope.events }, async () => {
      await manifests.get('hub/app', 'v1', true);
      return takeRecorded().map(([type]) => type);
    });
    expect(off).toEqual(['Upstream Failed']);
  });
});
