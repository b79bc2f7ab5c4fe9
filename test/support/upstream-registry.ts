import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../tools/local/emulators';
import {
  basicAuthorization,
  startDistribution,
  type Distribution,
  type DistributionStorage,
} from '../../scripts/distribution-server';
import { testClients, testS3Endpoint } from './aws';

const run = promisify(execFile);

/** One line of the upstream's access log. */
export interface UpstreamAccess {
  readonly method: string;
  /** The request's path and query, as sent. */
  readonly path: string;
  readonly status: number;
  readonly userAgent: string;
}

export interface UpstreamRegistryOptions {
  /** htpasswd Basic auth with this one user; anonymous requests get 401. Open unless told. */
  readonly auth?: { readonly username: string; readonly password: string };
  /**
   * `filesystem` (default): distribution serves blob bytes itself (200). `s3`: its S3 driver on the
   * run's S3 server, blob GETs answered with a 307 to a presigned URL, as Docker Hub's CDN does.
   */
  readonly storage?: 'filesystem' | 's3';
}

/**
 * CNCF distribution 2.8 (Debian's docker-registry) on loopback as another registry to cache from:
 * open or behind htpasswd Basic auth, with its access log parsed, and stoppable and restartable on
 * the same port with the same data (the upstream going down and coming back).
 */
export interface UpstreamRegistry {
  /** `http://127.0.0.1:<port>`, as a pull-through rule names it. */
  readonly origin: string;
  /** `127.0.0.1:<port>`, as image references name it. */
  readonly host: string;
  readonly auth?: { readonly username: string; readonly password: string };
  /** Every request logged so far, across restarts. */
  readonly access: UpstreamAccess[];
  readonly running: boolean;
  /** Requests whose method is `method` and whose path (without query) is `path`. */
  count(method: string, path: string): number;
  /** A request to the upstream with its credentials, if it has any. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** `--dest-creds`/`--src-creds` for skopeo, or nothing for an open upstream. */
  skopeoCreds(direction: 'src' | 'dest'): string[];
  /**
   * Pushes an OCI layout of one image or one index to `<repo>:<tag>` upstream with crane, which
   * keeps the layout's bytes and so its digests (skopeo would compress uncompressed layers).
   */
  push(crane: string, layoutDir: string, repo: string, tag: string): Promise<void>;
  /** The manifest upstream: its digest (Docker-Content-Digest), media type and bytes. */
  manifest(repo: string, reference: string): Promise<{ digest: string; mediaType: string; body: Buffer }>;
  /** PUTs manifest bytes under `reference` (moves a tag), as a push's last step would. */
  putManifest(repo: string, reference: string, body: Uint8Array, mediaType: string): Promise<void>;
  /** Stops the process; data and port are kept for start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
}

const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) \S+ "[^"]*" "([^"]*)"/;

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export async function startUpstreamRegistry(options: UpstreamRegistryOptions = {}): Promise<UpstreamRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'upstream-registry-'));
  let storage: DistributionStorage;
  if (options.storage === 's3') {
    const bucket = `upstream-${randomUUID().slice(0, 8)}`;
    const clients = testClients();
    try {
      await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      clients.s3.destroy();
      clients.dynamodb.destroy();
    }
    storage = {
      kind: 's3',
      endpoint: testS3Endpoint(),
      bucket,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    };
  } else {
    storage = { kind: 'filesystem', directory: join(dir, 'data') };
  }
  const access: UpstreamAccess[] = [];
  const onAccess = (line: string) => {
    const m = ACCESS_LINE.exec(line);
    if (m) access.push({ method: m[1] ?? '', path: m[2] ?? '', status: Number(m[3]), userAgent: m[4] ?? '' });
  };
  let distribution: Distribution | undefined = await startDistribution(join(dir, 'server'), storage, {
    auth: options.auth,
    onAccess,
  });
  // Last resort when a test process ends without close(): no upstream outlives it.
  const onExit = () => distribution?.child.kill('SIGKILL');
  process.once('exit', onExit);
  const port = Number(distribution.url.port);
  const origin = `http://127.0.0.1:${port}`;
  const authHeader: Record<string, string> = options.auth ? { Authorization: basicAuthorization(options.auth) } : {};

  const upstreamFetch = (path: string, init: RequestInit = {}) =>
    fetch(`${origin}${path}`, { ...init, headers: { ...authHeader, ...(init.headers as Record<string, string>) } });
  const creds = (direction: 'src' | 'dest') =>
    options.auth ? [`--${direction}-creds`, `${options.auth.username}:${options.auth.password}`] : [];

  return {
    origin,
    host: `127.0.0.1:${port}`,
    auth: options.auth,
    access,
    get running() {
      return distribution !== undefined;
    },
    count: (method, path) => access.filter((a) => a.method === method && a.path.split('?')[0] === path).length,
    fetch: upstreamFetch,
    skopeoCreds: creds,
    async push(crane, layoutDir, repo, tag) {
      // crane's credentials in a config of the upstream's own, never the machine's ~/.docker.
      const config = join(dir, 'crane');
      mkdirSync(config, { recursive: true });
      const auths = options.auth
        ? { [`127.0.0.1:${port}`]: { auth: basicAuthorization(options.auth).slice('Basic '.length) } }
        : {};
      writeFileSync(join(config, 'config.json'), JSON.stringify({ auths }));
      try {
        await run(crane, ['push', '--insecure', layoutDir, `127.0.0.1:${port}/${repo}:${tag}`], {
          env: { ...process.env, DOCKER_CONFIG: config, HOME: config },
        });
      } catch (err) {
        const e = err as Error & { stderr?: string };
        throw new Error(`crane push to the upstream's ${repo}:${tag} failed: ${e.stderr?.trim() || e.message}`);
      }
    },
    async manifest(repo, reference) {
      const reply = await upstreamFetch(`/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
      const body = Buffer.from(await reply.arrayBuffer());
      if (reply.status !== 200)
        throw new Error(`upstream GET ${repo}:${reference}: ${reply.status} ${body.toString().slice(0, 300)}`);
      return {
        digest: reply.headers.get('docker-content-digest') ?? '',
        mediaType: reply.headers.get('content-type') ?? '',
        body,
      };
    },
    async putManifest(repo, reference, body, mediaType) {
      const reply = await upstreamFetch(`/v2/${repo}/manifests/${reference}`, {
        method: 'PUT',
        body,
        headers: { 'Content-Type': mediaType },
      });
      const text = await reply.text();
      if (reply.status !== 201) throw new Error(`upstream PUT ${repo}:${reference}: ${reply.status} ${text}`);
    },
    async stop() {
      const running = distribution;
      distribution = undefined;
      await running?.stop();
    },
    async start() {
      if (distribution) return;
      distribution = await startDistribution(join(dir, 'server'), storage, { port, auth: options.auth, onAccess });
    },
    async close() {
      process.removeListener('exit', onExit);
      const running = distribution;
      distribution = undefined;
      await running?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
