import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AwsClients } from '../../lambda/adapters/aws-clients';
import { DynamoDbHealthCheck } from '../../lambda/adapters/dynamodb/dynamodb-health-check';
import { FileModeStore } from '../../lambda/adapters/modefile/file-mode-store';
import { FUNCTION_GROUPS, routeTable, type FunctionGroup } from '../../lambda/config/routes';
import { baseEndpoint } from '../../lambda/http/endpoints';
import { lambdaHandler } from '../../lambda/http/lambda-handler';
import { createLocalGateway, type LambdaFn } from '../../tools/local/gateway';
import { startLocalRegistry, type LocalRegistry, type LocalRegistryOptions } from '../../tools/local/registry';
import { freshStorage, testClients } from '../support/aws';
import { RegistryClient, sha256 } from '../support/http-client';

const ROOT = join(__dirname, '..', '..');
const OCI = 'application/vnd.oci.image.manifest.v1+json';

type Line = Record<string, unknown>;

/**
 * The handlers' JSON lines (logs and EMF), kept from the moment the suite starts instead of printed;
 * anything else still reaches the terminal.
 */
const written: Line[] = [];
let restore: (() => void) | undefined;
function keepJsonLines(): void {
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((s) => s.write.bind(s));
  streams.forEach((stream, i) => {
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = String(chunk);
      if (!text.startsWith('{')) return (originals[i] as (...a: unknown[]) => boolean)(chunk, ...rest);
      for (const line of text.split('\n').filter(Boolean)) written.push(JSON.parse(line) as Line);
      return true;
    }) as typeof stream.write;
  });
  restore = () => streams.forEach((stream, i) => (stream.write = originals[i] as typeof stream.write));
}

/** The lines written while `fn` runs. */
async function capture<T>(fn: () => Promise<T>): Promise<{ result: T; lines: Line[] }> {
  const from = written.length;
  const result = await fn();
  // Access lines are written as the response finishes, possibly just after the client has it.
  await new Promise((r) => setTimeout(r, 50));
  return { result, lines: written.slice(from) };
}

async function startRegistry(
  clients: AwsClients,
  options: Partial<LocalRegistryOptions> = {},
): Promise<LocalRegistry & { dataDir: string }> {
  const { bucket, table } = await freshStorage(clients);
  const dataDir = mkdtempSync(join(tmpdir(), 'registry-obs-'));
  const registry = await startLocalRegistry({ port: 0, dataDir, clients, bucket, table, ...options });
  return { ...registry, dataDir };
}

function manifestOf(config: string, layer: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
  });
}

describe('observability and maintenance mode over HTTP (local mode)', () => {
  let clients: AwsClients;
  let registry: LocalRegistry & { dataDir: string };
  let client: RegistryClient;
  beforeAll(async () => {
    keepJsonLines();
    clients = testClients();
    // Mode read on every write, so switching needs no wait; logs and metrics as deployed.
    registry = await startRegistry(clients, { modeCacheMs: 0, logLevel: 'INFO', metrics: true });
    client = new RegistryClient(registry.url);
  });
  afterAll(async () => {
    await registry?.stop();
    clients?.s3.destroy();
    clients?.dynamodb.destroy();
    restore?.();
  });

  describe('request ids, access lines and metrics', () => {
    test('a function answer: X-Request-Id is the gateway request id, and names the access and EMF lines', async () => {
      const { result: res, lines } = await capture(() =>
        client.request('GET', '/v2/', { headers: { Authorization: 'Bearer top-secret' } }),
      );
      expect(res.status).toBe(200);
      const id = res.headers.get('x-request-id');
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get('apigw-requestid')).toBe(id);
      const access = lines.filter((l) => l.message === 'request');
      expect(access).toEqual([
        expect.objectContaining({ requestId: id, functionGroup: 'base', method: 'GET', path: '/v2/', status: 200 }),
      ]);
      expect(typeof access[0]!.lambdaRequestId).toBe('string');
      expect(lines.filter((l) => '_aws' in l)).toEqual([
        expect.objectContaining({ requestId: id, Latency: expect.any(Number) }),
      ]);
      expect(JSON.stringify(lines)).not.toContain('top-secret');
    });

    test('the uploader: its own request id on the response and its lines, group uploader', async () => {
      const body = `layer ${Math.random()}`;
      const { result: res, lines } = await capture(() =>
        client.request('POST', `/v2/obs/app/blobs/uploads/?digest=${sha256(body)}`, {
          body,
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      );
      expect(res.status).toBe(201);
      const id = res.headers.get('x-request-id');
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(lines.find((l) => l.message === 'request')).toMatchObject({
        requestId: id,
        functionGroup: 'uploader',
        status: 201,
        requestBytes: body.length,
      });
      expect(lines.find((l) => '_aws' in l)).toMatchObject({
        requestId: id,
        functionGroup: 'uploader',
        BlobBytesPushed: body.length,
      });
    });

    test('an error answer names its request in the body too', async () => {
      const res = await client.request('GET', '/v2/obs/app/manifests/missing');
      const body = (await res.json()) as { errors: { code: string; detail: { requestId: string } }[] };
      expect(res.status).toBe(404);
      expect(body.errors[0]).toMatchObject({
        code: 'MANIFEST_UNKNOWN',
        detail: { requestId: res.headers.get('x-request-id') },
      });
    });

    test("the gateway's own answers carry API Gateway's request id header", async () => {
      const big = Buffer.alloc(5 * 1024 * 1024);
      const res = await new RegistryClient(registry.url).request('PUT', '/v2/obs/app/manifests/huge', {
        body: big,
        headers: { 'Content-Type': OCI },
      });
      expect(res.status).toBe(413);
      expect(res.headers.get('apigw-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('GET /', () => {
    test('the registry metadata document: software, version, where the v2 API is, the mirrors offered', async () => {
      const res = await client.request('GET', '/');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({
        registry: 'serverless-oci-registry',
        version: (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string })
          .version,
        api: { 'oci-distribution': { url: 'v2/', version: 'v1.1' } },
        mirrors: [],
      });
      const head = await client.request('HEAD', '/');
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      const post = await client.request('POST', '/');
      expect(post.status).toBe(405);
    });
  });

  describe('GET /health', () => {
    test('200 {"status":"ok","mode":"read-write"} on GET, an empty 200 on HEAD, and the route is its own', async () => {
      const res = await client.request('GET', '/health');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok', mode: 'read-write' });
      expect(res.headers.get('cache-control')).toBe('no-store');
      const head = await client.request('HEAD', '/health');
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      expect(routeTable().find((r) => r.path === '/health')?.group).toBe('base');
    });

    test('503 UNAVAILABLE with Retry-After when the table is unreachable (a missing table)', async () => {
      const broken = {
        ...registry.services,
        health: new DynamoDbHealthCheck(clients.dynamodb, 'registry-no-such-table'),
      };
      const handler = lambdaHandler(baseEndpoint, () => broken, {
        group: 'base',
        logLevel: 'SILENT',
        metrics: false,
      }) as unknown as LambdaFn;
      const server: Server = createLocalGateway({
        routes: routeTable(),
        handlers: Object.fromEntries(FUNCTION_GROUPS.map((g) => [g, handler])) as Record<FunctionGroup, LambdaFn>,
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const res = await fetch(`${url}/health`);
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('5');
        const body = (await res.json()) as { errors: { code: string; message: string }[] };
        expect(body.errors[0]?.code).toBe('UNAVAILABLE');
        expect(body.errors[0]?.message).not.toContain('registry-no-such-table');
        expect((await fetch(`${url}/health`, { method: 'HEAD' })).status).toBe(503);
      } finally {
        await new Promise((ok) => server.close(ok));
      }
    });
  });

  describe('maintenance (read-only) mode', () => {
    const name = 'maint/app';
    let pushed: { digest: string; layer: string };
    const mode = () => new FileModeStore(registry.dataDir);

    beforeAll(async () => {
      const layer = `layer ${Math.random()}`;
      const config = `{"os":"linux","n":"${Math.random()}"}`;
      await client.pushBlob(name, layer);
      await client.pushBlob(name, config);
      const res = await client.request('PUT', `/v2/${name}/manifests/1.0`, {
        body: manifestOf(config, layer),
        headers: { 'Content-Type': OCI },
      });
      expect(res.status).toBe(201);
      pushed = { digest: sha256(layer), layer };
    });
    afterEach(async () => {
      await mode().write('read-write');
    });

    async function expectMaintenance(res: Response): Promise<void> {
      const text = await res.text();
      expect({ status: res.status, body: text }).toMatchObject({ status: 503 });
      expect(res.headers.get('retry-after')).toBe('60');
      const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
      expect(body.errors[0]?.code).toBe('UNAVAILABLE');
      expect(body.errors[0]?.message).toMatch(/maintenance \(read-only\) mode/);
    }

    test('every write answers 503 with Retry-After; every read works; switching back restores writes', async () => {
      // An upload session opened before the switch: its chunks are writes too.
      const started = await client.request('POST', `/v2/${name}/blobs/uploads/`);
      expect(started.status).toBe(202);
      const session = started.headers.get('location') as string;
      await mode().write('read-only');

      const layer = `new layer ${Math.random()}`;
      await expectMaintenance(await client.request('POST', `/v2/${name}/blobs/uploads/`));
      await expectMaintenance(
        await client.request('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(layer)}`, {
          body: layer,
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      );
      await expectMaintenance(
        await client.request('PATCH', session, {
          body: 'chunk',
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      );
      await expectMaintenance(await client.request('PUT', `${session}?digest=${sha256('chunk')}`));
      await expectMaintenance(await client.request('DELETE', session));
      await expectMaintenance(
        await client.request('PUT', `/v2/${name}/manifests/2.0`, { body: '{}', headers: { 'Content-Type': OCI } }),
      );
      await expectMaintenance(await client.request('DELETE', `/v2/${name}/manifests/1.0`));
      await expectMaintenance(await client.request('DELETE', `/v2/${name}/blobs/${pushed.digest}`));

      expect((await client.request('GET', `/v2/${name}/manifests/1.0`, { headers: { Accept: OCI } })).status).toBe(200);
      expect((await client.request('HEAD', `/v2/${name}/manifests/1.0`, { headers: { Accept: OCI } })).status).toBe(
        200,
      );
      expect((await client.request('HEAD', `/v2/${name}/blobs/${pushed.digest}`)).status).toBe(200);
      const blob = await client.request('GET', `/v2/${name}/blobs/${pushed.digest}`);
      expect(blob.status).toBe(307);
      expect(await (await fetch(blob.headers.get('location') as string)).text()).toBe(pushed.layer);
      expect((await client.request('GET', `/v2/${name}/tags/list`)).status).toBe(200);
      expect((await client.request('GET', '/v2/_catalog')).status).toBe(200);
      // Reading an upload's status is a read.
      expect((await client.request('GET', session)).status).toBe(204);
      // Maintenance is no outage: a load balancer keeps routing pulls here, a monitor reads the mode.
      const health = await client.request('GET', '/health');
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok', mode: 'read-only' });

      await mode().write('read-write');
      expect(await (await client.request('GET', '/health')).json()).toEqual({ status: 'ok', mode: 'read-write' });
      expect(
        (
          await client.request('PATCH', session, {
            body: 'chunk',
            headers: { 'Content-Type': 'application/octet-stream' },
          })
        ).status,
      ).toBe(202);
      expect((await client.request('PUT', `${session}?digest=${sha256('chunk')}`)).status).toBe(201);
      await client.pushBlob(name, layer);
    });

    test('the admin CLI switches local mode on and off and reports the mode', async () => {
      const cli = (...args: string[]) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            ['--import', 'tsx', 'bin/admin.ts', 'maintenance', ...args, '--local', '--data-dir', registry.dataDir],
            { cwd: ROOT },
          );
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, stdout, stderr }));
        });
      expect(await cli('on')).toMatchObject({ code: 0, stdout: expect.stringMatching(/maintenance mode on/) });
      await expectMaintenance(await client.request('POST', `/v2/${name}/blobs/uploads/`));
      const status = await cli('status', '--json');
      expect(JSON.parse(status.stdout)).toMatchObject({ mode: 'read-only', maintenance: true });
      expect(await cli('off')).toMatchObject({ code: 0 });
      expect((await client.request('POST', `/v2/${name}/blobs/uploads/`)).status).toBe(202);
    }, 60_000);

    test('with the deployed cache period a switch is not seen at once: the mode is read once per period', async () => {
      const cached = await startRegistry(clients, { modeCacheMs: 60_000 });
      try {
        const c = new RegistryClient(cached.url);
        expect((await c.request('POST', `/v2/${name}/blobs/uploads/`)).status).toBe(202);
        await new FileModeStore(cached.dataDir).write('read-only');
        expect((await c.request('POST', `/v2/${name}/blobs/uploads/`)).status).toBe(202);
      } finally {
        await cached.stop();
      }
    });
  });

  test('every log line and every EMF line the suite saw carried a request id', () => {
    expect(written.length).toBeGreaterThan(40);
    expect(written.filter((l) => typeof l.requestId !== 'string' || l.requestId === '')).toEqual([]);
    expect(written.some((l) => l.message === 'request' && l.functionGroup === 'uploader')).toBe(true);
    expect(written.some((l) => '_aws' in l && l.functionGroup === 'manifests' && l.Pushes === 1)).toBe(true);
  });
});
