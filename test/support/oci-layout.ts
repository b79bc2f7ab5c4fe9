import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
}

/** Writes OCI image layouts with real gzip'd tar layers, for clients to push from. */
export class OciLayoutBuilder {
  readonly dir: string;
  private readonly entries: (Descriptor & { annotations?: Record<string, string> })[] = [];

  constructor(dir = mkdtempSync(join(tmpdir(), 'oci-layout-'))) {
    this.dir = dir;
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  }

  blob(bytes: Uint8Array, mediaType: string): Descriptor {
    const hex = sha256(bytes);
    writeFileSync(join(this.dir, 'blobs', 'sha256', hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  }

  /** A tar (gzip'd unless `gzip` is false) holding one file of `size` random (incompressible) bytes. */
  layer(size: number, gzip = true): { descriptor: Descriptor; diffId: string } {
    const work = mkdtempSync(join(tmpdir(), 'layer-'));
    const content = join(work, 'content');
    mkdirSync(content);
    writeFileSync(join(content, `file-${randomBytes(4).toString('hex')}`), randomBytes(size));
    execFileSync('tar', [gzip ? '-czf' : '-cf', join(work, 'layer.tar'), '-C', content, '.']);
    const bytes = readFileSync(join(work, 'layer.tar'));
    rmSync(work, { recursive: true, force: true });
    const mediaType = gzip ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar';
    return {
      descriptor: this.blob(bytes, mediaType),
      diffId: `sha256:${sha256(gzip ? gunzipSync(bytes) : bytes)}`,
    };
  }

  /** An image manifest for `architecture` with layers of the given sizes. */
  image(layerSizes: number[], architecture = 'amd64', gzip = true): Descriptor {
    const layers = layerSizes.map((s) => this.layer(s, gzip));
    const config = this.blob(
      Buffer.from(
        JSON.stringify({
          architecture,
          os: 'linux',
          config: { Cmd: ['/bin/sh'] },
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        }),
      ),
      'application/vnd.oci.image.config.v1+json',
    );
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers: layers.map((l) => l.descriptor),
    };
    return {
      ...this.blob(Buffer.from(JSON.stringify(manifest)), manifest.mediaType),
      platform: { architecture, os: 'linux' },
    };
  }

  /** An index over the given manifests. */
  index(manifests: Descriptor[]): Descriptor {
    const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
    return this.blob(Buffer.from(JSON.stringify(index)), index.mediaType);
  }

  /** Names `descriptor` as `tag` in index.json. */
  tag(descriptor: Descriptor, tag: string): this {
    const { platform: _platform, ...plain } = descriptor;
    this.entries.push({ ...plain, annotations: { 'org.opencontainers.image.ref.name': tag } });
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: this.entries }));
    return this;
  }
}
