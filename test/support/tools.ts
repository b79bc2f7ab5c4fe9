import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { promisify } from 'node:util';

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

/** What a client command printed. */
export type Output = { stdout: string; stderr: string };

/** Rejects with what the client printed, so a failure (and an expectation on it) says which command and why. */
export async function explain(what: string, pending: Promise<Output>): Promise<Output> {
  try {
    return await pending;
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`${what} failed: ${e.stderr?.trim() || e.stdout?.trim() || e.message}`);
  }
}

/** Docker Engine runs here only as root with dockerd installed; elsewhere its tests skip. */
export function dockerAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  return ['/usr/sbin/dockerd', '/usr/bin/dockerd', '/usr/local/bin/dockerd'].some((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * crane with its own home and Docker config directory `home` (its logins kept there), `--insecure`
 * on every command, and failures that say what crane printed.
 */
export function craneIn(crane: string, home: string): (...args: string[]) => Promise<Output> {
  const run = promisify(execFile);
  return (...args) =>
    explain(
      `crane ${args[0]}`,
      run(crane, [...args, '--insecure'], {
        env: { ...process.env, HOME: home, DOCKER_CONFIG: home },
        maxBuffer: 1 << 24,
      }),
    );
}
