import type { RunningEmulators } from '../../lambda/local/emulators';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __registryEmulators?: RunningEmulators }).__registryEmulators?.stop();
}
