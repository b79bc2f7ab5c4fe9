/**
 * CNCF distribution 2.8 (Debian's `docker-registry` package, `/usr/bin/docker-registry`) as the
 * benchmarks' reference: one process on a free loopback port, with the filesystem driver or with its
 * S3 driver on an S3 server of ours, blob GETs redirected to S3 (307) with the S3 driver. Quiet
 * logging (warn, no access log) and the in-memory blob descriptor cache of Debian's default config.
 * The tests' upstream registry for the pull-through cache (test/support/upstream-registry.ts) adds
 * htpasswd auth, the access log and restarts on the same port (`DistributionOptions`).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, terminate } from '../tools/local/emulators';

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

/** What a caller may add to the benchmarks' setup (the tests' upstream registry uses these). */
export interface DistributionOptions {
  /** The port to listen on (a restart on the same port); a free one unless told. */
  readonly port?: number;
  /**
   * htpasswd Basic auth with this one user (a bcrypt hash, the only kind distribution accepts,
   * written by Apache's `htpasswd -B`): anonymous requests are answered 401.
   */
  readonly auth?: { readonly username: string; readonly password: string };
  /**
   * Turns the access log on and hands over each of its lines: Apache's combined format, as
   * distribution writes it to its standard output,
   * `127.0.0.1 - - [03/Dec/2026:15:10:00 +0000] "GET /v2/app/blobs/sha256:… HTTP/1.1" 200 1048576 "" "ua"`.
   */
  readonly onAccess?: (line: string) => void;
}

export const HTPASSWD_BINARY = '/usr/bin/htpasswd';

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
export async function startDistribution(
  dir: string,
  storage: DistributionStorage,
  options: DistributionOptions = {},
): Promise<Distribution> {
  if (!existsSync(DISTRIBUTION_BINARY))
    throw new Error(`${DISTRIBUTION_BINARY} is missing: apt-get install -y docker-registry`);
  mkdirSync(dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const config = join(dir, 'distribution.yml');
  const auth = options.auth ? writeHtpasswd(dir, options.auth) : [];
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      `    disabled: ${options.onAccess ? 'false' : 'true'}`,
      ...auth,
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
    stdio: ['ignore', options.onAccess ? 'pipe' : 'ignore', 'pipe'],
  });
  if (options.onAccess) {
    const onAccess = options.onAccess;
    let partial = '';
    child.stdout?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) onAccess(line);
    });
  }
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const stop = () => terminate(child);
  const url = new URL(`http://127.0.0.1:${port}`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr}`);
    try {
      const reply = await fetch(new URL('/v2/', url), {
        signal: AbortSignal.timeout(1000),
        headers: options.auth ? { Authorization: basicAuthorization(options.auth) } : {},
      });
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

/** `Basic <base64 user:password>`, as a client sends it. */
export function basicAuthorization(auth: { readonly username: string; readonly password: string }): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

/** Writes `dir/htpasswd` for one user with a bcrypt hash and returns the config's `auth:` section. */
function writeHtpasswd(dir: string, auth: { readonly username: string; readonly password: string }): string[] {
  if (!existsSync(HTPASSWD_BINARY)) throw new Error(`${HTPASSWD_BINARY} is missing: apt-get install -y apache2-utils`);
  const file = join(dir, 'htpasswd');
  // -B bcrypt (cost 5: the tests' upstream checks it on every request), -i the password from stdin.
  execFileSync(HTPASSWD_BINARY, ['-c', '-i', '-B', '-C', '5', file, auth.username], {
    input: auth.password,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  return ['auth:', '  htpasswd:', '    realm: upstream', `    path: ${file}`];
}
