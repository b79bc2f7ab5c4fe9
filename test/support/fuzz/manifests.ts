import fc from 'fast-check';
import { sha256Of } from './grammar';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

/** What a repository holds that manifests can reference. */
export interface ManifestRefs {
  readonly config: Descriptor;
  readonly layer: Descriptor;
  /** A manifest in the repository, for indexes and subjects. */
  readonly manifest: Descriptor;
}

export interface ManifestBody {
  readonly body: Buffer;
  /** The Content-Type to send; undefined sends none. */
  readonly contentType: string | undefined;
  readonly kind: string;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** Bytes that are not UTF-8: lone continuation bytes, an overlong form, a truncated 4-byte sequence. */
const NOT_UTF8 = [
  Buffer.from([0xff]),
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xf0, 0x90, 0x80]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]),
];

/**
 * Manifest bodies of every shape the registry may be sent: valid OCI images and indexes, Docker
 * schema2 and lists, schema1, artifacts with a subject, and broken ones (invalid JSON, wrong or
 * unknown media types, empty, huge, bytes that are not UTF-8, duplicate keys, bad descriptors),
 * each with a Content-Type that fits or does not.
 * @see https://github.com/opencontainers/image-spec/blob/v1.1.0/manifest.md
 */
export function manifestBody(refs: ManifestRefs): fc.Arbitrary<ManifestBody> {
  const image = (extra: Record<string, unknown> = {}) => ({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: refs.config,
    layers: [refs.layer],
    ...extra,
  });
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [refs.manifest] };
  const shaped = (kind: string, value: unknown, contentType: string | undefined): ManifestBody => ({
    body: json(value),
    contentType,
    kind,
  });
  const validShapes = fc.oneof(
    fc.nat({ max: 1_000_000 }).map((n) => shaped('oci-image', image({ annotations: { n: String(n) } }), OCI_MANIFEST)),
    fc.nat({ max: 1_000_000 }).map((n) => shaped('oci-index', { ...index, annotations: { n: String(n) } }, OCI_INDEX)),
    fc
      .nat({ max: 1_000_000 })
      .map((n) =>
        shaped(
          'docker-schema2',
          { ...image(), mediaType: DOCKER_MANIFEST, config: { ...refs.config, mediaType: `x${n}` } },
          DOCKER_MANIFEST,
        ),
      ),
    fc.constant(
      shaped(
        'docker-list',
        { schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [{ ...refs.manifest, mediaType: DOCKER_MANIFEST }] },
        DOCKER_LIST,
      ),
    ),
    fc
      .record({
        artifactType: fc.constantFrom('application/vnd.example.sbom', 'application/vnd.example.sig', 'x/y'),
        n: fc.nat(),
      })
      .map(({ artifactType, n }) =>
        shaped(
          'artifact-with-subject',
          {
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            artifactType,
            config: { mediaType: OCI_EMPTY, digest: refs.config.digest, size: refs.config.size },
            layers: [],
            subject: refs.manifest,
            annotations: { n: String(n) },
          },
          OCI_MANIFEST,
        ),
      ),
    fc.constant(
      shaped(
        'subject-unknown',
        image({ subject: { mediaType: OCI_MANIFEST, digest: sha256Of('no such subject'), size: 3 } }),
        OCI_MANIFEST,
      ),
    ),
    fc.constant(shaped('no-media-type-with-content-type', { ...image(), mediaType: undefined }, OCI_MANIFEST)),
    fc.constant(shaped('no-media-type-no-content-type', { ...image(), mediaType: undefined }, undefined)),
    fc.constant(shaped('content-type-json', image(), 'application/json')),
    fc.constant(shaped('content-type-with-charset', image(), `${OCI_MANIFEST}; charset=utf-8`)),
    fc.constant(
      shaped(
        'foreign-layer',
        image({ layers: [{ ...refs.layer, digest: sha256Of('foreign'), urls: ['https://example.com/l'] }] }),
        OCI_MANIFEST,
      ),
    ),
  );
  const broken = fc.oneof(
    fc.constant(
      shaped(
        'schema1',
        { schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] },
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
      ),
    ),
    fc.constant(
      shaped(
        'schema1-json',
        { schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] },
        'application/vnd.docker.distribution.manifest.v1+json',
      ),
    ),
    fc.constant(shaped('schema-version-3', { ...image(), schemaVersion: 3 }, OCI_MANIFEST)),
    fc.constant(shaped('schema-version-string', { ...image(), schemaVersion: '2' }, OCI_MANIFEST)),
    fc.constant(shaped('media-type-mismatch', image(), OCI_INDEX)),
    fc.constant(
      shaped('media-type-unknown', { ...image(), mediaType: 'application/x-unknown' }, 'application/x-unknown'),
    ),
    fc.constant(shaped('media-type-number', { ...image(), mediaType: 7 }, OCI_MANIFEST)),
    fc.constant(
      shaped('missing-blob', image({ layers: [{ ...refs.layer, digest: sha256Of('missing layer') }] }), OCI_MANIFEST),
    ),
    fc.constant(
      shaped(
        'missing-child',
        { ...index, manifests: [{ ...refs.manifest, digest: sha256Of('missing child') }] },
        OCI_INDEX,
      ),
    ),
    fc.constant(shaped('config-missing', { ...image(), config: undefined }, OCI_MANIFEST)),
    fc.constant(shaped('layers-not-array', { ...image(), layers: {} }, OCI_MANIFEST)),
    fc.constant(shaped('size-negative', image({ layers: [{ ...refs.layer, size: -1 }] }), OCI_MANIFEST)),
    fc.constant(shaped('size-float', image({ layers: [{ ...refs.layer, size: 1.5 }] }), OCI_MANIFEST)),
    fc.constant(shaped('size-unsafe', image({ layers: [{ ...refs.layer, size: 2 ** 60 }] }), OCI_MANIFEST)),
    fc.constant(shaped('digest-invalid', image({ layers: [{ ...refs.layer, digest: 'sha256:XYZ' }] }), OCI_MANIFEST)),
    fc.constant(
      shaped('digest-md5', image({ layers: [{ ...refs.layer, digest: `md5:${'a'.repeat(32)}` }] }), OCI_MANIFEST),
    ),
    fc.constant(shaped('urls-not-strings', image({ layers: [{ ...refs.layer, urls: [1] }] }), OCI_MANIFEST)),
    fc.constant(shaped('annotations-not-strings', image({ annotations: { a: 1 } }), OCI_MANIFEST)),
    fc.constant(shaped('subject-not-descriptor', image({ subject: 'nope' }), OCI_MANIFEST)),
    fc.constant(shaped('artifact-type-number', image({ artifactType: 5 }), OCI_MANIFEST)),
    fc.constant(
      shaped(
        'subject-huge-annotations',
        image({ subject: refs.manifest, annotations: { pad: 'x'.repeat(70 * 1024) } }),
        OCI_MANIFEST,
      ),
    ),
    fc
      .constantFrom('[]', 'null', '"manifest"', '42', 'true', '{', '{"schemaVersion":2,', '', ' ', '\ufeff{}')
      .map((text) => ({
        body: Buffer.from(text),
        contentType: OCI_MANIFEST,
        kind: `not-an-object:${text.slice(0, 8)}`,
      })),
    fc.constant({
      body: Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`),
      contentType: OCI_MANIFEST,
      kind: 'deeply-nested',
    }),
    fc.constant({
      // Two `layers`: JSON.parse keeps the last; the bytes stored and served are the ones sent.
      body: Buffer.from(
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(refs.config)},"layers":[{"mediaType":"${OCI_LAYER}","digest":"${sha256Of('dup')}","size":3}],"layers":[${JSON.stringify(refs.layer)}]}`,
      ),
      contentType: OCI_MANIFEST,
      kind: 'duplicate-keys',
    }),
  );
  const sizes = fc.oneof(
    fc.constant({
      ...shaped('huge-over-limit', image({ annotations: { pad: 'x'.repeat(4 * 1024 * 1024 + 10) } }), OCI_MANIFEST),
    }),
    fc.constant({
      ...shaped('large-stored-in-bucket', image({ annotations: { pad: 'y'.repeat(300 * 1024) } }), OCI_MANIFEST),
    }),
  );
  const notUtf8 = fc
    .record({
      bytes: fc.constantFrom(...NOT_UTF8),
      contentType: fc.constantFrom(
        OCI_MANIFEST,
        'application/json',
        'text/plain',
        'application/octet-stream',
        undefined,
      ),
    })
    .map(({ bytes, contentType }) => {
      // A valid image manifest with the bytes inside an annotation value: once decoded as text they
      // become U+FFFD and the manifest is still valid JSON, so only the bytes tell the difference.
      const [head, tail] = JSON.stringify(image({ annotations: { raw: '@@' } })).split('@@') as [string, string];
      return {
        body: Buffer.concat([Buffer.from(head), bytes, Buffer.from(tail)]),
        contentType,
        kind: `not-utf8:${contentType ?? 'none'}`,
      };
    });
  const withReplacementChar = fc.constant(
    shaped('valid-utf8-replacement-char', image({ annotations: { raw: '\ufffd' } }), OCI_MANIFEST),
  );
  return fc.oneof(
    { weight: 10, arbitrary: validShapes },
    { weight: 10, arbitrary: broken },
    { weight: 4, arbitrary: notUtf8 },
    { weight: 1, arbitrary: withReplacementChar },
    { weight: 1, arbitrary: sizes },
  );
}
