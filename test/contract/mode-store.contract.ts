import type { ModeStore } from '../../lambda/core/ports/mode';

/**
 * The behaviour every ModeStore must have. `open` gives a store as a deployment leaves it: read-write
 * (a new metadata table has no mode item; a fresh local data directory has no mode file).
 */
export function modeStoreContract(label: string, open: () => Promise<ModeStore>): void {
  describe(`ModeStore contract: ${label}`, () => {
    let store: ModeStore;
    beforeEach(async () => {
      store = await open();
    });

    test('starts read-write', async () => {
      await expect(store.read()).resolves.toBe('read-write');
    });

    test('reads back what was written, both ways, any number of times', async () => {
      await store.write('read-only');
      await expect(store.read()).resolves.toBe('read-only');
      await store.write('read-only');
      await expect(store.read()).resolves.toBe('read-only');
      await store.write('read-write');
      await expect(store.read()).resolves.toBe('read-write');
    });
  });
}
