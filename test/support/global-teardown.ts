import { rmSync } from 'node:fs';
import type { RunningEmulators } from '../../tools/local/emulators';

export default async function globalTeardown(): Promise<void> {
  const state = globalThis as { __registryEmulators?: RunningEmulators; __registryDataDir?: string };
  const emulators = state.__registryEmulators;
  const dataDir = state.__registryDataDir;
  // Every tier with servers runs this; the first one stops them.
  state.__registryEmulators = undefined;
  state.__registryDataDir = undefined;
  await emulators?.stop();
  // What the servers stored for the run (a few GB after the large-layer tests) goes with them.
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
