import { createHash } from 'node:crypto';
import { dayOf, endOfDay, lastUsed, notPulledFor } from '../../../lambda/core/pulls';
import { ManifestService } from '../../../lambda/core/services/manifest-service';
import { manifestsEndpoint } from '../../../lambda/http/endpoints';
import { PULL_RECORD_WAIT_MS } from '../../../lambda/http/pulls';
import type { RegistryRequest } from '../../../lambda/http/request';
import type { Services } from '../../../lambda/http/services';
import { ManualClock, memoryRegistry } from '../../support/memory-registry';

const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const NAME = 'team/app';
const DAY = 86_400_000;
/** 2027-01-15T10:00:00Z */
const T = Date.UTC(2027, 0, 15, 10);

function request(method: string, path: string, body = '', headers: Record<string, string> = {}): RegistryRequest {
  const url = new URL(path, 'http://registry');
  return {
    method,
    rawPath: url.pathname,
    query: url.searchParams,
    header: (name) => headers[name.toLowerCase()],
    body: Buffer.from(body),
    requestId: 'unit',
  };
}

/** A registry whose manifests record pulls on `clock`, and a manifest pushed as `v1`. */
async function setup() {
  const registry = memoryRegistry();
  const clock = new ManualClock(T);
  const writes: string[] = [];
  const metadata = registry.metadata;
  const recordPull = metadata.recordPull.bind(metadata);
  metadata.recordPull = async (name, digest, day, tag) => {
    writes.push(`${name}@${digest} ${day}${tag !== undefined ? ` tag ${tag}` : ''}`);
    return recordPull(name, digest, day, tag);
  };
  const manifests = new ManifestService(registry.store, metadata, metadata, {
    maxManifestSize: 4 * 1024 * 1024,
    inlineLimit: 256 * 1024,
    clock,
  });
  const services: Services = { ...registry.services, manifests };
  const config = '{"os":"linux"}';
  await services.uploads.putWhole(NAME, sha256(config), Buffer.from(config));
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [],
  });
  await manifests.put(NAME, 'v1', OCI, Buffer.from(body));
  const pull = async (method: string, reference: string) =>
    (await manifestsEndpoint(request(method, `/v2/${NAME}/manifests/${reference}`), services)).statusCode;
  const stored = () => metadata.manifestRecords.get(`${NAME}@${sha256(body)}`)?.pulledOn;
  return { services, metadata, clock, writes, pull, stored, digest: sha256(body) };
}

describe('last pull days', () => {
  test('a day is the UTC date; its end is the next midnight; a day that is not one has no end', () => {
    expect(dayOf(T)).toBe('2027-01-15');
    expect(dayOf(Date.UTC(2027, 0, 15, 23, 59, 59, 999))).toBe('2027-01-15');
    expect(endOfDay('2027-01-15')).toBe(Date.UTC(2027, 0, 16));
    expect(endOfDay('15/01/2027')).toBeUndefined();
  });

  test('last use is the end of the pull day, or the push when later or never pulled', () => {
    const putAt = T - 10 * DAY;
    expect(lastUsed({ putAt })).toBe(putAt);
    expect(lastUsed({ putAt, pulledOn: '2027-01-14' })).toBe(Date.UTC(2027, 0, 15));
    expect(lastUsed({ putAt: T, pulledOn: '2027-01-01' })).toBe(T);
    expect(lastUsed({ putAt, pulledOn: 'garbage' })).toBe(putAt);
  });

  test('not pulled for N days: a whole N days since the end of the last pull day', () => {
    const pulledYesterday = lastUsed({ putAt: 0, pulledOn: '2027-01-14' });
    expect(notPulledFor(pulledYesterday, 1, T)).toBe(false);
    expect(notPulledFor(pulledYesterday, 1, Date.UTC(2027, 0, 16) - 1)).toBe(false);
    expect(notPulledFor(pulledYesterday, 1, Date.UTC(2027, 0, 16))).toBe(true);
    expect(notPulledFor(T - 3 * DAY, 3, T)).toBe(true);
    expect(notPulledFor(T - 3 * DAY + 1, 3, T)).toBe(false);
  });

  test('GET by tag or digest records the day once a day; HEAD never does', async () => {
    const { pull, writes, stored, clock, digest } = await setup();
    expect(await pull('HEAD', 'v1')).toBe(200);
    expect(writes).toEqual([]);
    expect(stored()).toBeUndefined();

    expect(await pull('GET', 'v1')).toBe(200);
    expect(await pull('GET', 'v1')).toBe(200);
    expect(await pull('GET', digest)).toBe(200);
    expect(writes).toEqual([`${NAME}@${digest} 2027-01-15 tag v1`]);
    expect(stored()).toBe('2027-01-15');

    // A GET by tag reads the day from the tag: pulled by digest first, the tag still records its own.
    clock.advance(86_400);
    expect(await pull('GET', digest)).toBe(200);
    expect(await pull('GET', 'v1')).toBe(200);
    expect(await pull('GET', 'v1')).toBe(200);
    expect(writes).toEqual([
      `${NAME}@${digest} 2027-01-15 tag v1`,
      `${NAME}@${digest} 2027-01-16`,
      `${NAME}@${digest} 2027-01-16 tag v1`,
    ]);
    expect(stored()).toBe('2027-01-16');
  });

  test('a failing or hanging write neither fails nor holds the pull', async () => {
    const { pull, metadata } = await setup();
    const lines: string[] = [];
    const capture = (stream: NodeJS.WriteStream) =>
      jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => lines.push(String(chunk)) > 0);
    const spies = [capture(process.stdout), capture(process.stderr)];
    try {
      metadata.recordPull = async () => {
        throw new Error('table unreachable');
      };
      expect(await pull('GET', 'v1')).toBe(200);
      expect(lines.join('')).toMatch(/"level":"ERROR","message":"the pull was not recorded".*table unreachable/);
      metadata.recordPull = () => new Promise(() => {});
      const started = Date.now();
      expect(await pull('GET', 'v1')).toBe(200);
      expect(Date.now() - started).toBeLessThan(PULL_RECORD_WAIT_MS + 500);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  test('a pull never recreates a deleted manifest nor moves its day back', async () => {
    const { metadata, digest, stored } = await setup();
    await metadata.recordPull(NAME, digest, '2027-01-15');
    await metadata.recordPull(NAME, digest, '2027-01-14');
    expect(stored()).toBe('2027-01-15');
    await metadata.deleteManifest(NAME, digest);
    await metadata.recordPull(NAME, digest, '2027-01-16');
    expect(stored()).toBeUndefined();
  });
});
