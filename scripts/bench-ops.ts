/**
 * Requests per second and CPU per request of the registry's read operations, side by side in one
 * run, and blob pull throughput:
 *
 *   ours          local mode as `npm start` runs it (`bin/local.ts`, a child process: the synthesized
 *                 stack, each function a Node process from its bundle, the local API gateway and AWS
 *                 endpoint, S3Proxy or versitygw and DynamoDB Local), the functions' logging at
 *                 local mode's default level (REGISTRY_LOG_LEVEL, WARN unless set);
 *   dist-fs       CNCF distribution 2.8 (`/usr/bin/docker-registry`) with its filesystem driver;
 *   dist-s3       the same with its S3 driver on ours's S3 server (a bucket of its own), blob GETs
 *                 redirected to S3 like ours.
 *
 * The same image (a config and two layers under one manifest, ten tags, ten repositories) is pushed to
 * each. Then every operation (manifest GET and HEAD by tag and by digest, blob HEAD, blob GET, tags
 * list, catalog) runs `--requests` times at `--concurrency` over keep-alive connections, against
 * each registry in turn, after an untimed warm-up of the same operation. CPU time per process comes
 * from /proc (utime + stime, 10 ms ticks) before and after each run:
 *
 *   functions     the sum over the function processes (what maps to Lambda);
 *   gw+endpoint   local mode's own process: the local API gateway and the local AWS endpoint
 *                 (checks SigV4 and IAM, forwards S3 and DynamoDB); API Gateway and AWS's front
 *                 ends deployed, no Lambda cost;
 *   s3, dynamodb  the S3 server and DynamoDB Local;
 *   registry      distribution's process; its storage is the kernel (dist-fs) or the S3 server
 *                 (dist-s3).
 *
 * Pull: one random blob of `--pull-mib` MiB is pushed to ours and to dist-s3, pulled once from each
 * untimed, then `--pull-runs` times from each in turn, the order alternating (GET, the 307 followed,
 * the bytes counted and sha256-checked here), MB = 10^6 bytes.
 *
 *   npx tsx scripts/bench-ops.ts [--requests 2000] [--concurrency 8] [--s3 s3proxy|versitygw]
 *                                [--ops manifest-get-tag,…] [--pull-mib 512] [--pull-runs 3]
 *                                [--steady 0] [--rounds 1] [--work-dir <tmp>/registry-bench-ops] [--keep]
 *
 * `--steady <n>` first sends n untimed requests of every operation to every registry, so that the
 * function environments are past V8's warm-up (steady state) when measured. `--rounds <n>` measures
 * everything n times over and prints, per operation and registry, the round of median CPU of its
 * serving process.
 *
 * Everything listens on 127.0.0.1; all servers are stopped and the work dir removed at the end
 * (unless --keep), also on errors and Ctrl-C.
 */
import '../tools/quiet-warnings';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_CREDENTIALS, LOCAL_REGION, terminate } from '../tools/local/emulators';
import { LOCAL_ENDPOINTS_FILE, type LocalEndpoints } from '../tools/local/endpoints-file';
import { DISTRIBUTION_BINARY, startDistribution, type Distribution } from './distribution-server';

const MiB = 1024 * 1024;
const CLOCK_TICKS = 100;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const ACCEPT = [
  MANIFEST_TYPE,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');
const REPOSITORY = 'bench/app';
const TAGS = 10;
const REPOSITORIES = 10;

const OPERATIONS = [
  'manifest-get-tag',
  'manifest-get-digest',
  'manifest-head-tag',
  'manifest-head-digest',
  'blob-head',
  'blob-get',
  'tags-list',
  'catalog',
] as const;
type Operation = (typeof OPERATIONS)[number];

interface Options {
  requests: number;
  concurrency: number;
  s3: 's3proxy' | 'versitygw';
  ops: Operation[];
  pullMiB: number;
  pullRuns: number;
  workDir: string;
  keep: boolean;
  /** Untimed requests of every operation against every registry before any is measured. */
  steady: number;
  /** Times every operation is measured on every registry; the median round is printed. */
  rounds: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    requests: 2000,
    concurrency: 8,
    s3: 's3proxy',
    ops: [...OPERATIONS],
    pullMiB: 512,
    steady: 0,
    pullRuns: 3,
    rounds: 1,
    workDir: join(tmpdir(), 'registry-bench-ops'),
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--requests') options.requests = Number(value());
    else if (arg === '--concurrency') options.concurrency = Number(value());
    else if (arg === '--s3') options.s3 = value() as Options['s3'];
    else if (arg === '--ops') options.ops = value().split(',') as Operation[];
    else if (arg === '--pull-mib') options.pullMiB = Number(value());
    else if (arg === '--pull-runs') options.pullRuns = Number(value());
    else if (arg === '--work-dir') options.workDir = value();
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--steady') options.steady = Number(value());
    else if (arg === '--rounds') options.rounds = Number(value());
    else throw new Error(`unknown argument ${arg}`);
  }
  const integer = (name: string, n: number, min: number, max: number) => {
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  };
  integer('--requests', options.requests, 1, 20_000);
  integer('--concurrency', options.concurrency, 1, 64);
  integer('--pull-mib', options.pullMiB, 0, 2048);
  integer('--pull-runs', options.pullRuns, 1, 10);
  integer('--steady', options.steady, 0, 20_000);
  integer('--rounds', options.rounds, 1, 9);
  if (options.s3 !== 's3proxy' && options.s3 !== 'versitygw') throw new Error('--s3 is s3proxy or versitygw');
  for (const op of options.ops) if (!OPERATIONS.includes(op)) throw new Error(`unknown operation ${op}`);
  return options;
}

// ---------------------------------------------------------------------------------------------------
// Processes and their CPU time, from /proc.

interface ProcEntry {
  pid: number;
  ppid: number;
  cpuSeconds: number;
}

function readProc(pid: number): ProcEntry | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { pid, ppid: fields[1] ?? 0, cpuSeconds: ((fields[11] ?? 0) + (fields[12] ?? 0)) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

function allProcs(): ProcEntry[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .flatMap((e) => readProc(Number(e)) ?? []);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** `pid` and every process below it. */
function descendants(pid: number, procs: ProcEntry[]): ProcEntry[] {
  const out: ProcEntry[] = [];
  const wanted = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!wanted.has(p.pid) && wanted.has(p.ppid)) {
        wanted.add(p.pid);
        grew = true;
      }
    }
  }
  for (const p of procs) if (wanted.has(p.pid)) out.push(p);
  return out;
}

/** Which part of the benchmark a process is. */
type Part = 'functions' | 'gw+endpoint' | 's3' | 'dynamodb' | 'uploader' | 'dist-fs' | 'dist-s3' | 'client' | 'other';

interface Parts {
  local?: ChildProcess;
  distFs?: Distribution;
  distS3?: Distribution;
}

const labels = new Map<number, Part>();

function classify(p: ProcEntry, parts: Parts): Part {
  const known = labels.get(p.pid);
  if (known) return known;
  let part: Part = 'other';
  const cmd = cmdline(p.pid);
  if (p.pid === process.pid) part = 'client';
  else if (p.pid === parts.local?.pid) part = 'gw+endpoint';
  else if (p.pid === parts.distFs?.child.pid) part = 'dist-fs';
  else if (p.pid === parts.distS3?.child.pid) part = 'dist-s3';
  else if (cmd.includes('lambda-runtime.cjs')) part = 'functions';
  else if (cmd.includes('DynamoDBLocal.jar')) part = 'dynamodb';
  else if (cmd.includes('s3proxy') || cmd.includes('versitygw')) part = 's3';
  else if (cmd.includes('uploader')) part = 'uploader';
  labels.set(p.pid, part);
  return part;
}

/** CPU seconds per part, and per function process, at this moment. */
function cpuSnapshot(parts: Parts): { byPart: Map<Part, number>; byFunction: Map<string, number> } {
  const procs = allProcs();
  const mine = descendants(process.pid, procs);
  const byPart = new Map<Part, number>();
  const byFunction = new Map<string, number>();
  for (const p of mine) {
    const part = classify(p, parts);
    // This process's own usage with finer resolution than /proc's ticks.
    const seconds = p.pid === process.pid ? (process.cpuUsage().user + process.cpuUsage().system) / 1e6 : p.cpuSeconds;
    byPart.set(part, (byPart.get(part) ?? 0) + seconds);
    if (part === 'functions') {
      const name = functionName(p.pid);
      byFunction.set(name, (byFunction.get(name) ?? 0) + seconds);
    }
  }
  return { byPart, byFunction };
}

const functionNames = new Map<number, string>();
function functionName(pid: number): string {
  let name = functionNames.get(pid);
  if (name === undefined) {
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      name = env.find((e) => e.startsWith('AWS_LAMBDA_FUNCTION_NAME='))?.split('=')[1] ?? `pid ${pid}`;
    } catch {
      name = `pid ${pid}`;
    }
    name = name.replace(/^registry-Functions/, '').replace(/Function[0-9A-F]{8}$/, '');
    functionNames.set(pid, name);
  }
  return name;
}

function delta<K>(before: Map<K, number>, after: Map<K, number>): Map<K, number> {
  const out = new Map<K, number>();
  for (const [k, v] of after) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// HTTP.

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function assertLoopback(url: URL): void {
  if (!LOOPBACK_HOSTS.has(url.hostname) || url.protocol !== 'http:')
    throw new Error(`refusing to contact ${url.origin}: only http on loopback`);
}

function send(
  method: string,
  url: URL,
  headers: http.OutgoingHttpHeaders = {},
  body?: Buffer | Readable,
  agent: http.Agent | false = false,
): Promise<Reply> {
  assertLoopback(url);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    }
  });
}

function expectStatus(reply: Reply, statuses: number[], what: string): void {
  if (!statuses.includes(reply.status))
    throw new Error(`${what}: HTTP ${reply.status} (expected ${statuses.join(' or ')}): ${reply.body.toString()}`);
}

// ---------------------------------------------------------------------------------------------------
// The image, pushed the same way to every registry.

interface Blob {
  digest: string;
  size: number;
  bytes?: Buffer;
  path?: string;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const inMemory = (bytes: Buffer): Blob => ({ digest: sha256(bytes), size: bytes.length, bytes });

interface Image {
  config: Blob;
  layers: Blob[];
  manifest: Buffer;
  manifestDigest: string;
}

function makeImage(): Image {
  const layers = [inMemory(randomBytes(64 * 1024)), inMemory(randomBytes(64 * 1024))];
  const config = inMemory(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: l.digest,
        size: l.size,
      })),
    }),
  );
  return { config, layers, manifest, manifestDigest: sha256(manifest) };
}

/** POST, then one PUT ?digest= with the whole blob: what containerd, oras and regctl do. */
async function pushBlob(base: URL, name: string, blob: Blob): Promise<void> {
  const post = await send('POST', new URL(`/v2/${name}/blobs/uploads/`, base), { 'Content-Length': '0' });
  expectStatus(post, [202], `POST upload to ${base.origin}`);
  const location = new URL(String(post.headers.location), base);
  location.searchParams.set('digest', blob.digest);
  const body = blob.bytes ?? createReadStream(blob.path as string, { highWaterMark: MiB });
  const put = await send(
    'PUT',
    location,
    { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) },
    body,
  );
  expectStatus(put, [201], `PUT upload to ${base.origin}`);
}

async function pushImage(base: URL, image: Image): Promise<void> {
  const names = [REPOSITORY, ...Array.from({ length: REPOSITORIES - 1 }, (_, i) => `bench/r${i + 1}`)];
  for (const name of names) {
    for (const blob of [image.config, ...image.layers]) await pushBlob(base, name, blob);
    const tags = name === REPOSITORY ? Array.from({ length: TAGS }, (_, i) => `v${i + 1}`) : ['latest'];
    for (const tag of tags) {
      const put = await send(
        'PUT',
        new URL(`/v2/${name}/manifests/${tag}`, base),
        { 'Content-Type': MANIFEST_TYPE, 'Content-Length': String(image.manifest.length) },
        image.manifest,
      );
      expectStatus(put, [201], `PUT manifest to ${base.origin}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The load.

interface Target {
  readonly label: string;
  readonly base: URL;
  /**
   * Status of blob GETs and HEADs: 307 where they are redirected to S3 (distribution redirects a HEAD
   * too), 200 where the registry serves them itself.
   */
  readonly blobStatus: { readonly get: number; readonly head: number };
}

function request(op: Operation, image: Image): { method: string; path: string; headers: http.OutgoingHttpHeaders } {
  const layer = image.layers[0] as Blob;
  const accept = { Accept: ACCEPT };
  switch (op) {
    case 'manifest-get-tag':
      return { method: 'GET', path: `/v2/${REPOSITORY}/manifests/v1`, headers: accept };
    case 'manifest-get-digest':
      return { method: 'GET', path: `/v2/${REPOSITORY}/manifests/${image.manifestDigest}`, headers: accept };
    case 'manifest-head-tag':
      return { method: 'HEAD', path: `/v2/${REPOSITORY}/manifests/v1`, headers: accept };
    case 'manifest-head-digest':
      return { method: 'HEAD', path: `/v2/${REPOSITORY}/manifests/${image.manifestDigest}`, headers: accept };
    case 'blob-head':
      return { method: 'HEAD', path: `/v2/${REPOSITORY}/blobs/${layer.digest}`, headers: {} };
    case 'blob-get':
      return { method: 'GET', path: `/v2/${REPOSITORY}/blobs/${layer.digest}`, headers: {} };
    case 'tags-list':
      return { method: 'GET', path: `/v2/${REPOSITORY}/tags/list`, headers: {} };
    case 'catalog':
      return { method: 'GET', path: '/v2/_catalog', headers: {} };
  }
}

/** Runs `total` requests of `op`, `concurrency` at a time; returns the wall seconds. */
async function load(target: Target, op: Operation, image: Image, total: number, concurrency: number): Promise<number> {
  const { method, path, headers } = request(op, image);
  const url = new URL(path, target.base);
  assertLoopback(url);
  const expected = op === 'blob-get' ? target.blobStatus.get : op === 'blob-head' ? target.blobStatus.head : 200;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let issued = 0;
  const worker = async () => {
    while (issued < total) {
      issued++;
      const reply = await send(method, url, headers, undefined, agent);
      if (reply.status !== expected)
        throw new Error(`${target.label} ${op}: HTTP ${reply.status} (expected ${expected}): ${reply.body.toString()}`);
    }
  };
  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return (performance.now() - started) / 1000;
}

// ---------------------------------------------------------------------------------------------------
// Pull throughput.

/**
 * GET following redirects (loopback only), the bytes sha256-checked; returns the seconds in all, and
 * those until the answer with the bytes began (the redirects).
 */
async function pullBlob(url: URL, blob: Blob): Promise<{ seconds: number; redirectSeconds: number }> {
  const started = performance.now();
  let answered = started;
  let target = url;
  for (let hop = 0; hop < 5; hop++) {
    assertLoopback(target);
    const result = await new Promise<{ location?: string; bytes: number; digest: string }>((resolve, reject) => {
      http
        .get(target, { agent: false }, (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 300 && status < 400 && res.headers.location) {
            res.resume();
            res.on('end', () => resolve({ location: res.headers.location, bytes: 0, digest: '' }));
            return;
          }
          if (status !== 200) {
            res.resume();
            reject(new Error(`GET ${target.pathname}: HTTP ${status}`));
            return;
          }
          answered = performance.now();
          const hash = createHash('sha256');
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            hash.update(c);
            bytes += c.length;
          });
          res.on('end', () => resolve({ bytes, digest: `sha256:${hash.digest('hex')}` }));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    if (result.location) {
      target = new URL(result.location, target);
      continue;
    }
    if (result.bytes !== blob.size || result.digest !== blob.digest)
      throw new Error(`pulled ${result.bytes} bytes with ${result.digest}; expected ${blob.size} with ${blob.digest}`);
    return { seconds: (performance.now() - started) / 1000, redirectSeconds: (answered - started) / 1000 };
  }
  throw new Error('too many redirects');
}

async function writeRandomFile(path: string, size: number): Promise<Blob> {
  const file = await open(path, 'w');
  const hash = createHash('sha256');
  try {
    for (let offset = 0; offset < size; offset += 16 * MiB) {
      const chunk = randomBytes(Math.min(16 * MiB, size - offset));
      hash.update(chunk);
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
  return { path, size, digest: `sha256:${hash.digest('hex')}` };
}

// ---------------------------------------------------------------------------------------------------
// Local mode, as `npm start` runs it.

async function startLocalMode(
  dataDir: string,
  s3: Options['s3'],
  onExit: (code: number | null) => void,
): Promise<{ child: ChildProcess; endpoints: LocalEndpoints; output: () => string }> {
  const env: NodeJS.ProcessEnv = {};
  // What `npm start` gets from a shell without AWS settings: none of this process's AWS_* variables.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('REGISTRY_')) env[k] = v;
  Object.assign(env, {
    REGISTRY_PORT: '0',
    REGISTRY_DATA_DIR: dataDir,
    REGISTRY_S3_SERVER: s3,
    ...(process.env.REGISTRY_LOG_LEVEL ? { REGISTRY_LOG_LEVEL: process.env.REGISTRY_LOG_LEVEL } : {}),
    ...(process.env.REGISTRY_TOOLS_DIR ? { REGISTRY_TOOLS_DIR: process.env.REGISTRY_TOOLS_DIR } : {}),
  });
  const root = resolve(__dirname, '..');
  // bin/local.ts's own shebang: node --import tsx.
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin', 'local.ts')], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-16_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', onExit);
  const file = join(dataDir, LOCAL_ENDPOINTS_FILE);
  const deadline = Date.now() + 600_000;
  while (!/registry listening on/.test(output)) {
    if (child.exitCode !== null) throw new Error(`local mode exited with ${child.exitCode}: ${output}`);
    if (Date.now() > deadline) throw new Error(`local mode did not start within 600 s: ${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!existsSync(file)) throw new Error(`local mode wrote no ${file}`);
  const endpoints = JSON.parse(readFileSync(file, 'utf8')) as LocalEndpoints;
  return { child, endpoints, output: () => output };
}

// ---------------------------------------------------------------------------------------------------
// Reporting.

function machineLoad(): string {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const mine = new Set(descendants(process.pid, allProcs()).map((p) => p.pid));
  const top = execFileSync('ps', ['-eo', 'pid,pcpu,etime,args', '--sort=-pcpu', '--no-headers'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => {
      const pid = Number(line.trim().split(/\s+/)[0]);
      return line.trim() !== '' && !mine.has(pid) && Number(line.trim().split(/\s+/)[1]) >= 5;
    })
    .slice(0, 6)
    .map((line) => `    ${line.trim().slice(0, 150)}`);
  return `load average ${load}; other processes over 5 % CPU (lifetime average, ps):\n${top.join('\n') || '    none'}`;
}

const ms = (seconds: number, requests: number) => ((seconds * 1000) / requests).toFixed(3);

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  mkdirSync(options.workDir, { recursive: true });
  const work = mkdtempSync(join(options.workDir, 'run-'));
  const cleanups: (() => Promise<void>)[] = [];
  if (!options.keep) cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  const cleanup = async () => {
    while (cleanups.length > 0) {
      const step = cleanups.pop() as () => Promise<void>;
      await step().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping servers`);
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const parts: Parts = {};
  try {
    console.log(`before: ${machineLoad()}`);
    let t = performance.now();
    let stopping = false;
    const local = await startLocalMode(join(work, 'ours'), options.s3, (code) => {
      if (!stopping) console.error(`local mode exited (${code}): ${local?.output()}`);
    });
    parts.local = local.child;
    cleanups.push(async () => {
      stopping = true;
      await terminate(local.child, 10_000);
    });
    const ours = new URL(local.endpoints.registryUrl.replace('localhost', '127.0.0.1'));
    const s3Endpoint = local.endpoints.s3Endpoint as string;
    console.log(`local mode up in ${((performance.now() - t) / 1000).toFixed(1)} s on ${ours.origin}`);

    const s3 = new S3Client({
      region: LOCAL_REGION,
      credentials: { ...LOCAL_CREDENTIALS },
      endpoint: s3Endpoint,
      forcePathStyle: true,
    });
    cleanups.push(async () => s3.destroy());
    await s3.send(new CreateBucketCommand({ Bucket: 'bench-distribution' }));
    parts.distFs = await startDistribution(join(work, 'dist-fs'), {
      kind: 'filesystem',
      directory: join(work, 'dist-fs', 'data'),
    });
    cleanups.push(() => parts.distFs?.stop() ?? Promise.resolve());
    parts.distS3 = await startDistribution(join(work, 'dist-s3'), {
      kind: 's3',
      endpoint: s3Endpoint,
      bucket: 'bench-distribution',
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      chunkSize: 16 * MiB,
    });
    cleanups.push(() => parts.distS3?.stop() ?? Promise.resolve());
    const version = execFileSync(DISTRIBUTION_BINARY, ['--version'], { encoding: 'utf8' }).trim();
    console.log(
      `${version}: filesystem on ${parts.distFs.url.origin}, S3 (${options.s3}) on ${parts.distS3.url.origin}`,
    );

    const targets: Target[] = [
      { label: 'ours', base: ours, blobStatus: { get: 307, head: 200 } },
      { label: 'dist-fs', base: parts.distFs.url, blobStatus: { get: 200, head: 200 } },
      { label: 'dist-s3', base: parts.distS3.url, blobStatus: { get: 307, head: 307 } },
    ];
    const image = makeImage();
    t = performance.now();
    for (const target of targets) await pushImage(target.base, image);
    console.log(`image pushed to each in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const warmUp = Math.max(50, Math.floor(options.requests / 10));
    // Steady state: every function environment local mode starts under this load (up to 4 per
    // function) has served its code paths often enough for V8 to optimize them, as long-lived Lambda
    // environments have; otherwise the first operation measured on each function pays for the JIT.
    if (options.steady > 0) {
      for (const op of options.ops) {
        for (const target of targets) await load(target, op, image, options.steady, options.concurrency);
      }
    }
    const table: string[] = [];
    const functionLines: string[] = [];
    const partsOf: Record<string, Part[]> = {
      ours: ['functions', 'gw+endpoint', 'dynamodb', 's3'],
      'dist-fs': ['dist-fs'],
      'dist-s3': ['dist-s3', 's3'],
    };
    type Measured = { rps: number; cpu: Map<Part, number>; functions?: Map<string, number> };
    const rounds = new Map<Operation, Map<string, Measured[]>>();
    // Every round measures every operation on every registry in turn; each figure printed is the
    // round of median CPU of that registry's serving process (functions, for ours), so that a
    // round disturbed by something else (a new function environment's start, another process)
    // does not decide it.
    for (let round = 0; round < options.rounds; round++) {
      for (const op of options.ops) {
        if (!rounds.has(op)) rounds.set(op, new Map());
        const row = rounds.get(op) as Map<string, Measured[]>;
        for (const target of targets) {
          await load(target, op, image, warmUp, options.concurrency);
          const before = cpuSnapshot(parts);
          const seconds = await load(target, op, image, options.requests, options.concurrency);
          const after = cpuSnapshot(parts);
          const measured: Measured = { rps: options.requests / seconds, cpu: delta(before.byPart, after.byPart) };
          if (target.label === 'ours') measured.functions = delta(before.byFunction, after.byFunction);
          row.set(target.label, [...(row.get(target.label) ?? []), measured]);
        }
      }
    }
    const servingPart: Record<string, Part> = { ours: 'functions', 'dist-fs': 'dist-fs', 'dist-s3': 'dist-s3' };
    const perOp = new Map<Operation, Map<string, Measured>>();
    for (const [op, row] of rounds) {
      const chosen = new Map<string, Measured>();
      for (const [label, measured] of row) {
        const part = servingPart[label] as Part;
        const sorted = [...measured].sort((a, b) => (a.cpu.get(part) ?? 0) - (b.cpu.get(part) ?? 0));
        chosen.set(label, sorted[Math.floor((sorted.length - 1) / 2)] as Measured);
      }
      perOp.set(op, chosen);
      const fns = [...(chosen.get('ours')?.functions ?? [])]
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${ms(v, options.requests)}`);
      functionLines.push(`  ${op.padEnd(22)} ${fns.join(', ')}`);
    }

    const n = options.requests;
    table.push(
      `${'operation'.padEnd(22)}${'registry'.padEnd(9)}${'req/s'.padStart(8)}  CPU ms per request of each process`,
    );
    for (const [op, row] of perOp) {
      for (const [label, { rps, cpu }] of row) {
        const cols = (partsOf[label] ?? []).map((part) => `${part} ${ms(cpu.get(part) ?? 0, n)}`);
        table.push(`${op.padEnd(22)}${label.padEnd(9)}${rps.toFixed(0).padStart(8)}  ${cols.join(', ')}`);
      }
      const fn = (row.get('ours')?.cpu.get('functions') ?? 0) / n;
      const ratio = (label: string, part: Part) => {
        const other = (row.get(label)?.cpu.get(part) ?? 0) / n;
        return other > 0 ? (fn / other).toFixed(2) : '∞';
      };
      table.push(
        `${''.padEnd(22)}functions / distribution process: ${ratio('dist-fs', 'dist-fs')}x (fs), ${ratio('dist-s3', 'dist-s3')}x (s3)`,
      );
      if (options.rounds > 1) {
        // How far the rounds lay apart: a ratio is only as firm as the spread of both its sides.
        const spread = [...(rounds.get(op) ?? [])].map(([label, measured]) => {
          const values = measured.map((m) => m.cpu.get(servingPart[label] as Part) ?? 0);
          return `${label} ${ms(Math.min(...values), n)}–${ms(Math.max(...values), n)}`;
        });
        table.push(`${''.padEnd(22)}rounds, CPU ms per request of the serving process: ${spread.join(', ')}`);
      }
    }
    console.log('');
    console.log(
      `${n} requests per operation and registry at concurrency ${options.concurrency}, after ${warmUp} untimed` +
        `${options.rounds > 1 ? `, median of ${options.rounds} rounds` : ''}` +
        `${options.steady > 0 ? ` (and ${options.steady} of every operation before any was measured)` : ''}; ` +
        `CPU from /proc (10 ms ticks); local mode's functions log at ${process.env.REGISTRY_LOG_LEVEL ?? 'WARN'}; ` +
        `S3 server ${options.s3} (shared by ours and dist-s3)`,
    );
    for (const line of table) console.log(line);
    console.log('functions, CPU ms per request per function:');
    for (const line of functionLines) console.log(line);

    if (options.pullMiB > 0) {
      const size = options.pullMiB * MiB;
      const blob = await writeRandomFile(join(work, 'pull.bin'), size);
      const pullTargets = [targets[0], targets[2]] as Target[];
      for (const target of pullTargets) await pushBlob(target.base, REPOSITORY, blob);
      execFileSync('sync');
      // Untimed: the S3 server's first large read (S3Proxy's JIT) would otherwise fall on whichever
      // registry is pulled first.
      for (const target of pullTargets)
        await pullBlob(new URL(`/v2/${REPOSITORY}/blobs/${blob.digest}`, target.base), blob);
      const runs = new Map<string, number[]>(pullTargets.map((tg) => [tg.label, []]));
      const cpuLines: string[] = [];
      for (let run = 1; run <= options.pullRuns; run++) {
        for (const target of run % 2 === 1 ? pullTargets : [...pullTargets].reverse()) {
          const before = cpuSnapshot(parts);
          const { seconds, redirectSeconds } = await pullBlob(
            new URL(`/v2/${REPOSITORY}/blobs/${blob.digest}`, target.base),
            blob,
          );
          const cpu = delta(before.byPart, cpuSnapshot(parts).byPart);
          runs.get(target.label)?.push(seconds);
          cpuLines.push(
            `  run ${run} ${target.label.padEnd(8)} ${seconds.toFixed(2)} s (redirects ${(redirectSeconds * 1000).toFixed(0)} ms), ` +
              `${(size / 1e6 / seconds).toFixed(0)} MB/s; CPU s: ` +
              [...cpu]
                .filter(([, v]) => v >= 0.01)
                .sort((a, b) => b[1] - a[1])
                .map(([k, v]) => `${k} ${v.toFixed(2)}`)
                .join(', '),
          );
        }
      }
      const best = (label: string) => Math.min(...(runs.get(label) ?? [Infinity]));
      const median = (label: string) => {
        const xs = [...(runs.get(label) ?? [])].sort((a, b) => a - b);
        return xs[Math.floor(xs.length / 2)] ?? Infinity;
      };
      console.log('');
      console.log(`pull of ${options.pullMiB} MiB (307 followed, sha256-checked here), ${options.pullRuns} runs each:`);
      for (const line of cpuLines) console.log(line);
      for (const target of pullTargets) {
        console.log(
          `  ${target.label.padEnd(8)} best ${(size / 1e6 / best(target.label)).toFixed(0)} MB/s, ` +
            `median ${(size / 1e6 / median(target.label)).toFixed(0)} MB/s`,
        );
      }
      console.log(
        `  ours/dist-s3: best ${(best('dist-s3') / best('ours')).toFixed(2)}, median ${(median('dist-s3') / median('ours')).toFixed(2)}`,
      );
    }
    console.log('');
    console.log(`after: ${machineLoad()}`);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
