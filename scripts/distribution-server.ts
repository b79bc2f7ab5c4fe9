/**
 * CNCF distribution 2.8 (Debian's `docker-registry` package, `/usr/bin/docker-registry`) as the
 * benchmarks' reference: one process on a free loopback port, with the filesystem driver or with its
 * S3 driver on an S3 server of ours, blob GETs redirected to S3 (307) with the S3 driver. Quiet
 * logging (warn, no access log) and the in-memory blob descriptor cache of Debian's default config.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../tools/local/emulators';

export const DISTRIBUTION_BINARY = '/usr/bin/docker-registry';

export type DistributionStorage =
  | { readonly kind: 'filesystem'; readonly directory: string }
  | {
      readonly kind: 's3';
      readonly endpoint: string;
      readonly bucket: string;
      readonly region: string;
      readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
      /** Multipart part size of uploads. @default 10 MB (distribution's own default) */
      readonly chunkSize?: number;
    };

export interface Distribution {
  readonly url: URL;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

function storageConfig(storage: DistributionStorage): string[] {
  if (storage.kind === 'filesystem') {
    return ['  filesystem:', `    rootdirectory: ${storage.directory}`];
  }
  // distribution 2.8 has no `forcepathstyle` parameter: its s3-aws driver forces path-style requests
  // whenever `regionendpoint` is set.
  return [
    '  s3:',
    `    accesskey: ${storage.credentials.accessKeyId}`,
    `    secretkey: ${storage.credentials.secretAccessKey}`,
    `    region: ${storage.region}`,
    `    regionendpoint: ${storage.endpoint}`,
    `    bucket: ${storage.bucket}`,
    '    secure: false',
    '    v4auth: true',
    ...(storage.chunkSize ? [`    chunksize: ${storage.chunkSize}`] : []),
    '    rootdirectory: /',
    '  redirect:',
    '    disable: false',
  ];
}

/**
 * Starts docker-registry in `dir` (its config file and working directory) and waits until `/v2/`
 * answers 200. A clean environment: REGISTRY_* variables would override the config file, AWS_* the
 * credentials.
 */
export async function startDistribution(dir: string, storage: DistributionStorage): Promise<Distribution> {
  if (!existsSync(DISTRIBUTION_BINARY))
    throw new Error(`${DISTRIBUTION_BINARY} is missing: apt-get install -y docker-registry`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = join(dir, 'distribution.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      ...storageConfig(storage),
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: registry-benchmark',
      'health:',
      '  storagedriver:',
      '    enabled: false',
      '',
    ].join('\n'),
  );
  const child = spawn(DISTRIBUTION_BINARY, ['serve', config], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  const url = new URL(`http://127.0.0.1:${port}`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr}`);
    try {
      const reply = await fetch(new URL('/v2/', url), { signal: AbortSignal.timeout(1000) });
      await reply.arrayBuffer();
      if (reply.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, stop };
}
