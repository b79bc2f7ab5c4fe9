import type { RunningEmulators } from '../../tools/local/emulators';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __registryEmulators?: RunningEmulators }).__registryEmulators?.stop();
}
