import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../tools/local/emulators';
import { LOCAL_ENDPOINTS_FILE } from '../../tools/local/endpoints-file';
import { embeddedServersTest } from '../support/endpoint-strictness';
import { until } from '../support/until';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** Pids of the embedded servers keeping data in `dataDir` (their command lines name it). */
function serversOf(dataDir: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', `${dataDir}/`])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Local mode (the one-process `npm run dev`: the servers' lifecycle is the same in both modes). */
function startLocalMode(dataDir: string, port: number): ChildProcess {
  return spawn(process.execPath, [TSX, join(ROOT, 'bin', 'dev.ts')], {
    cwd: ROOT,
    env: { ...process.env, REGISTRY_DATA_DIR: dataDir, REGISTRY_PORT: String(port), REGISTRY_LOG_REQUESTS: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const answers = async (url: string) => {
  try {
    return (await fetch(url)).status;
  } catch {
    return undefined;
  }
};

/** These start and kill local mode and its own servers: nothing an external endpoint has. */
const localTest = embeddedServersTest("it starts, kills and counts local mode's own embedded servers");

describe('local mode and its embedded servers', () => {
  localTest(
    'the servers end when local mode is killed with SIGKILL, and the admin CLI then says none runs',
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'registry-life-'));
      const port = await freePort();
      const registry = startLocalMode(dataDir, port);
      await until('local mode', async () =>
        (await answers(`http://localhost:${port}/v2/`)) === 200 ? true : undefined,
      );
      const servers = serversOf(dataDir);
      expect(servers.length).toBe(2);
      // The process that started the servers (tsx runs the registry as a child of its own).
      const owner = Number(
        execFileSync('ps', ['-o', 'ppid=', '-p', String(servers[0])])
          .toString()
          .trim(),
      );
      process.kill(owner, 'SIGKILL');
      await until('the servers to end', () => (serversOf(dataDir).length === 0 ? true : undefined), 10_000);
      await new Promise((resolve) => (registry.exitCode !== null ? resolve(null) : registry.on('exit', resolve)));
      const started = Date.now();
      const cli = (() => {
        try {
          execFileSync(
            process.execPath,
            [TSX, join(ROOT, 'bin', 'admin.ts'), '--local', '--data-dir', dataDir, 'user', 'list'],
            {
              cwd: ROOT,
              stdio: 'pipe',
            },
          );
          return '';
        } catch (err) {
          return String((err as { stderr?: Buffer }).stderr);
        }
      })();
      expect(cli).toMatch(/no local registry is running/);
      expect(Date.now() - started).toBeLessThan(8000);
    },
    90_000,
  );

  localTest(
    'a port in use ends the start with the servers it started',
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'registry-life-'));
      const taken = createServer();
      const port = await new Promise<number>((resolve) =>
        taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)),
      );
      try {
        const registry = startLocalMode(dataDir, port);
        let stderr = '';
        registry.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
        const code = await new Promise<number | null>((resolve) => registry.on('exit', resolve));
        expect(code).not.toBe(0);
        expect(stderr).toMatch(/EADDRINUSE/);
        await until('the servers to end', () => (serversOf(dataDir).length === 0 ? true : undefined), 10_000);
      } finally {
        taken.close();
      }
    },
    90_000,
  );

  localTest(
    'a crashed embedded server is started again, and the registry answers again',
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'registry-life-'));
      const port = await freePort();
      const registry = startLocalMode(dataDir, port);
      let stderr = '';
      registry.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      try {
        await until('local mode', async () =>
          (await answers(`http://localhost:${port}/v2/`)) === 200 ? true : undefined,
        );
        const before = serversOf(dataDir);
        // Both servers are Java programs: DynamoDB Local is the one running its jar.
        const dynamodb = execFileSync('pgrep', ['-f', `DynamoDBLocal\\.jar.*${dataDir}/`])
          .toString()
          .trim();
        process.kill(Number(dynamodb), 'SIGKILL');
        await until('a new DynamoDB Local', () => {
          const now = serversOf(dataDir);
          return now.length === 2 && !now.includes(Number(dynamodb)) ? now : undefined;
        });
        expect(stderr).toMatch(/DynamoDB Local exited \(SIGKILL\); starting it again/);
        expect(before).toContain(Number(dynamodb));
        await until(
          'the catalog to answer',
          async () => ((await answers(`http://localhost:${port}/v2/_catalog`)) === 200 ? true : undefined),
          60_000,
        );
      } finally {
        registry.kill('SIGTERM');
        await new Promise((resolve) => registry.on('exit', resolve));
      }
      await until('the servers to end', () => (serversOf(dataDir).length === 0 ? true : undefined), 10_000);
      // A clean stop leaves no endpoints file for the admin CLI to trust.
      expect(() => writeFileSync(join(dataDir, LOCAL_ENDPOINTS_FILE), '', { flag: 'wx' })).not.toThrow();
    },
    120_000,
  );

  localTest(
    'without Java, local mode says so in one line and starts nothing',
    async () => {
      // A PATH with node alone: no java (and no go, which local mode's S3 server does not need).
      const bin = mkdtempSync(join(tmpdir(), 'registry-path-'));
      execFileSync('ln', ['-s', process.execPath, join(bin, 'node')]);
      const dataDir = mkdtempSync(join(tmpdir(), 'registry-life-'));
      const run = spawn(process.execPath, [TSX, join(ROOT, 'bin', 'local.ts')], {
        cwd: ROOT,
        env: { HOME: process.env.HOME ?? '/tmp', PATH: bin, REGISTRY_DATA_DIR: dataDir, REGISTRY_PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      run.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => run.on('exit', resolve));
      expect(code).toBe(1);
      const lines = stderr.trim().split('\n');
      expect(lines[0]).toMatch(/^java is missing: .*install a Java runtime/);
      expect(lines.every((l) => / is missing: /.test(l))).toBe(true);
      expect(serversOf(dataDir)).toEqual([]);
    },
    60_000,
  );
  localTest(
    'npm start without Go on PATH runs the synthesized stack on S3Proxy: a blob pushed is pulled through its presigned URL',
    async () => {
      // PATH without any directory that holds a go binary.
      const path = (process.env.PATH ?? '')
        .split(':')
        .filter((dir) => dir !== '' && !existsSync(join(dir, 'go')))
        .join(':');
      const dataDir = mkdtempSync(join(tmpdir(), 'registry-start-'));
      const port = await freePort();
      const started = Date.now();
      const registry = spawn(process.execPath, [TSX, join(ROOT, 'bin', 'local.ts')], {
        cwd: ROOT,
        env: {
          ...process.env,
          PATH: path,
          REGISTRY_S3_SERVER: '',
          REGISTRY_DATA_DIR: dataDir,
          REGISTRY_PORT: String(port),
          REGISTRY_LOG_REQUESTS: 'false',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      registry.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      registry.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      try {
        const base = `http://localhost:${port}`;
        await until('npm start', async () => ((await answers(`${base}/v2/`)) === 200 ? true : undefined), 300_000);
        process.stdout.write(`npm start without go answered after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        expect(output).toMatch(/S3 \(S3Proxy\) on http:\/\/127\.0\.0\.1:\d+/);
        const blob = randomBytes(300_000);
        const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
        const session = await fetch(`${base}/v2/start/check/blobs/uploads/`, { method: 'POST' });
        expect(session.status).toBe(202);
        const location = new URL(session.headers.get('location') ?? '', base);
        location.searchParams.set('digest', digest);
        const put = await fetch(location, {
          method: 'PUT',
          body: blob,
          headers: { 'content-type': 'application/octet-stream' },
        });
        expect(put.status).toBe(201);
        const redirect = await fetch(`${base}/v2/start/check/blobs/${digest}`, { redirect: 'manual' });
        expect(redirect.status).toBe(307);
        const presigned = redirect.headers.get('location') ?? '';
        const pulled = await fetch(presigned);
        expect(pulled.status).toBe(200);
        expect(Buffer.from(await pulled.arrayBuffer()).equals(blob)).toBe(true);
        // The same URL with its signature changed is refused by the endpoint, as S3 refuses it.
        const forged = await fetch(presigned.replace(/X-Amz-Signature=[0-9a-f]/, 'X-Amz-Signature=x'));
        expect(forged.status).toBe(403);
        expect(await forged.text()).toMatch(/SignatureDoesNotMatch/);
      } finally {
        registry.kill('SIGTERM');
        await new Promise((resolve) => (registry.exitCode !== null ? resolve(null) : registry.on('exit', resolve)));
      }
      await until('the servers to end', () => (serversOf(dataDir).length === 0 ? true : undefined), 10_000);
    },
    360_000,
  );
});
