import { spawn } from 'node:child_process';
import { freePort } from './emulators';

export interface RunningMoto {
  /** `http://127.0.0.1:<port>`; any region and credentials are accepted. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts moto's server (`ensureMoto()` gives its path) on a loopback port and waits until it
 * answers. One server speaks every AWS service moto emulates; everything it holds is in memory and
 * gone when it stops. Used by the tests as a real KMS that creates P-256 keys and signs with them,
 * and as EventBridge with rules that deliver to SQS.
 */
export async function startMoto(motoServer: string, timeoutMs = 30_000): Promise<RunningMoto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(motoServer, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let failed: Error | undefined;
  child.once('error', (err) => {
    failed = err;
  });
  // moto logs every request to stderr: keep only the tail, for the error when it will not start.
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (failed) throw new Error(`cannot run ${motoServer}: ${failed.message}`);
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode}: ${stderr}`);
    try {
      await fetch(endpoint, { signal: AbortSignal.timeout(1000) });
      return { endpoint, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await stop();
  throw new Error(`moto_server did not answer on ${endpoint} within ${timeoutMs} ms: ${stderr}`);
}
