import { createHash } from 'node:crypto';
import {
  DeniedError,
  DigestInvalidError,
  ManifestBlobUnknownError,
  ManifestInvalidError,
  ManifestUnknownError,
  SizeInvalidError,
} from '../../../lambda/core/errors';
import { memoryRegistry } from '../../support/memory-registry';

const sha256 = (s: string | Uint8Array) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const NAME = 'team/app';
const OCI = 'application/vnd.oci.image.manifest.v1+json';

async function setup(options: Parameters<typeof memoryRegistry>[0] = {}) {
  const registry = memoryRegistry(options);
  const push = (body: string) => registry.services.uploads.putWhole(NAME, sha256(body), Buffer.from(body));
  const config = await push('{"os":"linux"}');
  const layer = await push('layer bytes');
  const manifest = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size }],
      ...extra,
    });
  return { ...registry, manifest };
}

describe('ManifestService', () => {
  test('stores the exact bytes under their digest and the tag, and serves them back', async () => {
    const { services, manifest } = await setup();
    const body = `${manifest()}\n  `; // whitespace is part of the content
    const record = await services.manifests.put(NAME, 'v1', OCI, Buffer.from(body));
    expect(record.digest).toBe(sha256(body));
    const byTag = await services.manifests.get(NAME, 'v1', true);
    expect(Buffer.from(byTag.body ?? []).toString()).toBe(body);
    expect(byTag.record.mediaType).toBe(OCI);
    const head = await services.manifests.get(NAME, record.digest, false);
    expect(head.body).toBeUndefined();
    expect(head.record.size).toBe(Buffer.byteLength(body));
  });

  test('large manifests go to the blob store and come back byte for byte', async () => {
    const { services, manifest, store } = await setup({ inlineLimit: 100 });
    const body = manifest({ annotations: { note: 'x'.repeat(500) } });
    const record = await services.manifests.put(NAME, 'big', OCI, Buffer.from(body));
    expect(record.key).toMatch(new RegExp(`^manifests/sha256/${record.digest.slice(7)}/[0-9a-f]{8}$`));
    expect(store.objects.has(record.key as string)).toBe(true);
    expect(Buffer.from((await services.manifests.get(NAME, 'big', true)).body ?? []).toString()).toBe(body);
  });

  test('refuses manifests referencing blobs the repository does not have, naming them', async () => {
    const { services } = await setup();
    const missing = sha256('never pushed');
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: missing, size: 1 },
      layers: [],
    });
    const err = await services.manifests.put(NAME, 'x', OCI, Buffer.from(body)).catch((e) => e);
    expect(err).toBeInstanceOf(ManifestBlobUnknownError);
    expect(err.detail).toEqual({ missing: [missing] });
    // The same blob in another repository does not count.
    await expect(services.manifests.put('other/repo', 'x', OCI, Buffer.from(body))).rejects.toBeInstanceOf(
      ManifestBlobUnknownError,
    );
  });

  test('an index needs its manifests in the repository; a subject need not exist', async () => {
    const { services, manifest } = await setup();
    const child = await services.manifests.put(NAME, 'child', OCI, Buffer.from(manifest()));
    const index = (digest: string) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: OCI, digest, size: child.size }],
      });
    await expect(
      services.manifests.put(
        NAME,
        'idx',
        'application/vnd.oci.image.index.v1+json',
        Buffer.from(index(sha256('nope'))),
      ),
    ).rejects.toBeInstanceOf(ManifestBlobUnknownError);
    await services.manifests.put(
      NAME,
      'idx',
      'application/vnd.oci.image.index.v1+json',
      Buffer.from(index(child.digest)),
    );
    const subject = { mediaType: OCI, digest: sha256('absent subject'), size: 10 };
    const referrer = await services.manifests.put(NAME, 'ref', OCI, Buffer.from(manifest({ subject })));
    expect(referrer.subject).toBe(subject.digest);
    const referrers = await services.discovery.referrers(NAME, subject.digest);
    expect(referrers.manifests.map((m) => m.digest)).toEqual([referrer.digest]);
  });

  test('foreign layers with urls are not required to be in the repository', async () => {
    const { services, manifest } = await setup();
    const body = JSON.parse(manifest());
    body.layers.push({
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      digest: sha256('windows base layer'),
      size: 100,
      urls: ['https://example.invalid/layer'],
    });
    await expect(
      services.manifests.put(NAME, 'foreign', OCI, Buffer.from(JSON.stringify(body))),
    ).resolves.toBeDefined();
  });

  test('a digest reference must match the body, in the algorithm it names', async () => {
    const { services, manifest } = await setup();
    const body = manifest();
    await expect(services.manifests.put(NAME, sha256('other'), OCI, Buffer.from(body))).rejects.toBeInstanceOf(
      DigestInvalidError,
    );
    const sha512 = `sha512:${createHash('sha512').update(body).digest('hex')}`;
    expect((await services.manifests.put(NAME, sha512, OCI, Buffer.from(body))).digest).toBe(sha512);
  });

  test.each([
    ['not JSON', '{', OCI],
    [
      'schema1',
      JSON.stringify({ schemaVersion: 1, fsLayers: [] }),
      'application/vnd.docker.distribution.manifest.v1+json',
    ],
    ['an unknown media type', JSON.stringify({ schemaVersion: 2, mediaType: 'text/plain' }), 'text/plain'],
    [
      'a mediaType contradicting Content-Type',
      JSON.stringify({ schemaVersion: 2, mediaType: OCI, config: {}, layers: [] }),
      'application/vnd.oci.image.index.v1+json',
    ],
    [
      'a descriptor without digest',
      JSON.stringify({ schemaVersion: 2, mediaType: OCI, config: { mediaType: 'x', size: 1 }, layers: [] }),
      OCI,
    ],
    [
      'a negative size',
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI,
        config: { mediaType: 'x', size: -1, digest: `sha256:${'a'.repeat(64)}` },
        layers: [],
      }),
      OCI,
    ],
    [
      'layers that are not an array',
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI,
        config: { mediaType: 'x', size: 1, digest: `sha256:${'a'.repeat(64)}` },
        layers: {},
      }),
      OCI,
    ],
  ])('refuses %s as MANIFEST_INVALID', async (_label, body, type) => {
    const { services } = await setup();
    await expect(services.manifests.put(NAME, 'bad', type, Buffer.from(body))).rejects.toBeInstanceOf(
      ManifestInvalidError,
    );
  });

  test('refuses a manifest over the size limit as too large', async () => {
    const { services, manifest } = await setup({ maxManifestSize: 100 });
    const err = await services.manifests.put(NAME, 'big', OCI, Buffer.from(manifest())).catch((e) => e);
    expect(err).toBeInstanceOf(SizeInvalidError);
    expect(err.tooLarge).toBe(true);
  });

  test('deleting by tag removes the tag only; by digest removes the revision and its tags', async () => {
    const { services, manifest } = await setup();
    const record = await services.manifests.put(NAME, 'a', OCI, Buffer.from(manifest()));
    await services.manifests.put(NAME, 'b', OCI, Buffer.from(manifest()));
    await services.manifests.delete(NAME, 'a');
    await expect(services.manifests.get(NAME, 'a', false)).rejects.toBeInstanceOf(ManifestUnknownError);
    await services.manifests.get(NAME, record.digest, false);
    await services.manifests.delete(NAME, record.digest);
    await expect(services.manifests.get(NAME, 'b', false)).rejects.toBeInstanceOf(ManifestUnknownError);
    await expect(services.manifests.delete(NAME, record.digest)).rejects.toBeInstanceOf(ManifestUnknownError);
  });

  test('an invalid tag is an unknown manifest when read and an invalid one when written', async () => {
    const { services, manifest } = await setup();
    await expect(services.manifests.get(NAME, '.INVALID', true)).rejects.toBeInstanceOf(ManifestUnknownError);
    await expect(services.manifests.put(NAME, '.INVALID', OCI, Buffer.from(manifest()))).rejects.toBeInstanceOf(
      ManifestInvalidError,
    );
  });
});

describe('immutable tags', () => {
  test('an immutable tag is set once, may be pushed again with the same manifest, never moved, and may be deleted', async () => {
    const { services, manifest } = await setup({
      policy: {
        immutableTags: [{ repository: 'team/*', tag: 'v*' }],
        tagRetention: [],
        untaggedRetentionDays: null,
        notPulledForDays: null,
      },
    });
    const first = manifest({ annotations: { n: '1' } });
    await services.manifests.put(NAME, 'v1', OCI, Buffer.from(first));
    await services.manifests.put(NAME, 'v1', OCI, Buffer.from(first));
    await expect(
      services.manifests.put(NAME, 'v1', OCI, Buffer.from(manifest({ annotations: { n: '2' } }))),
    ).rejects.toThrow(DeniedError);
    expect((await services.manifests.get(NAME, 'v1', false)).record.digest).toBe(sha256(first));
    // Mutable tags of the same repository move freely.
    await services.manifests.put(NAME, 'latest', OCI, Buffer.from(first));
    await services.manifests.put(NAME, 'latest', OCI, Buffer.from(manifest({ annotations: { n: '3' } })));
    await services.manifests.delete(NAME, 'v1');
    await services.manifests.put(NAME, 'v1', OCI, Buffer.from(manifest({ annotations: { n: '4' } })));
  });
});
