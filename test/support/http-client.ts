import { createHash } from 'node:crypto';

export const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A tiny raw HTTP client for driving the registry request by request. */
export class RegistryClient {
  constructor(
    readonly base: string,
    /** Sent with every request (e.g. `Authorization`). */
    readonly headers: Record<string, string> = {},
  ) {}

  request(method: string, path: string, init: { body?: Uint8Array | string; headers?: Record<string, string> } = {}) {
    const headers = { ...this.headers, ...init.headers };
    return fetch(new URL(path, this.base), { method, body: init.body, headers, redirect: 'manual' });
  }

  /** Pushes a blob monolithically (POST ?digest=) and returns its digest. */
  async pushBlob(name: string, body: Uint8Array | string): Promise<string> {
    const digest = sha256(body);
    const res = await this.request('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    if (res.status !== 201) throw new Error(`blob push: ${res.status} ${await res.text()}`);
    return digest;
  }

  /** Pushes a minimal image (config + one layer) and its manifest under `reference`. */
  async pushImage(
    name: string,
    reference: string,
    extra: Record<string, unknown> = {},
  ): Promise<{ digest: string; body: string }> {
    const config = await this.pushBlob(name, `{"architecture":"amd64","os":"linux","n":"${Math.random()}"}`);
    const layer = await this.pushBlob(name, `layer ${Math.random()}`);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 0 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 0 }],
      ...extra,
    });
    const res = await this.request('PUT', `/v2/${name}/manifests/${reference}`, {
      body,
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    if (res.status !== 201) throw new Error(`manifest push: ${res.status} ${await res.text()}`);
    return { digest: sha256(body), body };
  }
}
