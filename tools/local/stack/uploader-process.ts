import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest, type RequestListener } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, waitForHttp } from '../emulators';
import { endWithThisProcess } from '../reaper';
import type { UploaderModel } from './stack-model';
import { PROJECT_ROOT } from './synth';

export interface RunningUploader {
  readonly pid: number;
  /** Forwards a request to the uploader, as the load balancer does (its `X-Forwarded-Proto` included). */
  readonly listener: RequestListener;
  stop(): Promise<void>;
}

export interface UploaderOptions {
  readonly model: UploaderModel;
  readonly assemblyDir: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly onLog?: (line: string) => void;
  readonly log?: (line: string) => void;
}

/**
 * The upload data path's container without a container engine: its image's own build step (the
 * Dockerfile's `npx esbuild …` line, run on the build context CDK staged in the assembly), then
 * the bundle as the image's command runs it, with the task definition's environment and the task
 * role's credentials, on a free port instead of the container's 8080.
 */
export async function startUploader(options: UploaderOptions): Promise<RunningUploader> {
  const bundle = buildUploader(options.model, options.assemblyDir, options.log);
  const port = await freePort();
  const child = spawn(process.execPath, [bundle], {
    cwd: options.model.contextDir,
    env: { ...options.environment, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  endWithThisProcess(child);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => options.onLog?.(line));
  }
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, child, 30_000);
  const listener: RequestListener = (req, res) => {
    const headers = { ...req.headers, 'x-forwarded-proto': req.headers['x-forwarded-proto'] ?? 'http' };
    const out = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
      // An answer the uploader broke off mid-body reaches the client as a reset, as through the load
      // balancer, instead of a connection left open.
      answer.once('close', () => {
        if (!answer.complete) res.destroy();
      });
    });
    out.on('error', () => {
      // The load balancer's answer when its target drops the connection.
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
    });
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  };
  return {
    pid: child.pid ?? 0,
    listener,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

/** Runs the esbuild command of the image's Dockerfile against the staged build context, once. */
function buildUploader(model: UploaderModel, assemblyDir: string, log?: (line: string) => void): string {
  const outfile = join(assemblyDir, `${model.contextDir.split('/').pop()}.local-build`, 'main.js');
  if (existsSync(outfile)) return outfile;
  const dockerfile = readFileSync(join(model.contextDir, model.dockerfile), 'utf8').replace(/\\\n/g, ' ');
  const line = /^RUN npx esbuild (.+)$/m.exec(dockerfile)?.[1];
  if (!line) throw new Error(`${model.dockerfile} has no "RUN npx esbuild …" build step to run locally`);
  const args = line
    .trim()
    .split(/\s+/)
    .map((a) => (a.startsWith('--outfile=') ? `--outfile=${outfile}` : a));
  log?.(`building the uploader as its image does: esbuild ${args.join(' ')}`);
  // The staged context has no node_modules; resolution climbs to the project's, as `npm ci` in the image provides.
  execFileSync(join(PROJECT_ROOT, 'node_modules', '.bin', 'esbuild'), ['--log-level=warning', ...args], {
    cwd: model.contextDir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return outfile;
}
