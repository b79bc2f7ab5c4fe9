import { execFileSync } from 'node:child_process';

/**
 * Fails the test with an actionable message when a client it drives is not installed: the suite's
 * promise is that these clients run, so a missing one is a failure, never a silent skip.
 */
export function requireTool(command: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${command} is not installed; .ci/run installs it (apt-get install ${command})`);
  }
}
