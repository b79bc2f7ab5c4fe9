import { execFile, type PromiseWithChild } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { systemClock } from '../../lambda/core/ports/clock';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import type { RequestRecord } from '../../tools/local/gateway';
import { ensureClients } from '../../tools/local/tools';
import { ContainersTools } from '../support/containers';
import { startDockerd, type Dockerd } from '../support/dockerd';
import { sha256 } from '../support/http-client';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';
import { OciLayoutBuilder, type Descriptor } from '../support/oci-layout';
import { requireTool, explain, type Output } from '../support/tools';

const run = promisify(execFile);
const KiB = 1024;
const PASSWORD = 'correct horse battery';
const WRONG = 'not the password';
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** Writes `input` to a promisified execFile's stdin (for `login --password-stdin`) and awaits it. */
function withStdin(pending: PromiseWithChild<Output>, input: string): Promise<Output> {
  pending.child.stdin?.end(`${input}\n`);
  return pending;
}

/**
 * Stock clients log in to local mode with access control on and push and pull through it: the
 * token flow (a Bearer challenge on /v2/, then GET /token with Basic credentials or the OAuth2 POST
 * form) and Basic mode. Every client keeps its credentials in this file's scratch dir (DOCKER_CONFIG,
 * REGISTRY_AUTH_FILE, REGCTL_CONFIG, oras --registry-config), never in the machine's own.
 */
describe('real clients log in to local mode with access control on', () => {
  let token: TestStack;
  let basic: TestStack;
  let admin: AccountAdmin;
  let go: ReturnType<typeof ensureClients>;
  let dockerdStarting: Promise<Dockerd>;
  // Lowercase on purpose: podman names images after their layout's path. Short, as podman refuses a
  // runroot longer than 50 characters.
  const work = join(tmpdir().length <= 20 ? tmpdir() : '/tmp', `ac-${process.pid}-${Date.now().toString(36)}`);
  const flows: { client: string; records: RequestRecord[]; ms: number }[] = [];
  const refusals: string[] = [];

  beforeAll(async () => {
    mkdirSync(work, { recursive: true });
    // Docker Engine starts while the registries come up; a test that needs it awaits it (and fails
    // with startDockerd's install hint when docker.io is missing, like the other tests).
    dockerdStarting = startDockerd();
    dockerdStarting.catch(() => {});
    go = ensureClients();
    [token, basic] = await Promise.all([
      startTestStack({ uploader: false, auth: { mode: 'token', anonymousPull: ['public/*'], maxFailures: 100 } }),
      startTestStack({ uploader: false, auth: { mode: 'basic' } }),
    ]);
    admin = new AccountAdmin(token.accounts, systemClock);
    await admin.addUser('alice', { password: PASSWORD });
    await admin.grant('alice', 'alice/*', ['pull', 'push']);
    await admin.grant('alice', 'public/*', ['pull', 'push']);
    await admin.addUser('viewer', { password: PASSWORD });
    await admin.grant('viewer', 'alice/*', ['pull']);
    await admin.addUser('carol', { password: PASSWORD });
    await admin.grant('carol', 'carol/*', ['pull', 'push']);
    const basicAdmin = new AccountAdmin(basic.accounts, systemClock);
    await basicAdmin.addUser('ci', { password: PASSWORD });
    await basicAdmin.grant('ci', 'ci/*', ['pull', 'push']);
  }, STACK_START_TIMEOUT_MS);

  afterAll(async () => {
    await dockerdStarting?.then(
      (d) => d.stop(),
      () => {},
    );
    await Promise.all([token?.stop(), basic?.stop()]);
    rmSync(work, { recursive: true, force: true });
    printFlows();
  });

  /** Expects a command to fail with `pattern` in what the client printed, and keeps that for the report. */
  async function refused(pending: Promise<Output>, pattern: RegExp): Promise<void> {
    const err = await pending.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const at = err!.message.indexOf(' failed: ');
    const [what, printed] = [err!.message.slice(0, at), err!.message.slice(at + ' failed: '.length)];
    expect(printed).toMatch(pattern);
    const line = printed.split('\n').filter(Boolean).pop()!;
    refusals.push(`  ${what}: ${line.length > 200 ? `${line.slice(0, 200)}…` : line}`);
  }

  /** Runs one client's commands and keeps the requests they made, for the table printed at the end. */
  async function flow<T>(client: string, registry: TestStack, fn: () => Promise<T>): Promise<T> {
    const from = registry.requests.length;
    const started = Date.now();
    try {
      return await fn();
    } finally {
      flows.push({ client, records: registry.requests.slice(from), ms: Date.now() - started });
    }
  }

  function printFlows(): void {
    const rows = [['client', 'GET /token', 'POST /token', '401 on /v2', 'requests', 'ms']];
    const merged = new Map<string, { records: RequestRecord[]; ms: number }>();
    for (const f of flows) {
      const m = merged.get(f.client) ?? { records: [], ms: 0 };
      m.records.push(...f.records);
      m.ms += f.ms;
      merged.set(f.client, m);
    }
    const count = (records: RequestRecord[], method: string) => {
      const hits = records.filter((r) => r.path === '/token' && r.method === method);
      const byStatus = new Map<number, number>();
      for (const r of hits) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
      const detail = [...byStatus].map(([s, n]) => `${n}×${s}`).join(' ');
      return hits.length ? `${hits.length} (${detail})` : '0';
    };
    for (const [client, { records, ms }] of merged) {
      const challenged = records.filter((r) => r.path.startsWith('/v2/') && r.status === 401).length;
      rows.push([
        client,
        count(records, 'GET'),
        count(records, 'POST'),
        String(challenged),
        String(records.length),
        String(ms),
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const lines = rows.map((r) => `  ${r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`);
    process.stdout.write(`\nRequests per client login flow (local mode with auth):\n${lines.join('\n')}\n`);
    process.stdout.write(`\nWhat the clients printed when refused:\n${refusals.join('\n')}\n`);
  }

  /** A small single-layer image in an OCI layout, tagged v1. */
  function smallImage(name: string): { layout: OciLayoutBuilder; image: Descriptor } {
    const layout = new OciLayoutBuilder(join(work, 'layouts', name));
    const image = layout.image([3 * KiB, 1 * KiB]);
    layout.tag(image, 'v1');
    return { layout, image };
  }

  /** skopeo and podman with their own storage, cache and auth file (REGISTRY_AUTH_FILE). */
  function containersAs(name: string): ContainersTools & { authFile: string } {
    const tools = new ContainersTools(join(work, 'c', name));
    mkdirSync(tools.work, { recursive: true });
    const authFile = join(tools.work, 'auth.json');
    // podman insists that REGISTRY_AUTH_FILE exists, even before a login.
    writeFileSync(authFile, '{"auths":{}}');
    tools.env.REGISTRY_AUTH_FILE = authFile;
    return Object.assign(tools, { authFile });
  }

  /** The digest the registry serves for `repo:reference`, asked as `user` (outside any client's flow). */
  async function storedDigest(registry: TestStack, repo: string, reference: string, user: string) {
    const credentials = `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}`;
    let authorization = credentials;
    if (registry === token) {
      const res = await fetch(`${registry.url}/token?service=registry&scope=repository:${repo}:pull`, {
        headers: { Authorization: credentials },
      });
      authorization = `Bearer ${((await res.json()) as { token: string }).token}`;
    }
    const head = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, {
      method: 'HEAD',
      headers: { Authorization: authorization, Accept: MANIFEST_TYPES },
    });
    expect(head.status).toBe(200);
    return head.headers.get('docker-content-digest');
  }

  // ---- docker (Docker Engine 20.10: the daemon's distribution client does the auth, not containerd)

  async function dockerClient() {
    const dockerd = await dockerdStarting;
    /** docker with a given client config dir (`--config`): one per identity. */
    const docker = (config: string, ...args: string[]) =>
      run(dockerd.client, ['--config', join(work, 'docker', config), ...args], {
        env: dockerd.env,
        maxBuffer: 1 << 24,
      });
    const login = (config: string, registry: TestStack, user: string, password: string) =>
      explain(
        `docker login as ${user}`,
        withStdin(docker(config, 'login', '--username', user, '--password-stdin', registry.host), password),
      );
    /** Loads a small image into the daemon under `ref` (skopeo writes the docker-archive). */
    const load = async (name: string, ref: string) => {
      const { layout } = smallImage(name);
      const archive = join(work, `${name}.tar`);
      await containersAs('archiver').skopeo('copy', `oci:${layout.dir}:v1`, `docker-archive:${archive}:${ref}`);
      await dockerd.docker('load', '-i', archive);
    };
    const pushedDigest = (stdout: string) => /digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
    return { dockerd, docker, login, load, pushedDigest };
  }

  /**
   * docker loads a small image, fails to log in with a wrong password, logs in, pushes, forgets the
   * image and pulls it back: the pushed digest is what the registry stores and the image id is kept.
   */
  async function dockerRoundTrip(o: {
    label: string;
    registry: TestStack;
    repository: string;
    user: string;
    wrongUser: string;
    /** The docker config directory's name (default: the user). */
    configName?: string;
  }) {
    const { dockerd, docker, login, load, pushedDigest } = await dockerClient();
    const config = o.configName ?? o.user;
    const ref = `${o.registry.host}/${o.repository}:v1`;
    await load(`${config}-docker`, ref);
    const imageId = (await dockerd.docker('inspect', '--format', '{{.Id}}', ref)).stdout.trim();
    const pushed = await flow(o.label, o.registry, async () => {
      await refused(login(`${config}-wrong`, o.registry, o.wrongUser, WRONG), /unauthorized|incorrect|401/i);
      await login(config, o.registry, o.user, PASSWORD);
      const push = await explain('docker push', docker(config, 'push', ref));
      await dockerd.docker('rmi', ref);
      await explain('docker pull', docker(config, 'pull', ref));
      return pushedDigest(push.stdout);
    });
    expect(pushed).toMatch(/^sha256:/);
    expect(await storedDigest(o.registry, o.repository, 'v1', o.user)).toBe(pushed);
    expect((await dockerd.docker('inspect', '--format', '{{.Id}}', ref)).stdout.trim()).toBe(imageId);
    return { dockerd, ref, pushed };
  }

  test('token mode, docker: login, push and pull; a wrong password fails the login', async () => {
    const { dockerd, ref, pushed } = await dockerRoundTrip({
      label: 'docker',
      registry: token,
      repository: 'alice/docker',
      user: 'alice',
      wrongUser: 'carol',
    });
    const repoDigests = (await dockerd.docker('inspect', '--format', '{{json .RepoDigests}}', ref)).stdout;
    expect(JSON.parse(repoDigests)).toContain(`${token.host}/alice/docker@${pushed}`);
    // What docker keeps: the identity (refresh) token the token service issued, not the password.
    const config = readFileSync(join(work, 'docker', 'alice', 'config.json'), 'utf8');
    expect(config).not.toContain(Buffer.from(`alice:${PASSWORD}`).toString('base64'));
    expect(JSON.parse(config).auths[token.host]).toHaveProperty('identitytoken');
  }, 60_000);

  test('token mode, docker: a user with pull only cannot push (denied)', async () => {
    const { docker, login, load } = await dockerClient();
    const ref = `${token.host}/alice/denied:v1`;
    await load('denied', ref);
    await flow('docker (pull only)', token, async () => {
      await login('viewer', token, 'viewer', PASSWORD);
      await refused(explain('docker push', docker('viewer', 'push', ref)), /denied/);
      // Pulling what alice pushed in the test above still works for this user.
      await explain('docker pull', docker('viewer', 'pull', `${token.host}/alice/docker:v1`));
    });
    expect(token.requests.some((r) => r.path === '/v2/alice/denied/manifests/v1' && r.status === 201)).toBe(false);
  }, 60_000);

  test('token mode, containerd (ctr): push and fetch with credentials; a wrong password fails', async () => {
    requireTool('ctr');
    const { dockerd } = await dockerClient();
    const { layout, image } = smallImage('ctr');
    const archive = join(work, 'ctr.tar');
    await run('tar', ['-cf', archive, '-C', layout.dir, '.']);
    const ref = `${token.host}/alice/ctr:v1`;
    const ctr = (...args: string[]) =>
      run('ctr', ['--address', dockerd.containerdAddress, '--namespace', 'auth-clients', ...args], {
        env: { ...process.env, HOME: join(work, 'ctr') },
      });
    await explain(
      'ctr import',
      ctr('images', 'import', '--no-unpack', '--base-name', `${token.host}/alice/ctr`, archive),
    );
    await flow('containerd (ctr)', token, async () => {
      const wrong = ctr('content', 'fetch', '--plain-http', '--user', `carol:${WRONG}`, `${token.host}/carol/none:v1`);
      await refused(explain('ctr content fetch', wrong), /unauthorized|401/i);
      await explain('ctr push', ctr('images', 'push', '--plain-http', '--user', `alice:${PASSWORD}`, ref));
      await explain('ctr rm', ctr('images', 'rm', '--sync', ref));
      await explain('ctr content fetch', ctr('content', 'fetch', '--plain-http', '--user', `alice:${PASSWORD}`, ref));
    });
    expect(await storedDigest(token, 'alice/ctr', 'v1', 'alice')).toBe(image.digest);
    const { stdout } = await ctr('images', 'list', '--quiet');
    expect(stdout).toContain(ref);
  }, 60_000);

  // ---- podman and skopeo (containers/image)

  test('token mode, podman: login, push and pull; a wrong password fails the login', async () => {
    requireTool('podman');
    const tools = containersAs('podman');
    const podman = (...args: string[]) => explain(`podman ${args[0]}`, tools.podman(...args));
    const { layout } = smallImage('podman');
    const ref = `${token.host}/alice/podman:v1`;
    const digestFile = join(tools.work, 'pushed.digest');
    await podman('pull', '--signature-policy', tools.policy, `oci:${layout.dir}:v1`);
    const { stdout: ids } = await podman('images', '--quiet', '--no-trunc', '--filter', 'dangling=false');
    const imageId = ids.trim().split('\n')[0]!;
    const login = (user: string, password: string, authFile: string) =>
      explain(
        `podman login as ${user}`,
        withStdin(
          tools.podman(
            'login',
            '--tls-verify=false',
            '--authfile',
            authFile,
            '--username',
            user,
            '--password-stdin',
            token.host,
          ),
          password,
        ),
      );
    await flow('podman', token, async () => {
      await refused(login('carol', WRONG, join(tools.work, 'wrong.json')), /unauthorized|invalid/i);
      await login('alice', PASSWORD, tools.authFile);
      await podmanPushPull(podman, tools, imageId, ref, digestFile);
    });
    const pushed = readFileSync(digestFile, 'utf8').trim();
    expect(await storedDigest(token, 'alice/podman', 'v1', 'alice')).toBe(pushed);
    const { stdout } = await podman('image', 'inspect', '--format', '{{.Digest}}', ref);
    expect(stdout.trim()).toBe(pushed);
    expect(readFileSync(tools.authFile, 'utf8')).toContain(token.host);
  }, 60_000);

  async function skopeoLogin(tools: ContainersTools, registry: TestStack, user: string, password: string) {
    return explain(
      `skopeo login as ${user}`,
      withStdin(
        tools.skopeo('login', '--tls-verify=false', '--username', user, '--password-stdin', registry.host),
        password,
      ),
    );
  }

  /** skopeo copies `layout` in as `repo:v1` and back out; both ends have the layout's manifest digest. */
  async function skopeoRoundTrip(tools: ContainersTools, registry: TestStack, repo: string, name: string) {
    const { layout, image } = smallImage(name);
    const ref = `docker://${registry.host}/${repo}:v1`;
    const back = join(tools.work, `${name}-back`);
    await explain('skopeo copy in', tools.skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, ref));
    const raw = await explain('skopeo inspect', tools.skopeo('inspect', '--raw', '--tls-verify=false', ref));
    await explain('skopeo copy out', tools.skopeo('copy', '--src-tls-verify=false', ref, `oci:${back}:v1`));
    expect(sha256(raw.stdout)).toBe(image.digest);
    expect(JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')).manifests[0].digest).toBe(image.digest);
    return image;
  }

  test('token mode, skopeo: login, copy in and out with identical digests; a wrong password fails the login', async () => {
    requireTool('skopeo');
    const tools = containersAs('skopeo');
    const image = await flow('skopeo', token, async () => {
      await refused(skopeoLogin(containersAs('skopeo-wrong'), token, 'carol', WRONG), /unauthorized|invalid/i);
      await skopeoLogin(tools, token, 'alice', PASSWORD);
      return skopeoRoundTrip(tools, token, 'alice/skopeo', 'skopeo');
    });
    expect(await storedDigest(token, 'alice/skopeo', 'v1', 'alice')).toBe(image.digest);
  }, 60_000);

  test('token mode, skopeo: a user with pull only cannot push, but can pull', async () => {
    requireTool('skopeo');
    const tools = containersAs('skopeo-viewer');
    const { layout } = smallImage('skopeo-viewer');
    await flow('skopeo (pull only)', token, async () => {
      await skopeoLogin(tools, token, 'viewer', PASSWORD);
      const push = tools.skopeo(
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout.dir}:v1`,
        `docker://${token.host}/alice/viewer:v1`,
      );
      await refused(explain('skopeo copy in', push), /denied/i);
      // What alice pushed in the test above.
      await explain(
        'skopeo inspect',
        tools.skopeo('inspect', '--raw', '--tls-verify=false', `docker://${token.host}/alice/skopeo:v1`),
      );
    });
  }, 60_000);

  test('token mode, skopeo: anonymous pull without login on an anonymousPull pattern only', async () => {
    requireTool('skopeo');
    const publisher = containersAs('publisher');
    await skopeoLogin(publisher, token, 'alice', PASSWORD);
    const { layout, image } = smallImage('public');
    const ref = `docker://${token.host}/public/app:v1`;
    await explain('skopeo copy in', publisher.skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, ref));
    const anonymous = containersAs('anonymous');
    const back = join(anonymous.work, 'public-back');
    await flow('skopeo (anonymous)', token, async () => {
      await explain('skopeo copy out', anonymous.skopeo('copy', '--src-tls-verify=false', ref, `oci:${back}:v1`));
      const denied = anonymous.skopeo(
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${token.host}/alice/skopeo:v1`,
      );
      // The anonymous token is valid but grants nothing here: 403 DENIED, which skopeo prints.
      await refused(explain('skopeo inspect', denied), /denied: requested access/);
    });
    expect(JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')).manifests[0].digest).toBe(image.digest);
  }, 60_000);

  test('token mode, skopeo: a robot token is the password of its user', async () => {
    requireTool('skopeo');
    const { secret } = await admin.createToken('alice', { description: 'auth-clients' });
    const tools = containersAs('robot');
    await flow('skopeo (robot token)', token, async () => {
      await skopeoLogin(tools, token, 'alice', secret);
      await skopeoRoundTrip(tools, token, 'alice/robot', 'robot');
    });
    expect(readFileSync(tools.authFile, 'utf8')).toContain(token.host);
  }, 60_000);

  // ---- the Go clients from .tools/bin

  test('token mode, crane: auth login, push and pull', async () => {
    const { layout, image } = smallImage('crane');
    const env = { ...process.env, HOME: join(work, 'crane'), DOCKER_CONFIG: join(work, 'crane', 'docker') };
    const crane = (...args: string[]) => run(go.crane, args, { env });
    const ref = `${token.host}/alice/crane:v1`;
    const back = join(work, 'crane-back');
    const pulled = await flow('crane', token, async () => {
      // crane auth login only writes the credentials; the registry first sees them on the push.
      await explain(
        'crane auth login',
        withStdin(crane('auth', 'login', token.host, '-u', 'alice', '--password-stdin'), PASSWORD),
      );
      await explain('crane push', crane('push', '--insecure', layout.dir, ref));
      await explain('crane pull', crane('pull', '--insecure', '--format', 'oci', ref, back));
      return (await explain('crane digest', crane('digest', '--insecure', ref))).stdout.trim();
    });
    expect(pulled).toBe(image.digest);
    expect(await storedDigest(token, 'alice/crane', 'v1', 'alice')).toBe(image.digest);
    expect(JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')).manifests[0].digest).toBe(image.digest);
  }, 60_000);

  test('token mode, oras: login, push and pull an artifact; a wrong password fails the login', async () => {
    const dir = join(work, 'oras');
    mkdirSync(dir, { recursive: true });
    const env = { ...process.env, HOME: dir, DOCKER_CONFIG: join(dir, 'docker') };
    const config = ['--registry-config', join(dir, 'auth.json')];
    const oras = (...args: string[]) => run(go.oras, args, { env, cwd: dir });
    const content = `artifact ${Date.now()}\n`;
    writeFileSync(join(dir, 'artifact.txt'), content);
    const ref = `${token.host}/alice/oras:v1`;
    const login = (user: string, password: string, file: string[]) =>
      explain(
        `oras login as ${user}`,
        withStdin(oras('login', '--plain-http', ...file, '-u', user, '--password-stdin', token.host), password),
      );
    const { pushed, resolved } = await flow('oras', token, async () => {
      await refused(login('carol', WRONG, ['--registry-config', join(dir, 'wrong.json')]), /unauthorized|401/i);
      await login('alice', PASSWORD, config);
      const push = await explain(
        'oras push',
        oras(
          'push',
          '--plain-http',
          ...config,
          ref,
          'artifact.txt:text/plain',
          '--artifact-type',
          'application/x.test',
        ),
      );
      await explain('oras pull', oras('pull', '--plain-http', ...config, ref, '-o', join(dir, 'out')));
      const resolve = await explain('oras resolve', oras('resolve', '--plain-http', ...config, ref));
      return { pushed: /Digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1], resolved: resolve.stdout.trim() };
    });
    expect(pushed).toMatch(/^sha256:/);
    expect(resolved).toBe(pushed);
    expect(await storedDigest(token, 'alice/oras', 'v1', 'alice')).toBe(pushed);
    expect(readFileSync(join(dir, 'out', 'artifact.txt'), 'utf8')).toBe(content);
  }, 60_000);

  test('token mode, regctl: registry login, push and pull; a wrong password fails the login', async () => {
    const { layout, image } = smallImage('regctl');
    const dir = join(work, 'regctl');
    const env = {
      ...process.env,
      HOME: dir,
      DOCKER_CONFIG: join(dir, 'docker'),
      REGCTL_CONFIG: join(dir, 'config.json'),
    };
    const wrongEnv = { ...env, REGCTL_CONFIG: join(dir, 'wrong.json') };
    const regctl = (args: string[], e: NodeJS.ProcessEnv = env) => run(go.regctl, args, { env: e });
    const ref = `${token.host}/alice/regctl:v1`;
    const back = join(dir, 'back');
    const login = (user: string, password: string, e: NodeJS.ProcessEnv) =>
      explain(
        `regctl registry login as ${user}`,
        withStdin(regctl(['registry', 'login', token.host, '-u', user, '--pass-stdin'], e), password),
      );
    const digest = await flow('regctl', token, async () => {
      for (const e of [env, wrongEnv]) await regctl(['registry', 'set', token.host, '--tls', 'disabled'], e);
      await refused(login('carol', WRONG, wrongEnv), /unauthorized|401/i);
      await login('alice', PASSWORD, env);
      await explain('regctl image copy in', regctl(['image', 'copy', `ocidir://${layout.dir}:v1`, ref]));
      await explain('regctl image copy out', regctl(['image', 'copy', ref, `ocidir://${back}:v1`]));
      return (await explain('regctl image digest', regctl(['image', 'digest', ref]))).stdout.trim();
    });
    expect(digest).toBe(image.digest);
    expect(await storedDigest(token, 'alice/regctl', 'v1', 'alice')).toBe(image.digest);
    expect(JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')).manifests[0].digest).toBe(image.digest);
  }, 60_000);

  // ---- Basic mode: no token service, credentials on every request

  test('basic mode, docker: login, push and pull', async () => {
    await dockerRoundTrip({
      label: 'docker (basic mode)',
      registry: basic,
      repository: 'ci/docker',
      user: 'ci',
      wrongUser: 'ci',
      configName: 'basic',
    });
  }, 60_000);

  test('basic mode, podman: login, push and pull', async () => {
    requireTool('podman');
    const tools = containersAs('podman-basic');
    const podman = (...args: string[]) => explain(`podman ${args[0]}`, tools.podman(...args));
    const { layout } = smallImage('podman-basic');
    const ref = `${basic.host}/ci/podman:v1`;
    const digestFile = join(tools.work, 'pushed.digest');
    await podman('pull', '--signature-policy', tools.policy, `oci:${layout.dir}:v1`);
    const imageId = (await podman('images', '--quiet', '--no-trunc')).stdout.trim().split('\n')[0]!;
    await flow('podman (basic mode)', basic, async () => {
      const login = (user: string, password: string, authFile: string) =>
        explain(
          `podman login as ${user}`,
          withStdin(
            tools.podman(
              'login',
              '--tls-verify=false',
              '--authfile',
              authFile,
              '-u',
              user,
              '--password-stdin',
              basic.host,
            ),
            password,
          ),
        );
      await refused(login('ci', WRONG, join(tools.work, 'wrong.json')), /unauthorized|invalid/i);
      await login('ci', PASSWORD, tools.authFile);
      await podmanPushPull(podman, tools, imageId, ref, digestFile);
    });
    const pushed = readFileSync(digestFile, 'utf8').trim();
    expect(await storedDigest(basic, 'ci/podman', 'v1', 'ci')).toBe(pushed);
    expect((await podman('image', 'inspect', '--format', '{{.Digest}}', ref)).stdout.trim()).toBe(pushed);
  }, 60_000);
});

/** podman pushes an image (writing the pushed digest to `digestFile`), forgets it and pulls it back. */
async function podmanPushPull(
  podman: (...args: string[]) => Promise<unknown>,
  tools: ContainersTools,
  imageId: string,
  ref: string,
  digestFile: string,
): Promise<void> {
  const policy = ['--signature-policy', tools.policy, '--tls-verify=false'];
  await podman('push', ...policy, '--digestfile', digestFile, imageId, ref);
  await podman('rmi', '--all', '--force');
  await podman('pull', ...policy, ref);
}
