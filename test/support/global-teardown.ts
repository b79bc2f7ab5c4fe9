import type { RunningEmulators } from '../../tools/local/emulators';

export default async function globalTeardown(): Promise<void> {
  const state = globalThis as { __registryEmulators?: RunningEmulators };
  const emulators = state.__registryEmulators;
  // Every tier with servers runs this; the first one stops them.
  state.__registryEmulators = undefined;
  await emulators?.stop();
}
