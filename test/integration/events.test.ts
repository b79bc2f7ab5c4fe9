import { MemoryEventPublisher } from '../../lambda/adapters/memory/memory-event-publisher';
import type { RegistryEvent } from '../../lambda/core/events';
import type { EventPublisher } from '../../lambda/core/ports/events';
import { systemClock } from '../../lambda/core/ports/clock';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { RegistryClient, sha256 } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const PASSWORD = 'correct horse battery';
const basic = (user: string) => `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The memory publisher, or one that fails every call when told to. */
class SwitchablePublisher implements EventPublisher {
  readonly memory = new MemoryEventPublisher();
  failing = false;
  async publish(events: readonly RegistryEvent[]): Promise<void> {
    if (this.failing) throw new Error('EventBridge is down (test)');
    await this.memory.publish(events);
  }
  take(): RegistryEvent[] {
    return this.memory.take();
  }
}

/** Events as `type repository digest…` lines plus the fields worth comparing, without request ids and times. */
function facts(events: RegistryEvent[]) {
  return events.map(({ type, detail }) => {
    const { requestId: _id, time: _time, version: _version, ...rest } = detail;
    return { type, ...rest };
  });
}

/**
 * Registry events from local mode (the handlers the functions and the uploader run), published to
 * a memory double: what each operation emits, in order, with which fields.
 */
describe('registry events (local mode, basic auth, streaming uploader, pull events on)', () => {
  let registry: TestRegistry;
  let publisher: SwitchablePublisher;
  let alice: RegistryClient;
  let started: number;

  beforeAll(async () => {
    started = Date.now();
    publisher = new SwitchablePublisher();
    registry = await startTestRegistry({ auth: { mode: 'basic' }, events: publisher, publishPulls: true });
    const admin = new AccountAdmin(registry.accounts, systemClock);
    await admin.addUser('alice', { password: PASSWORD });
    await admin.grant('alice', 'team/*', ['pull', 'push', 'delete']);
    alice = new RegistryClient(registry.url, { Authorization: basic('alice') });
  });
  afterAll(async () => {
    await registry?.stop();
  });
  beforeEach(() => {
    publisher.failing = false;
    publisher.take();
  });

  test('push by tag, move the tag, re-push, pull, delete: the events in order, with their fields', async () => {
    // Push: config and layer, then the manifest and its new tag.
    const first = await alice.pushImage('team/app', 'v1');
    const firstManifest = JSON.parse(first.body) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    const pushed = publisher.take();
    expect(facts(pushed)).toEqual([
      {
        type: 'Blob Pushed',
        repository: 'team/app',
        digest: firstManifest.config.digest,
        size: expect.any(Number),
        actor: 'alice',
      },
      {
        type: 'Blob Pushed',
        repository: 'team/app',
        digest: firstManifest.layers[0]!.digest,
        size: expect.any(Number),
        actor: 'alice',
      },
      {
        type: 'Manifest Pushed',
        repository: 'team/app',
        digest: first.digest,
        mediaType: OCI_MANIFEST,
        size: Buffer.byteLength(first.body),
        tag: 'v1',
        actor: 'alice',
      },
      {
        type: 'Tag Changed',
        repository: 'team/app',
        digest: first.digest,
        tag: 'v1',
        action: 'created',
        actor: 'alice',
      },
    ]);
    for (const { detail } of pushed) {
      expect(detail.version).toBe(1);
      expect(detail.requestId).toMatch(/\S/);
      expect(Date.parse(detail.time)).toBeGreaterThanOrEqual(started - 1000);
      expect(Date.parse(detail.time)).toBeLessThanOrEqual(Date.now());
    }
    // Every request has its own id; the manifest and its tag share one.
    expect(new Set(pushed.map((e) => e.detail.requestId)).size).toBe(3);
    expect(pushed[2]!.detail.requestId).toBe(pushed[3]!.detail.requestId);

    // Move the tag to a new image.
    const second = await alice.pushImage('team/app', 'v1');
    expect(facts(publisher.take()).slice(2)).toEqual([
      expect.objectContaining({ type: 'Manifest Pushed', digest: second.digest, tag: 'v1' }),
      {
        type: 'Tag Changed',
        repository: 'team/app',
        digest: second.digest,
        previousDigest: first.digest,
        tag: 'v1',
        action: 'moved',
        actor: 'alice',
      },
    ]);

    // The same manifest under the same tag again: pushed, but the tag did not change.
    const again = await alice.request('PUT', '/v2/team/app/manifests/v1', {
      body: second.body,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    expect(again.status).toBe(201);
    expect(facts(publisher.take()).map((e) => e.type)).toEqual(['Manifest Pushed']);

    // Pull: GET by tag and by digest each emit; HEAD does not.
    expect((await alice.request('HEAD', '/v2/team/app/manifests/v1')).status).toBe(200);
    expect((await alice.request('GET', '/v2/team/app/manifests/v1')).status).toBe(200);
    expect((await alice.request('GET', `/v2/team/app/manifests/${first.digest}`)).status).toBe(200);
    expect(facts(publisher.take())).toEqual([
      {
        type: 'Manifest Pulled',
        repository: 'team/app',
        digest: second.digest,
        mediaType: OCI_MANIFEST,
        size: Buffer.byteLength(second.body),
        tag: 'v1',
        actor: 'alice',
      },
      {
        type: 'Manifest Pulled',
        repository: 'team/app',
        digest: first.digest,
        mediaType: OCI_MANIFEST,
        size: Buffer.byteLength(first.body),
        actor: 'alice',
      },
    ]);

    // A blob GET emits as its redirect is issued; a HEAD does not.
    const pulledLayer = firstManifest.layers[0]!;
    const head = await alice.request('HEAD', `/v2/team/app/blobs/${pulledLayer.digest}`);
    expect(head.status).toBe(200);
    expect((await alice.request('GET', `/v2/team/app/blobs/${pulledLayer.digest}`)).status).toBe(307);
    expect(facts(publisher.take())).toEqual([
      {
        type: 'Blob Pulled',
        repository: 'team/app',
        digest: pulledLayer.digest,
        size: Number(head.headers.get('content-length')),
        actor: 'alice',
      },
    ]);

    // Delete the tag, then the first revision, then a blob.
    expect((await alice.request('DELETE', '/v2/team/app/manifests/v1')).status).toBe(202);
    expect((await alice.request('DELETE', `/v2/team/app/manifests/${first.digest}`)).status).toBe(202);
    const layer = firstManifest.layers[0]!.digest;
    expect((await alice.request('DELETE', `/v2/team/app/blobs/${layer}`)).status).toBe(202);
    expect(facts(publisher.take())).toEqual([
      {
        type: 'Tag Changed',
        repository: 'team/app',
        digest: second.digest,
        tag: 'v1',
        action: 'deleted',
        actor: 'alice',
      },
      { type: 'Manifest Deleted', repository: 'team/app', digest: first.digest, actor: 'alice' },
      { type: 'Blob Deleted', repository: 'team/app', digest: layer, actor: 'alice' },
    ]);
  });

  test('requests that fail emit nothing', async () => {
    const missing = `sha256:${'0'.repeat(64)}`;
    expect((await alice.request('DELETE', `/v2/team/app/manifests/${missing}`)).status).toBe(404);
    expect((await alice.request('DELETE', '/v2/team/app/manifests/no-such-tag')).status).toBe(404);
    expect((await alice.request('GET', '/v2/team/app/manifests/no-such-tag')).status).toBe(404);
    expect((await alice.request('DELETE', `/v2/team/app/blobs/${missing}`)).status).toBe(404);
    // No credentials: refused before anything happens.
    const anonymous = new RegistryClient(registry.url);
    expect((await anonymous.request('PUT', '/v2/team/app/manifests/v9', { body: '{}' })).status).toBe(401);
    expect(publisher.take()).toEqual([]);
  });

  test('a chunked upload emits one Blob Pushed when it completes, with the whole size', async () => {
    const body = Buffer.from('chunk one, chunk two');
    const start = await alice.request('POST', '/v2/team/chunked/blobs/uploads/');
    expect(start.status).toBe(202);
    const location = start.headers.get('location') as string;
    const patch = await alice.request('PATCH', location, {
      body: body.subarray(0, 9),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-8' },
    });
    expect(patch.status).toBe(202);
    expect(publisher.take()).toEqual([]);
    const url = new URL(patch.headers.get('location') as string, registry.url);
    url.searchParams.set('digest', sha256(body));
    const put = await alice.request('PUT', url.pathname + url.search, {
      body: body.subarray(9),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(put.status).toBe(201);
    expect(facts(publisher.take())).toEqual([
      { type: 'Blob Pushed', repository: 'team/chunked', digest: sha256(body), size: body.length, actor: 'alice' },
    ]);
  });

  test('a cross-repository mount emits Blob Pushed naming where the blob came from', async () => {
    const digest = await alice.pushBlob('team/source', 'mounted bytes');
    publisher.take();
    const res = await alice.request('POST', `/v2/team/target/blobs/uploads/?mount=${digest}&from=team/source`);
    expect(res.status).toBe(201);
    expect(facts(publisher.take())).toEqual([
      {
        type: 'Blob Pushed',
        repository: 'team/target',
        digest,
        size: 'mounted bytes'.length,
        mountedFrom: 'team/source',
        actor: 'alice',
      },
    ]);
  });

  test('a publisher that fails does not fail the push, the pull or the delete', async () => {
    publisher.failing = true;
    const image = await alice.pushImage('team/down', 'v1');
    expect((await alice.request('GET', '/v2/team/down/manifests/v1')).status).toBe(200);
    expect((await alice.request('DELETE', `/v2/team/down/manifests/${image.digest}`)).status).toBe(202);
    publisher.failing = false;
    expect(publisher.take()).toEqual([]);
  });

  test('events cost one tag read on a push by tag, and nothing on a push by digest', async () => {
    const image = await alice.pushImage('team/budget', 'v1');
    const lastCalls = () => registry.requests[registry.requests.length - 1]!.calls;
    const put = (reference: string) =>
      alice.request('PUT', `/v2/team/budget/manifests/${reference}`, {
        body: image.body,
        headers: { 'Content-Type': OCI_MANIFEST },
      });
    expect((await put(image.digest)).status).toBe(201);
    const digestCalls = lastCalls().get('dynamodb.GetItem') ?? 0;
    expect((await put('v2')).status).toBe(201);
    expect(lastCalls().get('dynamodb.GetItem') ?? 0).toBe(digestCalls + 1);
  });
});

describe('registry events (local mode, auth off, uploads through the functions, pull events off)', () => {
  let registry: TestRegistry;
  const publisher = new MemoryEventPublisher();
  let client: RegistryClient;

  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false, events: publisher });
    client = new RegistryClient(registry.url);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('pushes emit without an actor; pulls emit nothing', async () => {
    const image = await client.pushImage('open/app', 'latest');
    expect(registry.requests.filter((r) => r.group === 'uploader')).toEqual([]);
    expect(facts(publisher.take()).map((e) => [e.type, e.actor])).toEqual([
      ['Blob Pushed', undefined],
      ['Blob Pushed', undefined],
      ['Manifest Pushed', undefined],
      ['Tag Changed', undefined],
    ]);
    expect((await client.request('GET', `/v2/open/app/manifests/${image.digest}`)).status).toBe(200);
    expect(publisher.take()).toEqual([]);
  });
});
