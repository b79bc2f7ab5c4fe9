import { REGISTRY_MODES as CONFIG_MODES } from '../../../lambda/config/observability';
import { MemoryModeStore } from '../../../lambda/adapters/memory/memory-mode-store';
import { UnavailableError } from '../../../lambda/core/errors';
import { REGISTRY_MODES } from '../../../lambda/core/ports/mode';
import { ModeService } from '../../../lambda/core/services/mode-service';
import { ManualClock } from '../../support/memory-registry';

describe('ModeService (maintenance mode)', () => {
  let store: MemoryModeStore;
  let clock: ManualClock;
  let service: ModeService;
  beforeEach(() => {
    store = new MemoryModeStore();
    clock = new ManualClock();
    service = new ModeService(store, clock, { cacheMs: 30_000, retryAfterSeconds: 60 });
  });

  test('the modes the stack allows are the modes the code knows', () => {
    expect([...CONFIG_MODES]).toEqual([...REGISTRY_MODES]);
  });

  test('read-write allows writes; read-only refuses them with 503 UNAVAILABLE, Retry-After and a maintenance message', async () => {
    await expect(service.assertWritable()).resolves.toEqual({ mode: 'read-write' });
    store.mode = 'read-only';
    clock.advance(30);
    const err = await service.assertWritable().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', retryAfterSeconds: 60 });
    expect((err as Error).message).toMatch(/maintenance \(read-only\) mode/);
  });

  test('the store is read at most once per cache period: a switch takes effect when the period ends', async () => {
    await service.current();
    store.mode = 'read-only';
    clock.advance(29.999);
    await expect(service.current()).resolves.toEqual({ mode: 'read-write' });
    expect(store.reads).toBe(1);
    clock.advance(0.001);
    await expect(service.current()).resolves.toEqual({ mode: 'read-only' });
    expect(store.reads).toBe(2);
    // Two reads a minute at most, however many requests come.
    for (let i = 0; i < 100; i++) {
      clock.advance(0.6);
      await service.current();
    }
    expect(store.reads).toBe(4);
  });

  test('concurrent requests share one store read', async () => {
    await Promise.all(Array.from({ length: 20 }, () => service.current()));
    expect(store.reads).toBe(1);
  });

  test('a failing store keeps the last known mode, reports the failure, and is retried only after the period', async () => {
    store.mode = 'read-only';
    await service.current();
    store.fail = new Error('ssm down');
    clock.advance(30);
    const reading = await service.current();
    expect(reading).toEqual({ mode: 'read-only', storeError: store.fail });
    await expect(service.assertWritable()).rejects.toThrow(/maintenance/);
    expect(store.reads).toBe(2);
    clock.advance(30);
    store.fail = undefined;
    store.mode = 'read-write';
    await expect(service.assertWritable()).resolves.toEqual({ mode: 'read-write' });
  });

  test('with no mode ever read, a failing store leaves the registry read-write', async () => {
    store.fail = new Error('no such parameter');
    await expect(service.assertWritable()).resolves.toMatchObject({ mode: 'read-write', storeError: store.fail });
  });

  test('a cache period of 0 reads the store every time (tests)', async () => {
    const uncached = new ModeService(store, clock, { cacheMs: 0 });
    await uncached.current();
    store.mode = 'read-only';
    await expect(uncached.current()).resolves.toEqual({ mode: 'read-only' });
  });
});
