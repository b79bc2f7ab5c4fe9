import { loadConfig, type RegistryConfig } from '../../../lambda/config/config';
import { ENV } from '../../../lambda/config/env';
import type { TokenKeys } from '../../../lambda/core/ports/token-keys';
import { composeBase } from '../../../lambda/handlers/base';
import { composeBlobs } from '../../../lambda/handlers/blobs';
import { compose } from '../../../lambda/handlers/compose';
import { composeDiscovery } from '../../../lambda/handlers/discovery';
import { composeManifests } from '../../../lambda/handlers/manifests';
import { composeToken } from '../../../lambda/handlers/token';
import { cacheRules } from '../../../lambda/handlers/wiring/pull-through';
import type { BlobService } from '../../../lambda/core/services/blob-service';
import {
  EventPublisherOnFirstUse,
  ModeStoreOnFirstUse,
  TokenKeysOnFirstUse,
} from '../../../lambda/handlers/wiring/on-first-use';

const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';

/** A token-mode function's environment as the stack sets it, events and maintenance mode on. */
function config(overrides: Record<string, string> = {}): RegistryConfig {
  return loadConfig({
    [ENV.bucket]: 'bucket',
    [ENV.table]: 'table',
    [ENV.authMode]: 'token',
    [ENV.accountsTable]: 'accounts',
    [ENV.tokenKeys]: KEY,
    [ENV.eventBus]: 'default',
    [ENV.modeInTable]: 'true',
    ...overrides,
  });
}

describe('each function composes the services of its own routes', () => {
  test.each([
    ['base', composeBase, ['auth', 'health', 'maxNameDepth', 'mode']],
    ['blobs', composeBlobs, ['auth', 'blobs', 'events', 'maxNameDepth', 'mode', 'publishPulls', 'uploads']],
    ['manifests', composeManifests, ['auth', 'events', 'manifests', 'maxNameDepth', 'mode', 'publishPulls']],
    ['discovery', composeDiscovery, ['auth', 'discovery', 'maxNameDepth']],
    ['token', composeToken, ['auth', 'maxNameDepth']],
  ] as const)('%s', (_group, composeGroup, services) => {
    expect(Object.keys(composeGroup(config())).sort()).toEqual(services);
  });

  test('every group has what the whole registry (local mode, the uploader) has of it', () => {
    const all = Object.keys(compose(config())).sort();
    const union = new Set(
      [composeBase, composeBlobs, composeManifests, composeDiscovery, composeToken].flatMap((c) =>
        Object.keys(c(config())),
      ),
    );
    expect([...union].sort()).toEqual(all);
  });

  test('without events and maintenance mode, no group has them', () => {
    const plain = config({ [ENV.eventBus]: '', [ENV.modeInTable]: '' });
    for (const composeGroup of [composeBase, composeBlobs, composeManifests]) {
      const services = composeGroup(plain) as object;
      expect(services).not.toHaveProperty('events');
      expect(services).not.toHaveProperty('mode');
    }
  });

  test('the blob and manifest services of a process share one set of pull-through rules and upstreams', () => {
    const cached = config({
      [ENV.pullThrough]: JSON.stringify([{ prefix: 'hub', upstream: 'https://registry-1.docker.io' }]),
    });
    const rules = cacheRules(cached);
    expect(rules).toBeDefined();
    expect(cacheRules(cached)).toBe(rules);
    expect((compose(cached).blobs as BlobService).cacheRules).toBe(rules);
    expect(cacheRules(config())).toBeUndefined();
  });

  test('a malformed token key fails composition, before any request needs it', () => {
    for (const composeGroup of [composeBase, composeDiscovery, composeToken]) {
      expect(() => composeGroup(config({ [ENV.tokenKeys]: 'alias/registry' }))).toThrow(
        'alias/registry is not a KMS key ARN or key id',
      );
    }
  });
});

describe('ports created on first use', () => {
  const fakeKeys = (): TokenKeys => ({
    signingKeyId: () => 'k1',
    sign: async () => new Uint8Array([1]),
    publicKey: async (kid) => (kid === 'k1' || kid === 'k2' ? new Uint8Array([2]) : undefined),
  });

  test('token keys are created for the first public key or signature, once', async () => {
    const create = jest.fn(fakeKeys);
    const keys = new TokenKeysOnFirstUse(['k1', 'k2'], create);
    expect(keys.signingKeyId()).toBe('k1');
    // A kid no configured key has needs no key service to be refused.
    await expect(keys.publicKey('someone-else')).resolves.toBeUndefined();
    expect(create).not.toHaveBeenCalled();
    await expect(keys.publicKey('k2')).resolves.toEqual(new Uint8Array([2]));
    await expect(keys.sign('k1', new Uint8Array([0]))).resolves.toEqual(new Uint8Array([1]));
    await keys.publicKey('k1');
    expect(create).toHaveBeenCalledTimes(1);
  });

  test('the mode store is created for the first read', async () => {
    const create = jest.fn(() => ({ read: async () => 'read-only' as const, write: async () => {} }));
    const store = new ModeStoreOnFirstUse(create);
    expect(create).not.toHaveBeenCalled();
    await expect(store.read()).resolves.toBe('read-only');
    await store.write('read-write');
    await store.read();
    expect(create).toHaveBeenCalledTimes(1);
  });

  test('the event publisher is created with the first events', async () => {
    const publish = jest.fn(async () => {});
    const create = jest.fn(() => ({ publish }));
    const publisher = new EventPublisherOnFirstUse(create);
    expect(create).not.toHaveBeenCalled();
    await publisher.publish([]);
    await publisher.publish([]);
    expect(create).toHaveBeenCalledTimes(1);
    expect(publish).toHaveBeenCalledTimes(2);
  });
});
