import { createHash } from 'node:crypto';
import { RegistryClient } from '../http-client';
import { DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, type Descriptor } from './manifests';
import type { Repo, World } from './requests';

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Repositories of an open registry: two to read, three to write (one as deep as names may be). */
export function openRepos(maxNameDepth: number): { name: string; scratch: boolean }[] {
  const deep = Array.from({ length: maxNameDepth }, (_, i) => (i === 0 ? 'fz' : `d${i}`)).join('/');
  return [
    { name: 'fz/a', scratch: false },
    { name: 'fz/b/c', scratch: false },
    { name: 'fz/w1', scratch: true },
    { name: 'fz/w2/x', scratch: true },
    { name: deep, scratch: true },
  ];
}

/**
 * Repositories of a registry with token auth, named after what the fuzz user may do there (see
 * `FUZZ_GRANTS`): everything in `fz/mine`, pull in `fz/ro`, nothing in `fz/other`; `fz/pub` is open
 * to anonymous pulls.
 */
export const TOKEN_REPOS = [
  { name: 'fz/mine/a', scratch: false },
  { name: 'fz/mine/w1', scratch: true },
  { name: 'fz/mine/w2/deep', scratch: true },
  { name: 'fz/ro/a', scratch: false },
  { name: 'fz/ro/w', scratch: true },
  { name: 'fz/other/a', scratch: false },
  { name: 'fz/other/w', scratch: true },
  { name: 'fz/pub/a', scratch: false },
];

export const FUZZ_GRANTS: readonly { pattern: string; actions: ('pull' | 'push' | 'delete')[] }[] = [
  { pattern: 'fz/mine/*', actions: ['pull', 'push', 'delete'] },
  { pattern: 'fz/ro/*', actions: ['pull'] },
];

/**
 * Pushes what each repository holds at the start: a config and a layer, an OCI image (`v1`), a
 * Docker schema2 image (`docker`), an index (`index`), an artifact whose subject is the image, and in
 * the first repository a manifest too large to sit in its table item (`big`).
 */
export async function seed(
  url: string,
  mode: World['mode'],
  repos: readonly { name: string; scratch: boolean }[],
  maxNameDepth: number,
  authorization?: string,
): Promise<World> {
  const client = new RegistryClient(url, authorization ? { Authorization: authorization } : {});
  const put = async (name: string, reference: string, body: string, type: string) => {
    const res = await client.request('PUT', `/v2/${name}/manifests/${reference}`, {
      body,
      headers: { 'Content-Type': type },
    });
    if (res.status !== 201) throw new Error(`seeding ${name}:${reference}: ${res.status} ${await res.text()}`);
    return sha256(body);
  };
  const out: Repo[] = [];
  for (const [i, { name, scratch }] of repos.entries()) {
    const configBytes = JSON.stringify({ architecture: 'amd64', os: 'linux', repository: name });
    const layerBytes = `layer of ${name}`;
    const config: Descriptor = {
      mediaType: OCI_CONFIG,
      digest: await client.pushBlob(name, configBytes),
      size: configBytes.length,
    };
    const layer: Descriptor = {
      mediaType: OCI_LAYER,
      digest: await client.pushBlob(name, layerBytes),
      size: layerBytes.length,
    };
    const imageBody = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] });
    const image = await put(name, 'v1', imageBody, OCI_MANIFEST);
    const manifest: Descriptor = { mediaType: OCI_MANIFEST, digest: image, size: imageBody.length };
    const docker = await put(
      name,
      'docker',
      JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [layer] }),
      DOCKER_MANIFEST,
    );
    const index = await put(
      name,
      'index',
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [manifest] }),
      OCI_INDEX,
    );
    const artifactBody = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.sbom',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config.digest, size: config.size },
      layers: [],
      subject: manifest,
    });
    const artifact = await put(name, sha256(artifactBody), artifactBody, OCI_MANIFEST);
    const spares = [
      await client.pushBlob(name, `spare 1 of ${name}`),
      await client.pushBlob(name, `spare 2 of ${name}`),
    ];
    const tags = ['v1', 'docker', 'index'];
    const digests = [image, docker, index, artifact];
    if (i === 0) {
      const big = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config,
        layers: [layer],
        annotations: { pad: 'b'.repeat(300 * 1024) },
      });
      digests.push(await put(name, 'big', big, OCI_MANIFEST));
      tags.push('big');
    }
    out.push({ name, refs: { config, layer, manifest }, tags, digests, spares, scratch });
  }
  return { mode, repos: out, maxNameDepth };
}

/**
 * What the fuzz must leave as it was: each non-scratch repository's tags, and the status and digest
 * of a HEAD of each of its manifests (by tag and digest) and blobs, and that the catalog names it.
 */
export async function fixtureState(url: string, world: World, authorization?: string): Promise<string[]> {
  const client = new RegistryClient(url, authorization ? { Authorization: authorization } : {});
  const lines: string[] = [];
  const catalog = (await (await client.request('GET', '/v2/_catalog')).json()) as { repositories?: string[] };
  for (const repo of world.repos.filter((r) => !r.scratch)) {
    lines.push(`${repo.name} in catalog: ${String(catalog.repositories?.includes(repo.name))}`);
    const tags = await client.request('GET', `/v2/${repo.name}/tags/list`);
    lines.push(`${repo.name} tags: ${tags.status} ${await tags.text()}`);
    for (const ref of [...repo.tags, ...repo.digests]) {
      const res = await client.request('HEAD', `/v2/${repo.name}/manifests/${ref}`);
      lines.push(`${repo.name}:${ref} ${res.status} ${res.headers.get('docker-content-digest')}`);
    }
    for (const digest of [repo.refs.config.digest, repo.refs.layer.digest]) {
      const res = await client.request('HEAD', `/v2/${repo.name}/blobs/${digest}`);
      lines.push(`${repo.name}@${digest} ${res.status} ${res.headers.get('content-length')}`);
    }
  }
  return lines;
}
