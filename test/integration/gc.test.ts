import { createHash, randomBytes } from 'node:crypto';
import { DynamoDbGcStore } from '../../lambda/adapters/dynamodb/dynamodb-gc-store';
import { S3BlobStore } from '../../lambda/adapters/s3/s3-blob-store';
import type { Clock } from '../../lambda/core/ports/clock';
import { GarbageCollector, type GcOptions } from '../../lambda/core/services/garbage-collector';
import { StorageAudit } from '../../lambda/core/services/storage-audit';
import { RegistryClient, sha256 } from '../support/http-client';
import { embeddedServersTest } from '../support/endpoint-strictness';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** A clock a test can run ahead of the wall clock (the registry itself keeps real time). */
class AheadClock implements Clock {
  aheadMs = 0;
  now(): number {
    return Date.now() + this.aheadMs;
  }
}

/**
 * Online garbage collection against DynamoDB Local and versitygw: what tags reach stays, what nothing
 * reaches goes, and pushes running concurrently with collection never lose a blob.
 */
describe('garbage collection (local mode)', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  let store: S3BlobStore;
  const clock = new AheadClock();

  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
    client = new RegistryClient(registry.url);
    store = new S3BlobStore({ client: registry.clients.s3, bucket: registry.config.bucket });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const collector = (options: Partial<GcOptions> = {}) =>
    new GarbageCollector(new DynamoDbGcStore(registry.clients.dynamodb, registry.config.table), store, store, clock, {
      graceSeconds: 3600,
      untaggedRetentionSeconds: 0,
      ...options,
    });

  async function objects(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const o of store.list(prefix)) keys.push(o.key);
    return keys.sort();
  }

  async function pushImage(name: string, tag: string, layers: string[]): Promise<{ digest: string; blobs: string[] }> {
    const config = await client.pushBlob(
      name,
      `{"architecture":"amd64","os":"linux","tag":"${tag}","r":"${Math.random()}"}`,
    );
    const digests = [];
    for (const layer of layers) digests.push(await client.pushBlob(name, layer));
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 1 },
      layers: digests.map((digest) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: 1 })),
    });
    const res = await client.request('PUT', `/v2/${name}/manifests/${tag}`, {
      body,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    if (res.status !== 201) throw new Error(`manifest push ${name}:${tag}: ${res.status} ${await res.text()}`);
    return { digest: sha256(body), blobs: [config, ...digests] };
  }

  /** Pulls a tag and every blob it references through the redirect, checking every digest. */
  async function pullIntact(name: string, tag: string): Promise<void> {
    const res = await client.request('GET', `/v2/${name}/manifests/${tag}`, {
      headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
    });
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(sha256(body)).toBe(res.headers.get('docker-content-digest'));
    const manifest = JSON.parse(body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      const redirect = await client.request('GET', `/v2/${name}/blobs/${d}`);
      expect({ blob: d, status: redirect.status }).toEqual({ blob: d, status: 307 });
      const bytes = Buffer.from(await (await fetch(redirect.headers.get('location')!)).arrayBuffer());
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(d);
    }
  }

  test('within the grace period nothing goes; after it, what no tag reaches goes and shared blobs stay', async () => {
    const shared = `shared layer ${randomBytes(8).toString('hex')}`;
    const a = await pushImage('gc/a', 'v1', [shared, `only a ${Math.random()}`]);
    const b = await pushImage('gc/b', 'v1', [shared, `only b ${Math.random()}`]);
    // Blobs uploaded for a push whose manifest has not come yet.
    const pending = await client.pushBlob('gc/c', `pending ${Math.random()}`);
    expect((await client.request('DELETE', '/v2/gc/a/manifests/v1')).status).toBe(202);

    clock.aheadMs = 0;
    const early = await collector().run();
    expect(early).toMatchObject({ manifests: 0, links: 0, blobs: 0 });

    clock.aheadMs = 3601_000;
    const dry = await collector().run({ dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, manifests: 1, links: 4, blobs: 3 });
    expect((await client.request('HEAD', `/v2/gc/a/manifests/${a.digest}`)).status).toBe(200);

    const report = await collector().run();
    // gc/a's manifest, its three links, and the pending upload's link; a's own blobs and the pending one.
    expect(report).toMatchObject({ manifests: 1, links: 4, blobs: 3, skipped: 0 });
    expect((await client.request('HEAD', `/v2/gc/a/manifests/${a.digest}`)).status).toBe(404);
    expect((await client.request('HEAD', `/v2/gc/c/blobs/${pending}`)).status).toBe(404);
    await pullIntact('gc/b', 'v1');
    expect(report.emptiedRepositories).toBe(1);
    const catalog = (await (await client.request('GET', '/v2/_catalog')).json()) as { repositories: string[] };
    expect(catalog.repositories).toContain('gc/b');
    expect(catalog.repositories).not.toContain('gc/a');

    // The bucket holds exactly gc/b's blobs.
    const records = await Promise.all(b.blobs.map((d) => registry.services.blobs.stat('gc/b', d)));
    expect(await objects('blobs/')).toEqual(records.map((r) => r.key).sort());
    expect(await objects('manifests/')).toEqual([]);
  });

  test('du reports bytes per repository; verify re-hashes stored blobs and finds a corrupted one', async () => {
    const audit = new StorageAudit(new DynamoDbGcStore(registry.clients.dynamodb, registry.config.table), store);
    const usage = await audit.usage();
    const b = usage.find((u) => u.repository === 'gc/b');
    expect(b).toMatchObject({ manifests: 1, tags: 1, blobs: 3 });
    expect(b!.bytes).toBeGreaterThan(0);
    expect(b!.exclusiveBytes).toBe(b!.bytes);
    const clean = await audit.verify();
    expect(clean.mismatches).toEqual([]);
    expect(clean.checked).toBeGreaterThanOrEqual(3);
    const victim = await pushImage('gc/verify', 'v1', [`to be corrupted ${Math.random()}`]);
    const record = await registry.services.blobs.stat('gc/verify', victim.blobs[1]!);
    await store.put(record.key, Buffer.from('not what was pushed'));
    const report = await audit.verify();
    expect(report.mismatches).toEqual([
      expect.objectContaining({ digest: victim.blobs[1], problem: expect.stringMatching(/hashes to/) }),
    ]);
    expect((await audit.verify({ sample: 1 })).checked).toBe(1);
    await client.request('DELETE', '/v2/gc/verify/manifests/v1');
  });

  test('an index keeps its children, a live manifest keeps its referrers, untagged rules apply', async () => {
    const child = await pushImage('gc/idx', 'child-tmp', [`child layer ${Math.random()}`]);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: child.digest, size: 1, platform: { architecture: 'amd64', os: 'linux' } },
      ],
    });
    expect(
      (
        await client.request('PUT', '/v2/gc/idx/manifests/multi', {
          body: index,
          headers: { 'Content-Type': OCI_INDEX },
        })
      ).status,
    ).toBe(201);
    const empty = await client.pushBlob('gc/idx', '{}');
    const referrer = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.sbom',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
      subject: { mediaType: OCI_MANIFEST, digest: child.digest, size: 1 },
    });
    expect(
      (
        await client.request('PUT', `/v2/gc/idx/manifests/${sha256(referrer)}`, {
          body: referrer,
          headers: { 'Content-Type': OCI_MANIFEST },
        })
      ).status,
    ).toBe(201);
    expect((await client.request('DELETE', '/v2/gc/idx/manifests/child-tmp')).status).toBe(202);

    clock.aheadMs = 3601_000;
    // Untagged manifests kept for a day: nothing of gc/idx goes.
    expect((await collector({ untaggedRetentionSeconds: 86_400 }).run()).manifests).toBe(0);
    // Untagged manifests collected at once: the child stays (the index reaches it), so does its referrer.
    await collector().run();
    await pullIntact('gc/idx', child.digest);
    expect((await client.request('HEAD', `/v2/gc/idx/manifests/${sha256(referrer)}`)).status).toBe(200);
    // Without its tag the index goes, then the child, then the referrer with its subject.
    expect((await client.request('DELETE', '/v2/gc/idx/manifests/multi')).status).toBe(202);
    const report = await collector().run();
    expect(report.manifests).toBe(3);
    expect((await client.request('HEAD', `/v2/gc/idx/manifests/${child.digest}`)).status).toBe(404);
  });

  test('tag retention keeps the newest N matching tags', async () => {
    for (const tag of ['build-1', 'build-2', 'build-3', 'release'])
      await pushImage('gc/ret', tag, [`l ${tag} ${Math.random()}`]);
    clock.aheadMs = 3601_000;
    const report = await collector({ tagRules: [{ repository: 'gc/*', tag: 'build-*', keepLast: 1 }] }).run();
    expect(report.tags).toBe(2);
    const tags = (await (await client.request('GET', '/v2/gc/ret/tags/list')).json()) as { tags: string[] };
    expect(tags.tags.sort()).toEqual(['build-3', 'release']);
    await pullIntact('gc/ret', 'build-3');
  });

  // Against moto this race fails now and then (a live tag's manifest answered 404 after a
  // collection) and never against DynamoDB Local, where every run races it, so it runs on the
  // embedded servers only. The cause: moto 5.2.5 copies the whole table before a TransactWriteItems and, when a condition fails, puts
  // that copy back (moto/dynamodb/models/__init__.py, transact_write_items): every write other
  // requests committed in between is lost. Here a collector's conditional delete that loses its race
  // (by design) erased a concurrent push's manifest and tag after the push was answered 201, traced in
  // about 1 run in 8. DynamoDB isolates transactions per item and never does this.
  const raceTest = embeddedServersTest(
    "moto's TransactWriteItems undoes a failed transaction by restoring a copy of the whole table, erasing concurrent writes; it runs against DynamoDB Local",
  );

  raceTest(
    'parallel pushes sharing layers, deletes and collection, many rounds: no tagged image ever loses a blob',
    async () => {
      const layers = [`common base ${Math.random()}`, `common tools ${Math.random()}`];
      const repos = ['race/one', 'race/two', 'race/three'];
      const live = new Map<string, string>();
      // A grace of seconds instead of hours: what earlier rounds wrote is fair game while this round
      // pushes and deletes. The grace must only cover the time from a write's timestamp to its commit
      // (with no grace at all, a transaction still in flight when the run starts looks old).
      const gcNow = collector({ graceSeconds: 4 });
      const collected = { manifests: 0, links: 0, blobs: 0, skipped: 0 };
      const collect = async () => {
        const r = await gcNow.run();
        for (const k of Object.keys(collected) as (keyof typeof collected)[]) collected[k] += r[k];
      };
      clock.aheadMs = 0;
      const failures: string[] = [];
      for (let round = 0; round < 8; round++) {
        const roundStarted = Date.now();
        const pushes = repos.flatMap((repo, i) =>
          [0, 1].map(async (j) => {
            const tag = `r${round}-${j}`;
            for (let attempt = 0; attempt < 5; attempt++) {
              try {
                await pushImage(repo, tag, [layers[(i + j) % 2]!, `unique ${round} ${i} ${j} ${Math.random()}`]);
                live.set(`${repo}:${tag}`, tag);
                return;
              } catch (err) {
                // A push that lost to the collector is told so (MANIFEST_BLOB_UNKNOWN or 503) and retried.
                failures.push(String(err).slice(0, 80));
              }
            }
            throw new Error(`push ${repo}:${tag} kept failing`);
          }),
        );
        const deletes = [...live.keys()]
          .filter((_, k) => k % 3 === round % 3)
          .map(async (ref) => {
            const [repo, tag] = ref.split(':') as [string, string];
            live.delete(ref);
            // A busy store answers 503 with Retry-After; clients retry, and so does this test, so that
            // every round really leaves something for the collector.
            for (let attempt = 0; attempt < 5; attempt++) {
              const res = await client.request('DELETE', `/v2/${repo}/manifests/${tag}`);
              if (res.status !== 503) {
                expect(res.status).toBe(202);
                return;
              }
              await new Promise((r) => setTimeout(r, 500));
            }
          });
        const collections = [collect(), new Promise((r) => setTimeout(r, 150)).then(collect)];
        await Promise.all([...pushes, ...deletes, ...collections]);
        for (const ref of live.keys()) {
          const [repo, tag] = ref.split(':') as [string, string];
          await pullIntact(repo, tag);
        }
        // A round lasts at least 750 ms, so that the later rounds' collections run more than the
        // grace (4 s) after the first rounds' deletes however fast the machine is.
        await new Promise((r) => setTimeout(r, Math.max(0, 750 - (Date.now() - roundStarted))));
      }
      process.stdout.write(
        `\nGC race: ${live.size} live tags after 8 rounds; collected during the race ${JSON.stringify(collected)}; ${failures.length} pushes lost to the collector and were retried\n`,
      );
      expect(collected.blobs).toBeGreaterThan(0);
      // Everything deleted and collected: the race repositories leave no blob behind.
      for (const ref of live.keys()) {
        const [repo, tag] = ref.split(':') as [string, string];
        await client.request('DELETE', `/v2/${repo}/manifests/${tag}`);
      }
      // Unreferenced objects go after two sightings an hour apart.
      clock.aheadMs = 2_000;
      await gcNow.run();
      clock.aheadMs = 2 * 3600_000;
      await gcNow.run();
      clock.aheadMs = 4 * 3600_000;
      await gcNow.run();
      const remaining = await objects('blobs/');
      const stillRecorded = new Set<string>();
      for (const name of ['gc/b', 'gc/idx', 'gc/ret']) {
        const list = (await (await client.request('GET', `/v2/${name}/tags/list`)).json()) as { tags?: string[] };
        for (const tag of list.tags ?? []) {
          const res = await client.request('GET', `/v2/${name}/manifests/${tag}`, {
            headers: { Accept: OCI_MANIFEST },
          });
          const m = (await res.json()) as { config: { digest: string }; layers: { digest: string }[] };
          for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) {
            stillRecorded.add((await registry.services.blobs.stat(name, d)).key);
          }
        }
      }
      expect(remaining.filter((k) => !stillRecorded.has(k))).toEqual([]);
    },
    180_000,
  );
});
