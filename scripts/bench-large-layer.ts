/**
 * Push and pull throughput of one large random blob, side by side, in one run:
 *
 *   (a) this registry in local mode (startLocalRegistry, streaming uploader on) in a process of its
 *       own (scripts/bench-registry.ts, named `registry`), as distribution runs in its own, on
 *       DynamoDB Local and versitygw started here with a temporary data dir;
 *  (a') the same registry through the push helper (`npm run push-helper`, a process of its own beside
 *       the client, as it runs on a user's machine) in direct mode: the helper keeps the PATCHed body
 *       on disk until the digest comes, then sends it to versitygw in one PUT checked against the
 *       digest; pushed a second time with one PUT ?digest=, which it streams straight through;
 *   (b) CNCF distribution 2.8 (`/usr/bin/docker-registry`, Debian) with its S3 driver on the SAME
 *       versitygw server (its own bucket), blob GETs redirected to S3 like ours;
 *   (c) raw S3 on that versitygw: one PutObject + one GetObject, and, for reference, a multipart upload
 *       (16 MiB parts, 4 in flight) + GetObject, with @aws-sdk/client-s3 directly.
 *
 * (a), (a') and (b) are pushed the way docker and podman push a layer: POST /v2/<name>/blobs/uploads/, ONE
 * PATCH with the whole blob streamed from disk (Transfer-Encoding: chunked by default, or
 * Content-Length with `--body length`), then PUT <location>&digest=. (a) is pushed a second time the
 * way containerd, BuildKit, oras and regctl push a layer: POST, then ONE PUT <location>&digest= with
 * the whole blob and its Content-Length. Every row is pulled with GET /v2/<name>/blobs/<digest>,
 * following the 307 to S3, streaming, counting and sha256-checking the bytes (node:crypto, in this
 * process, for every row alike).
 *
 *   npx tsx scripts/bench-large-layer.ts [--size-mib 1024] [--runs 1] [--body chunked|length]
 *                                        [--work-dir <tmp>/registry-bench] [--hash-bench]
 *                                        [--only patch,put,helper,helper-put,distribution]
 *
 * Each registry row pushes a fresh blob (new digest), so no registry can skip an upload it already
 * has; each measurement runs `--runs` times; the table shows the best (shortest) time of the runs,
 * MB = 10^6 bytes.
 * Everything listens on 127.0.0.1 only; all servers are stopped and the work dir removed at the end,
 * also on errors and Ctrl-C.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createSHA256 } from 'hash-wasm';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startEmulators, terminate } from '../tools/local/emulators';
import { DISTRIBUTION_BINARY, startDistribution } from './distribution-server';
import { ensureTools } from '../tools/local/tools';

const MiB = 1024 * 1024;
const MAX_SIZE_MIB = 4096;
const MAX_RUNS = 5;
/** Part size and parallelism of the raw multipart reference: the same as the registry's uploader. */
const PART_SIZE = 16 * MiB;
const PART_CONCURRENCY = 4;
/** distribution's S3 `chunksize` (its multipart part size; default 10 MB): set to our part size. */
const DISTRIBUTION_CHUNK_SIZE = 16 * MiB;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

interface Options {
  sizeMiB: number;
  runs: number;
  body: 'chunked' | 'length';
  workDir: string;
  hashBench: boolean;
  /** Registry rows to run (all by default); the raw S3 rows always run, as the ratios' reference. */
  only?: Set<string>;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    sizeMiB: 1024,
    runs: 1,
    body: 'chunked',
    workDir: join(tmpdir(), 'registry-bench'),
    hashBench: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--size-mib') options.sizeMiB = Number(value());
    else if (arg === '--runs') options.runs = Number(value());
    else if (arg === '--body') options.body = value() as Options['body'];
    else if (arg === '--work-dir') options.workDir = value();
    else if (arg === '--hash-bench') options.hashBench = true;
    else if (arg === '--only') options.only = new Set(value().split(','));
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(options.sizeMiB) || options.sizeMiB < 1 || options.sizeMiB > MAX_SIZE_MIB)
    throw new Error(`--size-mib must be an integer from 1 to ${MAX_SIZE_MIB}`);
  if (!Number.isInteger(options.runs) || options.runs < 1 || options.runs > MAX_RUNS)
    throw new Error(`--runs must be an integer from 1 to ${MAX_RUNS}`);
  if (options.body !== 'chunked' && options.body !== 'length') throw new Error('--body is chunked or length');
  for (const row of options.only ?? []) {
    if (!['patch', 'put', 'helper', 'helper-put', 'distribution'].includes(row))
      throw new Error(`--only: no registry row ${row}`);
  }
  return options;
}

// ---------------------------------------------------------------------------------------------------
// Processes: our children (versitygw, DynamoDB Local, docker-registry), their CPU time and peak RSS.

const CLOCK_TICKS = 100;

interface ProcInfo {
  pid: number;
  comm: string;
  cpuSeconds: number;
}

/** Direct children of this process, read from /proc. */
function children(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirNumeric('/proc')) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat
        .slice(close + 2)
        .split(' ')
        .map(Number);
      // fields[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
      if (fields[1] !== process.pid) continue;
      out.push({ pid: Number(entry), comm, cpuSeconds: ((fields[11] ?? 0) + (fields[12] ?? 0)) / CLOCK_TICKS });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function readdirNumeric(dir: string): string[] {
  return readdirSync(dir).filter((e) => /^\d+$/.test(e));
}

function peakRssMiB(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds per process name (this node process as `node`) at this moment. */
function cpuSnapshot(): Map<string, number> {
  const usage = process.cpuUsage();
  const snapshot = new Map<string, number>([['node', (usage.user + usage.system) / 1e6]]);
  for (const child of children()) snapshot.set(child.comm, (snapshot.get(child.comm) ?? 0) + child.cpuSeconds);
  return snapshot;
}

function cpuDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [name, value] of after) delta.set(name, value - (before.get(name) ?? 0));
  return delta;
}

/** Samples this process's RSS while `fn` runs. */
async function withRssPeak<T>(fn: () => Promise<T>): Promise<{ value: T; peakRss: number }> {
  let peakRss = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 25);
  try {
    const value = await fn();
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    return { value, peakRss };
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------------------------------------------
// HTTP, with node:http so request bodies stream from disk without buffering.

/** Seconds of one measurement, with an optional breakdown. */
interface Timed {
  seconds: number;
  detail?: string;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function assertLoopback(url: URL): void {
  if (!LOOPBACK_HOSTS.has(url.hostname) || url.protocol !== 'http:')
    throw new Error(`refusing to contact ${url.origin}: only http on loopback`);
}

function send(method: string, url: URL, headers: http.OutgoingHttpHeaders = {}, body?: Readable): Promise<Reply> {
  assertLoopback(url);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    } else {
      req.end();
    }
  });
}

function expectStatus(reply: Reply, status: number, what: string): void {
  if (reply.status !== status) throw new Error(`${what}: HTTP ${reply.status} (expected ${status}): ${reply.body}`);
}

/** How a client sends a layer: docker and podman PATCH it, containerd, oras and regctl PUT it. */
type PushStyle = 'patch' | 'put';

/**
 * One blob push: POST, then either one PATCH with the whole blob streamed and PUT ?digest= (docker,
 * podman), or one PUT ?digest= with the whole blob and its Content-Length (containerd, oras).
 * Returns the seconds from the POST to the PUT's answer.
 */
async function pushBlob(
  base: URL,
  name: string,
  blob: BlobFile,
  body: Options['body'],
  style: PushStyle = 'patch',
): Promise<Timed> {
  const started = performance.now();
  const post = await send('POST', new URL(`/v2/${name}/blobs/uploads/`, base), { 'Content-Length': '0' });
  expectStatus(post, 202, 'POST upload');
  const location = new URL(String(post.headers.location), base);
  const file = () => createReadStream(blob.path, { highWaterMark: 256 * 1024 });
  if (style === 'put') {
    location.searchParams.set('digest', blob.digest);
    const put = await send(
      'PUT',
      location,
      { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) },
      file(),
    );
    expectStatus(put, 201, 'PUT upload');
    return { seconds: (performance.now() - started) / 1000 };
  }
  const patch = await send(
    'PATCH',
    location,
    {
      'Content-Type': 'application/octet-stream',
      ...(body === 'length' ? { 'Content-Length': String(blob.size) } : { 'Transfer-Encoding': 'chunked' }),
    },
    file(),
  );
  expectStatus(patch, 202, 'PATCH upload');
  const patched = performance.now();
  const putUrl = new URL(String(patch.headers.location), base);
  putUrl.searchParams.set('digest', blob.digest);
  const put = await send('PUT', putUrl, { 'Content-Length': '0' });
  expectStatus(put, 201, 'PUT upload');
  const done = performance.now();
  return {
    seconds: (done - started) / 1000,
    detail: `POST+PATCH ${((patched - started) / 1000).toFixed(2)} s, PUT ?digest ${((done - patched) / 1000).toFixed(2)} s`,
  };
}

/** GET following redirects (loopback only), streaming into sha256; returns seconds. */
async function pullBlob(url: URL, blob: BlobFile): Promise<Timed> {
  const started = performance.now();
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
    return { seconds: (performance.now() - started) / 1000, detail: `redirected to ${target.host}` };
  }
  throw new Error('too many redirects');
}

// ---------------------------------------------------------------------------------------------------
// Raw S3.

async function s3PutSingle(s3: S3Client, bucket: string, key: string, blob: BlobFile): Promise<Timed> {
  const started = performance.now();
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: createReadStream(blob.path, { highWaterMark: 256 * 1024 }),
      ContentLength: blob.size,
    }),
  );
  return { seconds: (performance.now() - started) / 1000 };
}

async function s3PutMultipart(s3: S3Client, bucket: string, key: string, blob: BlobFile): Promise<Timed> {
  const started = performance.now();
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const file = await open(blob.path, 'r');
  const parts: { PartNumber: number; ETag?: string }[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  try {
    for (let offset = 0, partNumber = 1; offset < blob.size; offset += PART_SIZE, partNumber++) {
      const length = Math.min(PART_SIZE, blob.size - offset);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await file.read(buffer, 0, length, offset);
      if (bytesRead !== length) throw new Error(`short read at ${offset}`);
      const upload: Promise<void> = s3
        .send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: partNumber, Body: buffer }))
        .then((out) => {
          parts.push({ PartNumber: partNumber, ETag: out.ETag });
        })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inflight.delete(upload));
      inflight.add(upload);
      while (inflight.size >= PART_CONCURRENCY) await Promise.race(inflight);
      if (failure) throw failure;
    }
    await Promise.all(inflight);
    if (failure) throw failure;
  } finally {
    await file.close();
  }
  parts.sort((a, b) => a.PartNumber - b.PartNumber);
  const uploaded = performance.now();
  await s3.send(
    new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
  );
  const done = performance.now();
  return {
    seconds: (done - started) / 1000,
    detail: `parts ${((uploaded - started) / 1000).toFixed(2)} s, CompleteMultipartUpload ${((done - uploaded) / 1000).toFixed(2)} s`,
  };
}

async function s3Get(s3: S3Client, bucket: string, key: string, blob: BlobFile): Promise<Timed> {
  const started = performance.now();
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of out.Body as Readable) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (bytes !== blob.size || digest !== blob.digest) throw new Error(`GetObject returned ${bytes} bytes, ${digest}`);
  return { seconds: (performance.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------------------
// Our registry, in a process of its own (scripts/bench-registry.ts).

interface Child {
  url: URL;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts local mode's registry (uploader on) as a child process on the given servers, as distribution
 * runs in one: the client's work (reading and sending the blob, hashing what it pulls) and the
 * registry's then run side by side, as they do when the client is on another machine, and the CPU
 * seconds of each are counted apart (`registry` and `node`).
 */
function startRegistry(s3Endpoint: string, dynamodbEndpoint: string, dataDir: string): Promise<Child> {
  return startScript(
    join(__dirname, 'bench-registry.ts'),
    [s3Endpoint, dynamodbEndpoint, dataDir, 'bench-ours'],
    /listening (\d+)/,
  );
}

/**
 * Starts the push helper (`npm run push-helper`) in a process of its own, relaying to `upstream`, as
 * a user runs it beside docker: its CPU seconds are counted apart (`push-helper`) from the client's.
 */
function startPushHelper(upstream: URL): Promise<Child> {
  return startScript(join(__dirname, '..', 'bin', 'push-helper.ts'), [upstream.origin, '0'], /localhost:(\d+)/);
}

/** Runs a TypeScript entry point in a process of its own until it prints the port it listens on. */
async function startScript(script: string, args: string[], listening: RegExp): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 60 s: ${output}`)), 60_000);
    const read = (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
      const match = listening.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}: ${output}`));
    });
  });
  // Both advertise http://localhost:<port>; talk to the address they listen on.
  return { url: new URL(`http://127.0.0.1:${port}`), child, stop: () => terminate(child) };
}

// ---------------------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------------------
// The blob.

interface BlobFile {
  path: string;
  size: number;
  digest: string;
}

async function writeRandomFile(path: string, size: number): Promise<void> {
  const file = await open(path, 'w');
  try {
    for (let offset = 0; offset < size; offset += PART_SIZE) {
      await file.write(randomBytes(Math.min(PART_SIZE, size - offset)));
    }
  } finally {
    await file.close();
  }
}

/** New random first 64 bytes, so each run pushes a blob no registry holds yet; returns its digest. */
async function freshBlob(path: string, size: number): Promise<BlobFile> {
  const file = await open(path, 'r+');
  try {
    const head = randomBytes(Math.min(64, size));
    await file.write(head, 0, head.length, 0);
  } finally {
    await file.close();
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return { path, size, digest: `sha256:${hash.digest('hex')}` };
}

/** hash-wasm (what the uploader uses) against node:crypto, over `size` bytes in pieces of `piece`. */
async function hashBench(size: number): Promise<void> {
  const data = randomBytes(PART_SIZE);
  for (const piece of [64 * 1024, PART_SIZE]) {
    const wasm = await createSHA256();
    wasm.init();
    let t = performance.now();
    for (let done = 0; done < size; done += piece) wasm.update(data.subarray(0, Math.min(piece, size - done)));
    wasm.digest('hex');
    const wasmSeconds = (performance.now() - t) / 1000;
    const native = createHash('sha256');
    t = performance.now();
    for (let done = 0; done < size; done += piece) native.update(data.subarray(0, Math.min(piece, size - done)));
    native.digest('hex');
    const nativeSeconds = (performance.now() - t) / 1000;
    console.log(
      `sha256 of ${size / MiB} MiB in ${piece / 1024} KiB pieces: hash-wasm ${wasmSeconds.toFixed(2)} s ` +
        `(${mbps(size, wasmSeconds)} MB/s), node:crypto ${nativeSeconds.toFixed(2)} s (${mbps(size, nativeSeconds)} MB/s)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Reporting.

type Row = 'patch' | 'put' | 'helper' | 'helper-put' | 'distribution' | 'single' | 'multipart';
const ROW_LABELS: Record<Row, string> = {
  patch: 'ours, uploader, PATCH + PUT ?digest',
  put: 'ours, uploader, one PUT ?digest',
  helper: 'ours through the push helper (direct)',
  'helper-put': 'push helper, one PUT ?digest',
  distribution: 'distribution 2.8.2 + S3 driver',
  single: 'raw S3 single PutObject/GetObject',
  multipart: 'raw S3 multipart 16 MiB x4 / GetObject',
};

function mbps(bytes: number, seconds: number): string {
  return (bytes / 1e6 / seconds).toFixed(0);
}

function formatCpu(delta: Map<string, number>): string {
  return [...delta]
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');
}

/** Flushes dirty pages so one step's writeback does not slow the next; not timed. */
function settle(): void {
  execFileSync('sync');
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const size = options.sizeMiB * MiB;
  mkdirSync(options.workDir, { recursive: true });
  const free = (() => {
    const s = statfsSync(options.workDir);
    return s.bavail * s.bsize;
  })();
  // blob file + per run: ours (PATCH: parts + assembled; PUT; helper: spool + object, twice) and
  // distribution (parts, object, copy), a raw object.
  const needed = size * (2 + options.runs * 10);
  if (free < needed)
    throw new Error(`${options.workDir} has ${(free / 2 ** 30).toFixed(1)} GiB free; need about ${needed / 2 ** 30}`);

  const work = mkdtempSync(join(options.workDir, 'run-'));
  const cleanups: (() => Promise<void>)[] = [async () => rmSync(work, { recursive: true, force: true })];
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

  try {
    if (options.hashBench) await hashBench(size);

    const blobPath = join(work, 'blob.bin');
    let t = performance.now();
    await writeRandomFile(blobPath, size);
    console.log(
      `wrote ${options.sizeMiB} MiB of random bytes to ${blobPath} in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    const dataDir = join(work, 'data');
    t = performance.now();
    const emulators = await startEmulators(await ensureTools((line) => console.log(line), 'versitygw'), dataDir);
    cleanups.push(() => emulators.stop());
    const registry = await startRegistry(emulators.s3Endpoint, emulators.dynamodbEndpoint, dataDir);
    cleanups.push(() => registry.stop());
    const oursUrl = registry.url;

    // Raw S3 rows: the registry's client settings, except that GetObject does not validate response
    // checksums: versitygw gives multipart objects a full-object CRC64NVME, which the SDK checks in
    // JavaScript (about 3x the GET's own time); the bytes are sha256-checked here anyway.
    const raw = new S3Client({
      region: LOCAL_REGION,
      credentials: { ...LOCAL_CREDENTIALS },
      endpoint: emulators.s3Endpoint,
      forcePathStyle: true,
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    cleanups.push(async () => raw.destroy());
    const distBucket = 'bench-distribution';
    const rawBucket = 'bench-raw';
    await raw.send(new CreateBucketCommand({ Bucket: distBucket }));
    await raw.send(new CreateBucketCommand({ Bucket: rawBucket }));
    const distribution = await startDistribution(work, {
      kind: 's3',
      endpoint: emulators.s3Endpoint,
      bucket: distBucket,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      chunkSize: DISTRIBUTION_CHUNK_SIZE,
    });
    cleanups.push(() => distribution.stop());
    const version = execFileSync(DISTRIBUTION_BINARY, ['--version'], { encoding: 'utf8' }).trim();
    console.log(
      `servers up in ${((performance.now() - t) / 1000).toFixed(1)} s: versitygw ${emulators.s3Endpoint}, ` +
        `DynamoDB Local ${emulators.dynamodbEndpoint}, ours ${oursUrl.origin}, ${version} on ${distribution.url.origin}`,
    );

    const helper = await startPushHelper(oursUrl);
    cleanups.push(() => helper.stop());
    const helperUrl = helper.url;

    const rows = Object.keys(ROW_LABELS) as Row[];
    const push = Object.fromEntries(rows.map((r) => [r, [] as number[]])) as Record<Row, number[]>;
    const pull = Object.fromEntries(rows.map((r) => [r, [] as number[]])) as Record<Row, number[]>;
    const cpu: string[] = [];
    let oursPeakRss = 0;
    const rssBefore = process.memoryUsage.rss();

    /** Runs one timed step between `sync`s, recording CPU seconds per process. */
    const step = async (label: string, fn: () => Promise<Timed>): Promise<number> => {
      settle();
      const before = cpuSnapshot();
      const { seconds, detail } = await fn();
      const cpuLine = formatCpu(cpuDelta(before, cpuSnapshot()));
      cpu.push(
        `  ${label.padEnd(30)} ${seconds.toFixed(2).padStart(6)} s  cpu s: ${cpuLine}${detail ? `; ${detail}` : ''}`,
      );
      return seconds;
    };

    // Warm-up, untimed: JIT (DynamoDB Local's JVM, node), connections and code paths of every row.
    const warmPath = join(work, 'warm.bin');
    await writeRandomFile(warmPath, 6 * MiB);
    for (const [base, style] of [
      [oursUrl, 'patch'],
      [oursUrl, 'put'],
      [helperUrl, 'patch'],
      [distribution.url, 'patch'],
    ] as const) {
      const warm = await freshBlob(warmPath, 6 * MiB);
      await pushBlob(base, 'bench/warm-up', warm, options.body, style);
      await pullBlob(new URL(`/v2/bench/warm-up/blobs/${warm.digest}`, base), warm);
    }
    const warm = await freshBlob(warmPath, 6 * MiB);
    await s3PutSingle(raw, rawBucket, 'warm-up', warm);
    await s3Get(raw, rawBucket, 'warm-up', warm);
    await s3PutMultipart(raw, rawBucket, 'warm-up', warm);
    await raw.send(new DeleteObjectCommand({ Bucket: rawBucket, Key: 'warm-up' }));

    /** Pushes a fresh blob through a registry row and pulls it back from the registry at `pullBase`. */
    const registryRow = async (row: Row, run: number, base: URL, style: PushStyle, pullBase = base) => {
      if (options.only && !options.only.has(row)) return;
      const blob = await freshBlob(blobPath, size);
      const name = `bench/${row}-${run}`;
      const measured = await withRssPeak(async () => {
        push[row].push(await step(`${row} push`, () => pushBlob(base, name, blob, options.body, style)));
        pull[row].push(
          await step(`${row} pull`, () => pullBlob(new URL(`/v2/${name}/blobs/${blob.digest}`, pullBase), blob)),
        );
      });
      if (row !== 'distribution') oursPeakRss = Math.max(oursPeakRss, measured.peakRss);
    };

    for (let run = 1; run <= options.runs; run++) {
      console.log(`run ${run}/${options.runs}`);
      await registryRow('patch', run, oursUrl, 'patch');
      await registryRow('put', run, oursUrl, 'put');
      await registryRow('helper', run, helperUrl, 'patch', oursUrl);
      await registryRow('helper-put', run, helperUrl, 'put', oursUrl);
      await registryRow('distribution', run, distribution.url, 'patch');

      const blob = await freshBlob(blobPath, size);
      const singleKey = `single-${run}`;
      push.single.push(await step(`raw PutObject`, () => s3PutSingle(raw, rawBucket, singleKey, blob)));
      pull.single.push(await step(`raw GetObject`, () => s3Get(raw, rawBucket, singleKey, blob)));
      await raw.send(new DeleteObjectCommand({ Bucket: rawBucket, Key: singleKey }));

      const multiKey = `multipart-${run}`;
      push.multipart.push(await step(`raw multipart put`, () => s3PutMultipart(raw, rawBucket, multiKey, blob)));
      pull.multipart.push(await step(`raw GetObject (multipart obj)`, () => s3Get(raw, rawBucket, multiKey, blob)));
      await raw.send(new DeleteObjectCommand({ Bucket: rawBucket, Key: multiKey }));
    }

    const procs = children();
    const peakOf = (comm: string) => {
      const p = procs.find((c) => c.comm === comm);
      const peak = p ? peakRssMiB(p.pid) : undefined;
      return peak === undefined ? '?' : `${peak.toFixed(0)} MiB`;
    };

    const best = (xs: number[]) => Math.min(...xs);
    console.log('');
    console.log(
      `blob ${options.sizeMiB} MiB (${size} bytes); best (shortest) of ${options.runs} run(s); MB = 10^6 bytes; ` +
        `PATCH body: ${options.body === 'chunked' ? 'Transfer-Encoding: chunked' : 'Content-Length'}; ` +
        `parts: ours 16 MiB x 4 in flight, helper one checked PUT per blob (parts only over 5 GiB), ` +
        `raw multipart 16 MiB x 4, distribution chunksize 16 MiB; a PUT with Content-Length is one PutObject`,
    );
    console.log(
      `${''.padEnd(40)}${'push MB/s'.padStart(10)}${'pull MB/s'.padStart(10)}${'push s'.padStart(9)}${'pull s'.padStart(9)}`,
    );
    for (const row of Object.keys(ROW_LABELS) as Row[]) {
      if (push[row].length === 0) continue;
      const ps = best(push[row]);
      const gs = best(pull[row]);
      console.log(
        `${ROW_LABELS[row].padEnd(40)}${mbps(size, ps).padStart(10)}${mbps(size, gs).padStart(10)}` +
          `${ps.toFixed(2).padStart(9)}${gs.toFixed(2).padStart(9)}`,
      );
    }
    const ratio = (a: number[], b: number[]) => (a.length && b.length ? (best(b) / best(a)).toFixed(2) : '-');
    console.log(
      `throughput ratios: put/raw-single ${ratio(push.put, push.single)}, ` +
        `patch/raw-multipart ${ratio(push.patch, push.multipart)}, ` +
        `helper/raw-multipart ${ratio(push.helper, push.multipart)}, ` +
        `helper-put/raw-single ${ratio(push['helper-put'], push.single)}, ` +
        `pull/distribution ${ratio(pull.patch, pull.distribution)}; ` +
        `also push put/raw-multipart ${ratio(push.put, push.multipart)}, patch/raw-single ${ratio(push.patch, push.single)}, ` +
        `patch/distribution ${ratio(push.patch, push.distribution)}; ` +
        `pull put/distribution ${ratio(pull.put, pull.distribution)}, patch/raw-single ${ratio(pull.patch, pull.single)}`,
    );
    // aws-sdk-go v1 (inside distribution 2.8) sends `Expect: 100-Continue` on UploadPart bodies over
    // 2 MiB; versitygw answers 100 only to the lower-case `100-continue`, so Go waits its 1 s
    // ExpectContinueTimeout before every such part. Real S3 answers at once: show the push without it.
    const stalledParts =
      Math.floor(size / DISTRIBUTION_CHUNK_SIZE) + (size % DISTRIBUTION_CHUNK_SIZE > 2 * MiB ? 1 : 0);
    const distAdjusted = best(push.distribution) - stalledParts;
    if (push.distribution.length > 0)
      console.log(
        `note: distribution push includes ~${stalledParts} s of Expect: 100-Continue stalls (1 s x ${stalledParts} parts, ` +
          `a versitygw quirk); without them (estimate): ${mbps(size, distAdjusted)} MB/s, ${distAdjusted.toFixed(2)} s; ` +
          `push patch/distribution ${(distAdjusted / best(push.patch)).toFixed(2)}`,
      );
    console.log(
      `peak RSS: this process (bench client) ${(oursPeakRss / MiB).toFixed(0)} MiB ` +
        `(${(rssBefore / MiB).toFixed(0)} MiB before); over their lifetimes (VmHWM): our registry ` +
        `${peakOf('registry')}, push helper ${peakOf('push-helper')}, docker-registry ${peakOf('docker-registry')}, versitygw ${peakOf('versitygw')}`,
    );
    console.log(
      'steps (wall s; CPU s per process: node = bench client, registry = ours, push-helper = the helper; 2 cores):',
    );
    for (const line of cpu) console.log(line);
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
