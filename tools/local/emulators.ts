import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { endWithThisProcess } from './reaper';
import type { ToolPaths } from './tools';

/** Fixed credentials of the local servers; they never leave this machine. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'registrylocal', secretAccessKey: 'registrylocalsecret' } as const;
export const LOCAL_REGION = 'us-east-1';

export interface RunningEmulators {
  readonly s3Endpoint: string;
  readonly dynamodbEndpoint: string;
  /** Which S3 server it is, for what local mode prints. */
  readonly s3Server: string;
  stop(): Promise<void>;
}

/** A port the OS considers free right now on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts DynamoDB Local and the S3 server on loopback ports, with their data under `dataDir`, and
 * waits until both answer. The S3 server has one account, `LOCAL_CREDENTIALS`.
 */
export async function startEmulators(tools: ToolPaths, dataDir: string): Promise<RunningEmulators> {
  const ddbPort = await freePort();
  const s3Port = await freePort();
  const ddbData = join(dataDir, 'dynamodb');
  // Each server keeps its objects in a form of its own: a directory each, so that neither reads the other's.
  const s3Data = join(dataDir, tools.s3.kind === 'versitygw' ? 's3' : 's3proxy');
  mkdirSync(ddbData, { recursive: true });
  mkdirSync(s3Data, { recursive: true });
  const children: Server[] = [];
  const stop = async () => {
    await Promise.all(
      children.map((server) => {
        server.stopping = true;
        return terminate(server.current);
      }),
    );
  };
  try {
    children.push(
      launch(
        'DynamoDB Local',
        'java',
        [
          `-Djava.library.path=${join(tools.dynamodbLocalDir, 'DynamoDBLocal_lib')}`,
          '-Xmx512m',
          '-jar',
          join(tools.dynamodbLocalDir, 'DynamoDBLocal.jar'),
          '-sharedDb',
          '-disableTelemetry',
          '-dbPath',
          ddbData,
          '-port',
          String(ddbPort),
        ],
        ddbData,
      ),
      launchS3(tools.s3, s3Port, s3Data, dataDir),
    );
    const s3Endpoint = `http://127.0.0.1:${s3Port}`;
    const dynamodbEndpoint = `http://127.0.0.1:${ddbPort}`;
    await Promise.all([
      waitForHttp(s3Endpoint, children[1]!.current),
      waitForHttp(dynamodbEndpoint, children[0]!.current),
    ]);
    return { s3Endpoint, dynamodbEndpoint, s3Server: tools.s3.kind === 's3proxy' ? 'S3Proxy' : 'versitygw', stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The S3 server of `s3` on `port`, its objects under `data`, its one account `LOCAL_CREDENTIALS`. */
function launchS3(s3: ToolPaths['s3'], port: number, data: string, dataDir: string): Server {
  if (s3.kind === 'versitygw') {
    return launch('versitygw', s3.binary, ['--port', `127.0.0.1:${port}`, '--quiet', 'posix', data], dataDir, {
      ROOT_ACCESS_KEY: LOCAL_CREDENTIALS.accessKeyId,
      ROOT_SECRET_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    });
  }
  // S3Proxy serves a jclouds blob store; filesystem-nio2 keeps the objects as files under `data`.
  const properties = join(dataDir, 's3proxy.properties');
  writeFileSync(
    properties,
    [
      `s3proxy.endpoint=http://127.0.0.1:${port}`,
      's3proxy.authorization=aws-v2-or-v4',
      `s3proxy.identity=${LOCAL_CREDENTIALS.accessKeyId}`,
      `s3proxy.credential=${LOCAL_CREDENTIALS.secretAccessKey}`,
      'jclouds.provider=filesystem-nio2',
      'jclouds.identity=local',
      'jclouds.credential=local',
      `jclouds.filesystem.basedir=${data}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return launch('S3Proxy', 'java', ['-Xmx512m', '-jar', s3.jar, '--properties', properties], dataDir);
}

/**
 * An embedded server that ends with this process (./reaper) and is started again when it dies on its
 * own, on the same port and data, so that a crash costs the requests in flight, not the session.
 */
interface Server {
  readonly name: string;
  current: ChildProcess;
  stopping: boolean;
}

function launch(name: string, command: string, args: string[], cwd: string, env: Record<string, string> = {}): Server {
  const server: Server = { name, current: undefined as unknown as ChildProcess, stopping: false };
  let restarts = 0;
  const start = () => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    endWithThisProcess(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('exit', (code, signal) => {
      if (server.stopping || server.current !== child) return;
      const tail = stderr.trim().split('\n').slice(-3).join(' | ');
      if (restarts >= 5) {
        process.stderr.write(`${name} exited (${signal ?? code}) and was restarted 5 times: giving up. ${tail}\n`);
        return;
      }
      restarts++;
      process.stderr.write(`${name} exited (${signal ?? code}); starting it again (restart ${restarts}). ${tail}\n`);
      setTimeout(start, 500 * restarts);
    });
    server.current = child;
  };
  start();
  return server;
}

/** Waits until `url` answers anything, failing at once if `child` exits first. */
export async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${child.spawnfile} exited with code ${child.exitCode} before answering`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
export function terminate(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
