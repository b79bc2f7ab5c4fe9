import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The real servers local mode and the tests run on, installed from the package registries by
 * pinned version into `.tools/` on first use:
 * - Amazon's DynamoDB Local, as shipped inside the npm package amplify-dynamodb-simulator (only its
 *   tarball is fetched; the wrapper's own dependencies are not needed);
 * - versitygw, an S3-compatible server (multipart, UploadPartCopy, SigV4 and presigned URLs with
 *   expiry, checksum verification), built from its Go module.
 */
export const TOOL_VERSIONS = {
  dynamodbLocalPackage: 'amplify-dynamodb-simulator@2.9.30',
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

export interface ToolPaths {
  readonly dynamodbLocalDir: string;
  readonly versitygw: string;
}

export function toolsDir(): string {
  return resolve(process.env.REGISTRY_TOOLS_DIR ?? join(__dirname, '..', '..', '.tools'));
}

/** Installs what is missing and returns where the tools are. Needs `npm`, `go` and `tar` on PATH. */
export function ensureTools(log: (line: string) => void = () => {}): ToolPaths {
  const dir = toolsDir();
  mkdirSync(dir, { recursive: true });
  const dynamodbLocalDir = join(dir, 'dynamodb-local');
  if (!existsSync(join(dynamodbLocalDir, 'DynamoDBLocal.jar'))) {
    log(`installing DynamoDB Local from ${TOOL_VERSIONS.dynamodbLocalPackage}`);
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
  }
  const versitygw = join(dir, 'bin', 'versitygw');
  if (!existsSync(versitygw)) {
    log(`building versitygw from ${TOOL_VERSIONS.versitygw} (takes a few minutes the first time)`);
    execFileSync('go', ['install', '-ldflags=-s -w', TOOL_VERSIONS.versitygw], {
      env: { ...process.env, GOBIN: join(dir, 'bin'), CGO_ENABLED: '0' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return { dynamodbLocalDir, versitygw };
}

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
  const paths = ensureTools((line) => console.log(line));
  console.log(JSON.stringify(paths));
}
