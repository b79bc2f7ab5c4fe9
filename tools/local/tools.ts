import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * The real servers local mode and the tests run on, installed from the package registries by
 * pinned version into `.tools/` on first use:
 * - Amazon's DynamoDB Local, as shipped inside the npm package amplify-dynamodb-simulator (only its
 *   tarball is fetched; the wrapper's own dependencies are not needed);
 * - an S3-compatible server, one of two (`S3ServerKind`), both with multipart and UploadPartCopy,
 *   SigV4 and presigned URLs with expiry, and checksum verification (the S3 contract suite passes on
 *   both): S3Proxy, a Java program taken ready-made from Maven Central, what local mode runs by
 *   default, so that it needs Java and Node only and compiles nothing; and versitygw, built from its
 *   Go module, what the test suite runs on.
 */
export const TOOL_VERSIONS = {
  dynamodbLocalPackage: 'amplify-dynamodb-simulator@2.9.30',
  /** Maven Central's `org.gaul:s3proxy:4.1.0`, its self-contained jar, checked against this SHA-256. */
  s3proxy: {
    path: 'org/gaul/s3proxy/4.1.0/s3proxy-4.1.0-jar-with-dependencies.jar',
    sha256: 'a4d025969aaf796616ed4b1e2491d87d455ce84bb28cb9db086b2e6aaa68b48d',
    bytes: 54_955_934,
  },
  versitygw: 'github.com/versity/versitygw/cmd/versitygw@v1.8.0',
  /**
   * The OCI conformance suite (tests only). The module has no tags; this pseudo-version is the one
   * the Go module proxy serves, run with OCI_VERSION=1.1.
   */
  conformance: 'github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111',
  /** Registry clients the integration tests push and pull with (tests only). */
  clients: {
    crane: 'github.com/google/go-containerregistry/cmd/crane@v0.20.8',
    regctl: 'github.com/regclient/regclient/cmd/regctl@v0.11.7',
    oras: 'oras.land/oras/cmd/oras@v1.3.6',
  },
} as const;

/** Which S3-compatible server runs behind local mode. */
export type S3ServerKind = 's3proxy' | 'versitygw';

export interface ToolPaths {
  readonly dynamodbLocalDir: string;
  readonly s3:
    { readonly kind: 's3proxy'; readonly jar: string } | { readonly kind: 'versitygw'; readonly binary: string };
}

/** The S3 server local mode runs: `REGISTRY_S3_SERVER` (s3proxy or versitygw), S3Proxy unless set. */
export function localS3Server(env: NodeJS.ProcessEnv = process.env): S3ServerKind {
  const wanted = env.REGISTRY_S3_SERVER || 's3proxy';
  if (wanted !== 's3proxy' && wanted !== 'versitygw')
    throw new Error(`REGISTRY_S3_SERVER=${wanted}: expected s3proxy or versitygw`);
  return wanted;
}

export function toolsDir(): string {
  return resolve(process.env.REGISTRY_TOOLS_DIR ?? join(__dirname, '..', '..', '.tools'));
}

/** Where the S3Proxy jar is, or goes. */
export const s3proxyJar = (): string => join(toolsDir(), 's3proxy', basename(TOOL_VERSIONS.s3proxy.path));
/** Where the versitygw binary is, or goes. */
export const versitygwBinary = (): string => join(toolsDir(), 'bin', 'versitygw');

/**
 * Installs what is missing of DynamoDB Local and the S3 server `s3`, saying what it does and how
 * long each step took, and returns where they are. Needs `npm` and `tar`, and `go` for versitygw.
 */
export async function ensureTools(
  log: (line: string) => void = () => {},
  s3: S3ServerKind = localS3Server(),
): Promise<ToolPaths> {
  const dir = toolsDir();
  mkdirSync(dir, { recursive: true });
  const dynamodbLocalDir = join(dir, 'dynamodb-local');
  if (!existsSync(join(dynamodbLocalDir, 'DynamoDBLocal.jar'))) {
    const started = Date.now();
    log(`installing DynamoDB Local from the npm package ${TOOL_VERSIONS.dynamodbLocalPackage}`);
    const tmp = mkdtempSync(join(dir, 'pack-'));
    try {
      const file = execFileSync(
        'npm',
        ['pack', TOOL_VERSIONS.dynamodbLocalPackage, '--silent', '--pack-destination', tmp],
        {
          encoding: 'utf8',
        },
      ).trim();
      execFileSync('tar', ['-xzf', join(tmp, file.split('\n').pop() as string), '-C', tmp]);
      rmSync(dynamodbLocalDir, { recursive: true, force: true });
      renameSync(join(tmp, 'package', 'emulator'), dynamodbLocalDir);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    log(`DynamoDB Local installed in ${seconds(started)}`);
  }
  if (s3 === 's3proxy') {
    const jar = s3proxyJar();
    if (!existsSync(jar)) await downloadS3Proxy(jar, log);
    return { dynamodbLocalDir, s3: { kind: 's3proxy', jar } };
  }
  const binary = versitygwBinary();
  if (!existsSync(binary)) {
    const started = Date.now();
    log(`building versitygw from ${TOOL_VERSIONS.versitygw} (takes a few minutes the first time)`);
    execFileSync('go', ['install', '-ldflags=-s -w', TOOL_VERSIONS.versitygw], {
      env: { ...process.env, GOBIN: join(dir, 'bin'), CGO_ENABLED: '0' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    log(`versitygw built in ${seconds(started)}`);
  }
  return { dynamodbLocalDir, s3: { kind: 'versitygw', binary } };
}

/**
 * Downloads the S3Proxy jar from Maven Central (or the mirror `REGISTRY_MAVEN_REPOSITORY` names),
 * printing progress every few seconds, and keeps it only if its SHA-256 is the pinned one.
 */
async function downloadS3Proxy(jar: string, log: (line: string) => void): Promise<void> {
  const { path, sha256, bytes } = TOOL_VERSIONS.s3proxy;
  const repository = (process.env.REGISTRY_MAVEN_REPOSITORY ?? 'https://repo1.maven.org/maven2').replace(/\/+$/, '');
  const url = `${repository}/${path}`;
  const started = Date.now();
  log(`downloading the S3 server (S3Proxy, ${(bytes / 1e6).toFixed(1)} MB) from ${url}`);
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`${url}: HTTP ${response.status}`);
  mkdirSync(dirname(jar), { recursive: true });
  const partial = `${jar}.${process.pid}.part`;
  const out = createWriteStream(partial);
  const hash = createHash('sha256');
  let received = 0;
  let reported = Date.now();
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      received += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      if (Date.now() - reported > 3000) {
        reported = Date.now();
        log(`  ${(received / 1e6).toFixed(1)} of ${(bytes / 1e6).toFixed(1)} MB`);
      }
    }
    await new Promise<void>((ok, fail) => out.end((err?: Error | null) => (err ? fail(err) : ok())));
    const got = hash.digest('hex');
    if (got !== sha256) throw new Error(`${url}: SHA-256 ${got}, expected ${sha256}; not installed`);
    renameSync(partial, jar);
  } finally {
    out.destroy();
    rmSync(partial, { force: true });
  }
  log(`S3 server downloaded in ${seconds(started)}`);
}

const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** Builds the OCI conformance suite binary into `.tools/bin` unless it is there; returns its path. */
export function ensureConformance(log: (line: string) => void = () => {}): string {
  const dir = toolsDir();
  const binary = join(dir, 'bin', 'oci-conformance');
  const stamp = `${binary}.version`;
  if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, 'utf8') === TOOL_VERSIONS.conformance)
    return binary;
  log(`building the OCI conformance suite from ${TOOL_VERSIONS.conformance}`);
  const download = JSON.parse(
    execFileSync('go', ['mod', 'download', '-json', TOOL_VERSIONS.conformance], { encoding: 'utf8' }),
  ) as { Dir: string };
  const src = mkdtempSync(join(dir, 'conformance-src-'));
  try {
    cpSync(download.Dir, src, { recursive: true });
    execFileSync('chmod', ['-R', 'u+w', src]);
    const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };
    execFileSync('go', ['build', '-trimpath', '-o', binary, '.'], {
      cwd: src,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    writeFileSync(stamp, TOOL_VERSIONS.conformance);
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
  return binary;
}

/** Installs the Go registry clients (crane, regctl, oras) into `.tools/bin`; returns their paths. */
export function ensureClients(
  log: (line: string) => void = () => {},
): Record<keyof typeof TOOL_VERSIONS.clients, string> {
  const bin = join(toolsDir(), 'bin');
  const paths = {} as Record<keyof typeof TOOL_VERSIONS.clients, string>;
  for (const [name, module] of Object.entries(TOOL_VERSIONS.clients) as [
    keyof typeof TOOL_VERSIONS.clients,
    string,
  ][]) {
    const binary = join(bin, name);
    const stamp = `${binary}.version`;
    if (!existsSync(binary) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== module) {
      log(`building ${module}`);
      execFileSync('go', ['install', '-ldflags=-s -w', module], {
        env: { ...process.env, GOBIN: bin, CGO_ENABLED: '0' },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      writeFileSync(stamp, module);
    }
    paths[name] = binary;
  }
  return paths;
}

/**
 * moto's server, a KMS the token-key tests sign with and an EventBridge (with SQS) the event
 * publisher's tests read events back from (tests only). KMS needs only moto itself and the Flask
 * server; EventBridge needs jsonpath-ng too, to deliver to any rule target. Not the `server` extra,
 * which adds cfn-lint, docker and sympy for other services and doubles the install.
 */
export const MOTO_REQUIREMENTS = ['moto==5.2.5', 'flask==3.1.3', 'flask-cors==6.0.5', 'jsonpath-ng==1.8.0'] as const;

/**
 * Installs moto into the Python venv `.tools/moto` unless the pinned version is there; returns the
 * path of `moto_server`. Needs `python3` (with venv) on PATH and access to PyPI.
 */
export function ensureMoto(log: (line: string) => void = () => {}): string {
  const venv = join(toolsDir(), 'moto');
  const server = join(venv, 'bin', 'moto_server');
  const stamp = join(venv, 'requirements.txt');
  const wanted = MOTO_REQUIREMENTS.join('\n');
  if (existsSync(server) && existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return server;
  log(`installing ${MOTO_REQUIREMENTS.join(' ')} into ${venv}`);
  // A venv cannot be moved once made (its scripts name their interpreter by path): build in place,
  // and write the stamp last so an interrupted install starts over. A complete install of other
  // requirements is updated where it is: pip changes only what differs, and a moto_server another
  // test file runs from it keeps running.
  if (!existsSync(server) || !existsSync(stamp)) {
    rmSync(venv, { recursive: true, force: true });
    execFileSync('python3', ['-m', 'venv', venv], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  execFileSync(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...MOTO_REQUIREMENTS], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  writeFileSync(stamp, wanted);
  return server;
}

if (require.main === module) {
  void ensureTools((line) => console.log(line)).then((paths) => console.log(JSON.stringify(paths)));
}
