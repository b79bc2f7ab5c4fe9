import { createHash } from 'node:crypto';
import { MemoryEventPublisher } from '../../../lambda/adapters/memory/memory-event-publisher';
import { registryEvent } from '../../../lambda/core/events';
import { blobsEndpoint, manifestsEndpoint, type Endpoint } from '../../../lambda/http/endpoints';
import type { RegistryRequest } from '../../../lambda/http/request';
import type { Services } from '../../../lambda/http/services';
import type { MemoryMetadata } from '../../../lambda/adapters/memory/memory-metadata';
import { memoryRegistry, testTokenKeys } from '../../support/memory-registry';

const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const OCI = 'application/vnd.oci.image.manifest.v1+json';
let requests = 0;

function request(method: string, path: string, body = '', headers: Record<string, string> = {}): RegistryRequest {
  const url = new URL(path, 'http://registry');
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method,
    rawPath: url.pathname,
    query: url.searchParams,
    header: (name) => lower.get(name.toLowerCase()),
    body: Buffer.from(body),
    requestId: `unit-${++requests}`,
  };
}

async function call(endpoint: Endpoint, services: Services, req: RegistryRequest): Promise<number> {
  return (await endpoint(req, services)).statusCode as number;
}

/** Pushes a config blob and a manifest referring to it under `reference`; returns the manifest's digest. */
async function pushImage(services: Services, reference: string, seed: string, headers: Record<string, string> = {}) {
  const config = `{"seed":"${seed}"}`;
  const post = request('POST', `/v2/team/app/blobs/uploads/?digest=${sha256(config)}`, config, headers);
  expect(await call(blobsEndpoint, services, post)).toBe(201);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [],
  });
  const put = request('PUT', `/v2/team/app/manifests/${reference}`, manifest, { 'Content-Type': OCI, ...headers });
  expect(await call(manifestsEndpoint, services, put)).toBe(201);
  return sha256(manifest);
}

/** Counts tag reads of the metadata double, so a test can tell what events cost. */
function countingTags(metadata: MemoryMetadata) {
  const counter = { reads: 0 };
  const getTag = metadata.getTag.bind(metadata);
  metadata.getTag = async (name: string, tag: string) => {
    counter.reads += 1;
    return getTag(name, tag);
  };
  return counter;
}

describe('registry events from the endpoints (memory adapters)', () => {
  test('events off: nothing is published and no tag is read', async () => {
    const { services, metadata } = memoryRegistry();
    const tags = countingTags(metadata);
    await pushImage(services, 'v1', 'a');
    await pushImage(services, 'v1', 'b');
    expect(tags.reads).toBe(0);
  });

  test('events on: one tag read per push by tag, none per push by digest', async () => {
    const { services, metadata } = memoryRegistry();
    const tags = countingTags(metadata);
    const events = new MemoryEventPublisher();
    const withEvents = { ...services, events };
    const digest = await pushImage(withEvents, 'v1', 'a');
    expect(tags.reads).toBe(1);
    await pushImage(withEvents, digest, 'a');
    expect(tags.reads).toBe(1);
    expect(events.take().map((e) => [e.type, e.detail.tag])).toEqual([
      ['Blob Pushed', undefined],
      ['Manifest Pushed', 'v1'],
      ['Tag Changed', 'v1'],
      ['Blob Pushed', undefined],
      ['Manifest Pushed', undefined],
    ]);
  });

  test('a moved tag says where it pointed before', async () => {
    const { services } = memoryRegistry();
    const events = new MemoryEventPublisher();
    const first = await pushImage({ ...services, events }, 'v1', 'a');
    const second = await pushImage({ ...services, events }, 'v1', 'b');
    expect(
      events
        .take()
        .filter((e) => e.type === 'Tag Changed')
        .map((e) => e.detail),
    ).toEqual([
      expect.objectContaining({ digest: first, action: 'created' }),
      expect.objectContaining({ digest: second, previousDigest: first, action: 'moved' }),
    ]);
  });

  test('with token auth, the actor is the token subject; the request id is the request’s', async () => {
    const keys = await testTokenKeys();
    const { services } = memoryRegistry({ auth: { mode: 'token' }, keys });
    const events = new MemoryEventPublisher();
    const issued = await services.auth.issue(
      { name: 'robot-ci', rules: [{ pattern: 'team/*', actions: ['pull', 'push'] }] },
      [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
      false,
    );
    await pushImage({ ...services, events }, 'v1', 'a', { Authorization: `Bearer ${issued.token}` });
    const published = events.take();
    expect(published.map((e) => e.detail.actor)).toEqual(['robot-ci', 'robot-ci', 'robot-ci']);
    expect(published[0]!.detail.requestId).toMatch(/^unit-\d+$/);
  });

  test('a publisher that throws is logged and the request still succeeds', async () => {
    const { services } = memoryRegistry();
    const failing = {
      publish: async () => {
        throw new Error('down');
      },
    };
    const lines: string[] = [];
    const capture = (stream: NodeJS.WriteStream) =>
      jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => lines.push(String(chunk)) > 0);
    const spies = [capture(process.stdout), capture(process.stderr)];
    try {
      await pushImage({ ...services, events: failing }, 'v1', 'a');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const logged = lines.filter((l) => l.includes('registry events were not published'));
    expect(logged).toHaveLength(2);
    expect(JSON.parse(logged[1]!)).toMatchObject({
      error: 'Error: down',
      events: [{ type: 'Manifest Pushed' }, { type: 'Tag Changed' }],
    });
  });
});

describe('registryEvent', () => {
  test('carries the schema version and request context, and leaves out what is undefined or empty', () => {
    const event = registryEvent(
      'Blob Deleted',
      { repository: 'a/b', digest: 'sha256:00', size: undefined, tag: undefined },
      { requestId: 'r1', actor: '', time: Date.UTC(2030, 0, 1) },
    );
    expect(event).toEqual({
      type: 'Blob Deleted',
      detail: { version: 1, repository: 'a/b', digest: 'sha256:00', requestId: 'r1', time: '2030-01-01T00:00:00.000Z' },
    });
    expect(Object.keys(event.detail)).not.toContain('size');
  });
});
