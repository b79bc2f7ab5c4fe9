import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A private Docker Engine for one test file: its own socket, data, containerd and client config. */
export interface Dockerd {
  /** `unix:///…/docker.sock`, for DOCKER_HOST. */
  readonly host: string;
  /** The client binary that `docker()` runs. */
  readonly client: string;
  /** The environment `docker()` runs the client in, for tests that spawn it themselves (DOCKER_HOST, DOCKER_CONFIG). */
  readonly env: NodeJS.ProcessEnv;
  /** The private containerd's socket path, for `ctr --address` (containerd's own registry client). */
  readonly containerdAddress: string;
  /** Runs the client against this daemon; rejects with its stderr when it exits non-zero. */
  docker(...args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Stops the daemon and its containerd, then removes every file they wrote. Safe to call twice. */
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** How long to wait for the daemon to answer `docker version`; 60 s unless told. */
  readonly timeoutMs?: number;
  /**
   * The client binary. By default Debian's /usr/bin/docker, which comes with docker.io and speaks
   * the daemon's API version (1.41); a newer client (e.g. /usr/local/bin/docker 28) works too, as it
   * negotiates down to 1.41 by itself.
   */
  readonly client?: string;
  /**
   * The daemon's `registry-mirrors` (`http://localhost:5000`): where it pulls docker.io images from
   * before trying Docker Hub itself. None unless told.
   */
  readonly registryMirrors?: readonly string[];
  /**
   * The daemon's `insecure-registries` (`localhost:5000`, or a CIDR): plain HTTP or unverified TLS
   * for these. Loopback is insecure without it; none are added unless told.
   */
  readonly insecureRegistries?: readonly string[];
}

const INSTALL_HINT = 'apt-get install -y --no-install-recommends docker.io';

// The daemons find each other (dockerd → runc, docker-init) through PATH, and Debian puts dockerd
// in /usr/sbin, which a non-login shell's PATH may lack.
const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * Starts Debian's Docker Engine (docker.io, 20.10) as root, on a private socket in a fresh temp dir,
 * with no networking of its own (no bridge, no iptables), so `docker push`/`pull` can reach a
 * registry on loopback. `localhost:<port>` and 127.0.0.0/8 are insecure registries by default, so
 * plain HTTP works without configuration (docker tries HTTPS first and falls back).
 *
 * Nothing system-wide is used or written: not /etc/docker/daemon.json, /var/lib/docker,
 * /run/docker.sock, /etc/containerd/config.toml, /run/containerd, nor ~/.docker.
 *
 * Throws an actionable error when docker.io is not installed or the process is not root.
 */
export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  const path = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_PATH].join(delimiter);
  const dockerd = findExecutable('dockerd', path);
  const containerd = findExecutable('containerd', path);
  if (!dockerd || !containerd)
    throw new Error(`Docker Engine is not installed (no ${dockerd ? 'containerd' : 'dockerd'}): ${INSTALL_HINT}`);
  const client = options.client ?? findExecutable('docker', ['/usr/bin', path].join(delimiter));
  if (!client) throw new Error(`no docker client found: ${INSTALL_HINT}`);
  // Rootless dockerd needs rootlesskit and user namespaces set up; tests run as root here and in CI.
  if (process.getuid?.() !== 0) throw new Error('startDockerd() needs root: dockerd mounts and runs containerd');

  const dir = mkdtempSync(join(socketSafeTmpdir(), 'dockerd-'));
  const sockets = join(dir, 'containerd');
  const containerdSocket = join(sockets, 'containerd.sock');
  const host = `unix://${join(dir, 'docker.sock')}`;
  const env = clientEnv(host, dir);
  const daemonEnv: NodeJS.ProcessEnv = { ...process.env, PATH: path };

  // Our own containerd rather than the one dockerd would manage: dockerd 20.10 uses the system's
  // instead whenever /run/containerd/containerd.sock exists (other tests here may run one), and its
  // managed one creates /opt/containerd. A private config also keeps /etc/containerd/config.toml out.
  writeFileSync(
    join(dir, 'containerd.toml'),
    [
      'version = 2',
      `root = ${JSON.stringify(join(dir, 'containerd-root'))}`,
      `state = ${JSON.stringify(join(sockets, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(containerdSocket)}`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(dir, 'containerd-opt'))}`,
      '',
    ].join('\n'),
  );
  // A config file of our own, so /etc/docker/daemon.json (registry mirrors, proxies…) has no say:
  // empty unless the test asks for mirrors or insecure registries.
  writeFileSync(join(dir, 'daemon.json'), `${JSON.stringify(daemonConfig(options))}\n`);

  const children: ChildProcess[] = [];
  let stopped: Promise<void> | undefined;
  // Last resort when a test file never calls stop(): no daemon outlives the test process.
  const onExit = () => children.forEach((child) => killGroup(child, 'SIGKILL'));
  process.once('exit', onExit);
  const stop = () => {
    stopped ??= (async () => {
      process.removeListener('exit', onExit);
      // dockerd first: it shuts down cleanly (and unmounts its data root) only while containerd answers.
      for (const child of [...children].reverse()) await terminate(child, 20_000);
      killStragglers(dir);
      await unmountUnder(dir);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopped;
  };

  try {
    const started = Date.now();
    const timeoutMs = options.timeoutMs ?? 60_000;
    children.push(launch(containerd, ['--config', join(dir, 'containerd.toml')], dir, 'containerd.log', daemonEnv));
    await waitFor(() => existsSync(containerdSocket), children, dir, started + timeoutMs, 'containerd');
    children.push(
      launch(
        dockerd,
        [
          `--config-file=${join(dir, 'daemon.json')}`,
          `--data-root=${join(dir, 'data')}`,
          `--exec-root=${join(dir, 'exec')}`,
          `--pidfile=${join(dir, 'dockerd.pid')}`,
          `--host=${host}`,
          `--containerd=${containerdSocket}`,
          // vfs: plain directory copies, no overlay mounts, works on any filesystem (slow only for
          // many layers, which the tests do not push).
          '--storage-driver=vfs',
          // No networking of its own: the tests only push and pull over loopback, and the host's
          // iptables and forwarding settings are shared with everything else on the machine.
          '--bridge=none',
          '--iptables=false',
          '--ip6tables=false',
          '--ip-forward=false',
          '--ip-masq=false',
          '--userland-proxy=false',
        ],
        dir,
        'dockerd.log',
        daemonEnv,
      ),
    );
    const run = (...args: string[]) => runClient(client, args, env);
    await waitFor(
      () =>
        run('version', '--format', '{{.Server.Version}}').then(
          () => true,
          () => false,
        ),
      children,
      dir,
      started + timeoutMs,
      'dockerd',
    );
    return { host, client, env, containerdAddress: containerdSocket, docker: run, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function daemonConfig(options: DockerdOptions): Record<string, readonly string[]> {
  const config: Record<string, readonly string[]> = {};
  if (options.registryMirrors?.length) config['registry-mirrors'] = [...options.registryMirrors];
  if (options.insecureRegistries?.length) config['insecure-registries'] = [...options.insecureRegistries];
  return config;
}

function findExecutable(name: string, path: string): string | undefined {
  for (const directory of path.split(delimiter)) {
    const candidate = join(directory, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

// A unix socket path is at most 107 bytes, and containerd's longest one is
// <dir>/containerd/containerd.sock.ttrpc: a long TMPDIR would make the daemons fail to listen.
function socketSafeTmpdir(): string {
  const base = tmpdir();
  return base.length <= 50 ? base : '/tmp';
}

// The caller's DOCKER_* settings (a remote host, TLS, a context, a pinned API version) would point
// the client elsewhere; a private DOCKER_CONFIG keeps ~/.docker's credentials and contexts out.
function clientEnv(host: string, dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('DOCKER_')) env[key] = value;
  return { ...env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'client-config') };
}

function launch(command: string, args: string[], dir: string, logName: string, env: NodeJS.ProcessEnv): ChildProcess {
  const log = openSync(join(dir, logName), 'a');
  try {
    // Its own process group, so stop() can signal the daemon together with anything it forked.
    return spawn(command, args, { cwd: dir, env, detached: true, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
}

async function waitFor(
  ready: () => boolean | Promise<boolean>,
  children: ChildProcess[],
  dir: string,
  deadline: number,
  what: string,
): Promise<void> {
  for (;;) {
    const exited = children.find((child) => child.exitCode !== null || child.signalCode !== null);
    if (exited)
      throw new Error(
        `${exited.spawnfile} exited (${exited.exitCode ?? exited.signalCode}) during startup:\n${logTails(dir)}`,
      );
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not become ready in time:\n${logTails(dir)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function logTails(dir: string): string {
  return ['containerd.log', 'dockerd.log']
    .map((name) => {
      try {
        return `--- ${name}\n${readFileSync(join(dir, name), 'utf8').split('\n').slice(-20).join('\n')}`;
      } catch {
        return `--- ${name}: none`;
      }
    })
    .join('\n');
}

function runClient(
  client: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(client, args, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker ${args.join(' ')} failed (${err.code ?? err.signal}): ${stderr.trim()}`));
      else resolve({ stdout, stderr });
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    killGroup(child, 'SIGTERM');
  });
}

// Container shims deliberately outlive containerd in their own sessions; every process of ours
// names the private dir on its command line, so that finds them without touching anyone else's.
function killStragglers(dir: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`${dir}/`)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

// dockerd bind-mounts its data root onto itself (to make it private) and unmounts it on a clean
// shutdown only; after a SIGKILL the mount stays and would make the removal fail.
async function unmountUnder(dir: string): Promise<void> {
  const mountpoints = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountpoint): mountpoint is string => mountpoint !== undefined && mountpoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountpoint of mountpoints)
    await new Promise<void>((resolve) => execFile('umount', ['--lazy', mountpoint], () => resolve()));
}
