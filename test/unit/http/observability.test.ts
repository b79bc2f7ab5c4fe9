import { createHash } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { ENV } from '../../../lambda/config/env';
import { GROUP_DIMENSION, METRICS_NAMESPACE, SERVICE_NAME } from '../../../lambda/config/observability';
import { MemoryModeStore } from '../../../lambda/adapters/memory/memory-mode-store';
import { ModeService } from '../../../lambda/core/services/mode-service';
import { baseEndpoint, blobsEndpoint, manifestsEndpoint, type Endpoint } from '../../../lambda/http/endpoints';
import { lambdaHandler } from '../../../lambda/http/lambda-handler';
import { log } from '../../../lambda/http/log';
import type { ObservedGroup } from '../../../lambda/http/observability';
import type { HttpResponse } from '../../../lambda/http/response';
import type { Services } from '../../../lambda/http/services';
import { memoryRegistry } from '../../support/memory-registry';

const digestOf = (b: string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const SECRET = 'Basic c2VjcmV0OnBhc3N3b3Jk';

type Line = Record<string, unknown>;

/** Every JSON line written to stdout and stderr while `fn` runs. */
async function capture<T>(fn: () => Promise<T>): Promise<{ result: T; lines: Line[]; raw: string }> {
  let raw = '';
  const grab = (chunk: unknown) => {
    raw += String(chunk);
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(grab);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(grab);
  try {
    const result = await fn();
    const lines = raw
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Line);
    return { result, lines, raw };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

let sequence = 0;
function event(
  method: string,
  path: string,
  options: { body?: string; query?: string; headers?: Record<string, string> } = {},
) {
  const requestId = `apigw-${++sequence}`;
  const e = {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: options.query ?? '',
    headers: { host: 'registry.example.com', authorization: SECRET, ...options.headers },
    requestContext: {
      requestId,
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'test' },
    },
    ...(options.body !== undefined
      ? { body: Buffer.from(options.body).toString('base64'), isBase64Encoded: true }
      : {}),
  } as unknown as APIGatewayProxyEventV2;
  const context = { awsRequestId: `lambda-${sequence}`, functionName: 'fn' } as Context;
  return { e, context, requestId, lambdaRequestId: context.awsRequestId };
}

function handler(endpoint: Endpoint, services: Services, group: ObservedGroup, logLevel = 'INFO') {
  const h = lambdaHandler(endpoint, () => services, { group, logLevel });
  return (e: APIGatewayProxyEventV2, context: Context) => h(e, context) as Promise<HttpResponse>;
}

const bodyOf = (r: HttpResponse) => JSON.parse(Buffer.from(r.body ?? '', 'base64').toString()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const emf = (lines: Line[]) => lines.filter((l) => '_aws' in l);
const logs = (lines: Line[]) => lines.filter((l) => !('_aws' in l));

describe('observability of the Lambda handlers', () => {
  let services: Services;
  beforeEach(() => {
    services = memoryRegistry().services;
  });

  test('every log line is JSON with level, service, group and both request ids; one access line per request', async () => {
    const { e, context, requestId, lambdaRequestId } = event('GET', '/v2/');
    const { result, lines } = await capture(() => handler(baseEndpoint, services, 'base')(e, context));
    expect(result.statusCode).toBe(200);
    expect(logs(lines).length).toBeGreaterThan(0);
    for (const line of logs(lines)) {
      expect(line).toMatchObject({ service: SERVICE_NAME, [GROUP_DIMENSION]: 'base', requestId, lambdaRequestId });
      expect(typeof line.level).toBe('string');
      expect(typeof line.timestamp).toBe('string');
    }
    const access = logs(lines).filter((l) => l.message === 'request');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ level: 'INFO', method: 'GET', path: '/v2/', status: 200, responseBytes: 2 });
    expect(typeof access[0]!.durationMs).toBe('number');
  });

  test('lines logged deep inside a request, through the plain log() export, carry its ids too', async () => {
    const { e, context, requestId } = event('GET', '/v2/');
    const noisy: Endpoint = async (req, s) => {
      log('something went wrong inside', { detail: 1 });
      return baseEndpoint(req, s);
    };
    const { lines } = await capture(() => handler(noisy, services, 'base')(e, context));
    expect(logs(lines).find((l) => l.message === 'something went wrong inside')).toMatchObject({
      level: 'ERROR',
      requestId,
      detail: 1,
    });
  });

  test('no Authorization header, no query string and no body ever reach the logs', async () => {
    const { e, context } = event('POST', '/v2/team/app/blobs/uploads/', {
      query: `digest=${digestOf('layer')}&token=query-secret`,
      body: 'layer',
      headers: { 'x-registry-token': 'header-secret' },
    });
    const { raw, lines } = await capture(() => handler(blobsEndpoint, services, 'blobs', 'DEBUG')(e, context));
    expect(logs(lines).some((l) => l.message === 'request')).toBe(true);
    expect(raw).not.toContain(SECRET.split(' ')[1]);
    expect(raw).not.toContain('query-secret');
    expect(raw).not.toContain('header-secret');
    expect(raw.toLowerCase()).not.toContain('authorization');
  });

  test('every response carries X-Request-Id; error bodies carry the request id in detail', async () => {
    const ok = event('GET', '/v2/');
    const { result: okResponse } = await capture(() => handler(baseEndpoint, services, 'base')(ok.e, ok.context));
    expect(okResponse.headers['X-Request-Id']).toBe(ok.requestId);

    const missing = event('GET', `/v2/team/app/manifests/nope`);
    const { result, lines } = await capture(() =>
      handler(manifestsEndpoint, services, 'manifests')(missing.e, missing.context),
    );
    expect(result.statusCode).toBe(404);
    expect(result.headers['X-Request-Id']).toBe(missing.requestId);
    expect(bodyOf(result).errors[0]).toMatchObject({
      code: 'MANIFEST_UNKNOWN',
      detail: { requestId: missing.requestId },
    });
    expect(logs(lines).find((l) => l.message === 'request')).toMatchObject({ status: 404 });

    const crash: Endpoint = async () => {
      throw new Error('boom internals');
    };
    const failing = event('GET', '/v2/');
    const { result: crashed, lines: crashLines } = await capture(() =>
      handler(crash, services, 'base')(failing.e, failing.context),
    );
    expect(crashed.statusCode).toBe(500);
    expect(crashed.headers['X-Request-Id']).toBe(failing.requestId);
    expect(bodyOf(crashed).errors[0].detail).toEqual({ requestId: failing.requestId });
    const unhandled = logs(crashLines).find((l) => l.message === 'unhandled error');
    expect(unhandled).toMatchObject({
      level: 'ERROR',
      requestId: failing.requestId,
      lambdaRequestId: failing.lambdaRequestId,
    });
    expect(JSON.stringify(unhandled)).toContain('boom internals');
  });

  test('one EMF line per request in the registry namespace, by function group: latency, errors, pushes, pulls, bytes', async () => {
    const layer = 'some layer bytes';
    const config = '{"os":"linux"}';
    const blobs = handler(blobsEndpoint, services, 'blobs');
    const manifests = handler(manifestsEndpoint, services, 'manifests');
    const push = (body: string) => {
      const r = event('POST', '/v2/team/app/blobs/uploads/', { query: `digest=${digestOf(body)}`, body });
      return blobs(r.e, r.context);
    };
    const { lines: pushLines } = await capture(async () => {
      await push(layer);
      await push(config);
    });
    const pushed = emf(pushLines);
    expect(pushed).toHaveLength(2);
    const first = pushed[0]!;
    const directive = (
      first._aws as {
        CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
      }
    ).CloudWatchMetrics[0]!;
    expect(directive.Namespace).toBe(METRICS_NAMESPACE);
    expect(directive.Dimensions[0]?.sort()).toEqual([GROUP_DIMENSION, 'service'].sort());
    expect(first).toMatchObject({ [GROUP_DIMENSION]: 'blobs', service: SERVICE_NAME, BlobBytesPushed: layer.length });
    expect(typeof first.requestId).toBe('string');
    expect(directive.Metrics).toEqual(
      expect.arrayContaining([
        { Name: 'BlobBytesPushed', Unit: 'Bytes' },
        { Name: 'Latency', Unit: 'Milliseconds' },
      ]),
    );

    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
    });
    const put = event('PUT', '/v2/team/app/manifests/1.0', { body: manifest, headers: { 'content-type': OCI } });
    const get = event('GET', '/v2/team/app/manifests/1.0');
    const head = event('HEAD', '/v2/team/app/manifests/1.0');
    const missing = event('GET', '/v2/team/app/manifests/2.0');
    const { lines } = await capture(async () => {
      expect((await manifests(put.e, put.context)).statusCode).toBe(201);
      expect((await manifests(get.e, get.context)).statusCode).toBe(200);
      expect((await manifests(head.e, head.context)).statusCode).toBe(200);
      expect((await manifests(missing.e, missing.context)).statusCode).toBe(404);
    });
    const byRequest = new Map(emf(lines).map((l) => [l.requestId, l]));
    expect(byRequest.get(put.requestId)).toMatchObject({ Pushes: 1, [GROUP_DIMENSION]: 'manifests' });
    expect(byRequest.get(get.requestId)).toMatchObject({ Pulls: 1 });
    expect(byRequest.get(head.requestId)).not.toHaveProperty('Pulls');
    expect(byRequest.get(missing.requestId)).toMatchObject({ Errors4xx: 1 });
    expect(byRequest.get(missing.requestId)).not.toHaveProperty('Pulls');
    for (const line of byRequest.values()) expect(typeof line.Latency).toBe('number');
  });

  test('the log level comes from REGISTRY_LOG_LEVEL: at WARN, no access lines', async () => {
    const saved = process.env[ENV.logLevel];
    process.env[ENV.logLevel] = 'warn';
    try {
      const h = lambdaHandler(baseEndpoint, () => services, { group: 'base', metrics: false });
      const { e, context } = event('GET', '/v2/');
      const { lines } = await capture(() => h(e, context));
      expect(lines).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env[ENV.logLevel];
      else process.env[ENV.logLevel] = saved;
    }
  });

  test('GET and HEAD /health answer without credentials, before any route or auth check', async () => {
    const guarded = { ...services, auth: memoryRegistry({ auth: { mode: 'basic' } }).services.auth };
    const get = event('GET', '/health', { headers: { authorization: '' } });
    const { result } = await capture(() => handler(baseEndpoint, guarded, 'base')(get.e, get.context));
    expect(result.statusCode).toBe(200);
    expect(bodyOf(result)).toEqual({ status: 'ok', mode: 'read-write' });
    expect(result.headers['Cache-Control']).toBe('no-store');
    const head = event('HEAD', '/health');
    expect((await capture(() => handler(baseEndpoint, guarded, 'base')(head.e, head.context))).result.statusCode).toBe(
      200,
    );
    const post = event('POST', '/health');
    expect((await capture(() => handler(baseEndpoint, guarded, 'base')(post.e, post.context))).result.statusCode).toBe(
      405,
    );
  });

  test('in read-only mode writes get 503 with Retry-After before auth, reads pass', async () => {
    const store = new MemoryModeStore();
    store.mode = 'read-only';
    const readOnly = { ...services, mode: new ModeService(store, { now: () => 0 }, { cacheMs: 0 }) };
    const write = event('POST', '/v2/team/app/blobs/uploads/');
    const { result } = await capture(() => handler(blobsEndpoint, readOnly, 'blobs')(write.e, write.context));
    expect(result.statusCode).toBe(503);
    expect(result.headers['Retry-After']).toBe('60');
    expect(bodyOf(result).errors[0]).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/maintenance/),
    });
    const read = event('GET', `/v2/team/app/blobs/${digestOf('x')}`);
    expect(
      (await capture(() => handler(blobsEndpoint, readOnly, 'blobs')(read.e, read.context))).result.statusCode,
    ).toBe(404);
    expect(store.reads).toBe(1);
  });

  test('/health stays 200 in read-only mode and says so; a mode store that fails reports the last known mode', async () => {
    const store = new MemoryModeStore();
    store.mode = 'read-only';
    const readOnly = { ...services, mode: new ModeService(store, { now: () => 0 }, { cacheMs: 0 }) };
    const get = event('GET', '/health');
    const { result } = await capture(() => handler(baseEndpoint, readOnly, 'base')(get.e, get.context));
    expect(result.statusCode).toBe(200);
    expect(bodyOf(result)).toEqual({ status: 'ok', mode: 'read-only' });
    store.fail = new Error('SSM is down');
    const again = await capture(() => handler(baseEndpoint, readOnly, 'base')(get.e, get.context));
    expect(again.result.statusCode).toBe(200);
    expect(bodyOf(again.result)).toEqual({ status: 'ok', mode: 'read-only' });
    expect(again.lines).toContainEqual(expect.objectContaining({ message: expect.stringMatching(/mode unreadable/) }));
  });
});
