import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../lambda/core/ports/clock';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { redactUrl } from '../../tools/smoke/http';
import { runSmoke, type SmokeReport } from '../../tools/smoke/smoke';
import { runAdminCli } from '../support/admin-cli';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';
import { inventory } from '../support/uploads';

const PASSWORD = 'a smoke test password';
const STEPS = [
  'GET /v2/',
  'login',
  'push image',
  'large layer: streamed PATCH',
  'large layer: chunked PATCHes',
  'large layer: direct upload',
  'blob HEAD',
  'manifest HEAD',
  'pull by tag',
  'pull by digest',
  'range read',
  'referrers',
  'tag list pages',
  'delete',
];

/** Every step ran and passed but `skipped`; the run left nothing in the registry. */
async function expectPassed(registry: TestStack, report: SmokeReport, skipped: string[]): Promise<void> {
  expect(report.failure).toBeUndefined();
  expect(report.ok).toBe(true);
  expect(report.steps.map((s) => s.step)).toEqual(STEPS);
  expect(report.steps.filter((s) => s.status === 'skipped').map((s) => s.step)).toEqual(skipped);
  await expectCleanedUp(registry, report.repository);
}

/** No manifest, tag, blob link or upload session of the run is left. */
async function expectCleanedUp(registry: TestStack, repository: string): Promise<void> {
  expect(await tagListStatus(registry, repository)).toBe(404);
  const left = await inventory(registry);
  expect({ sessions: left.sessions, multiparts: left.multiparts, staged: left.staged }).toEqual({
    sessions: [],
    multiparts: [],
    staged: [],
  });
}

/** `GET /v2/<repository>/tags/list` as the smoke user, signing in the way the registry asks. */
async function tagListStatus(registry: TestStack, repository: string): Promise<number> {
  const url = `${registry.url}/v2/${repository}/tags/list`;
  const first = await fetch(url);
  if (first.status !== 401) return first.status;
  const basic = `Basic ${Buffer.from(`smoker:${PASSWORD}`).toString('base64')}`;
  const challenge = first.headers.get('www-authenticate') ?? '';
  if (challenge.startsWith('Basic')) return (await fetch(url, { headers: { Authorization: basic } })).status;
  const realm = /realm="([^"]+)"/.exec(challenge)?.[1] ?? '';
  const service = /service="([^"]+)"/.exec(challenge)?.[1] ?? '';
  const grant = await fetch(`${realm}?service=${service}&scope=repository:${repository}:pull`, {
    headers: { Authorization: basic },
  });
  const { token } = (await grant.json()) as { token: string };
  return (await fetch(url, { headers: { Authorization: `Bearer ${token}` } })).status;
}

const stepOf = (report: SmokeReport, step: string) => report.steps.find((s) => s.step === step);

/**
 * The smoke test (`serverless-oci-registry smoke <url>`) against the synthesized stack: open, with token auth,
 * and without the upload data path, where the streamed PATCH is skipped and the other paths pass; and
 * against a proxy that zeroes the Content-Length of HEAD answers, as HTTP API may, where it must fail.
 */
describe('smoke test against local mode', () => {
  let open: TestStack;
  let token: TestStack;
  let functionsOnly: TestStack;
  let basic: TestStack;

  beforeAll(async () => {
    // One after the other: each configuration's first start synthesizes, and four at once would
    // share two cores.
    open = await startTestStack();
    token = await startTestStack({ auth: { mode: 'token' } });
    functionsOnly = await startTestStack({ uploader: false, auth: { mode: 'token' } });
    basic = await startTestStack({ auth: { mode: 'basic' } });
    for (const registry of [token, functionsOnly, basic]) {
      const admin = new AccountAdmin(registry.accounts, systemClock);
      await admin.addUser('smoker', { password: PASSWORD });
      await admin.grant('smoker', 'smoke/*', ['pull', 'push', 'delete']);
    }
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await Promise.all([open?.stop(), token?.stop(), functionsOnly?.stop(), basic?.stop()]);
  });

  test('open mode: every step passes and the repository is left empty', async () => {
    const report = await runSmoke({ url: open.url });
    await expectPassed(open, report, ['login']);
    expect(report.repository).toMatch(/^smoke\/[0-9a-f]{8}$/);
    expect(stepOf(report, 'GET /v2/')?.detail).toMatch(/^200/);
    expect(stepOf(report, 'large layer: streamed PATCH')?.detail).toMatch(/in one PATCH$/);
  }, 120_000);

  test('token mode with the upload data path: signs in with a token, every path passes', async () => {
    const report = await runSmoke({ url: token.url, user: 'smoker', password: PASSWORD });
    await expectPassed(token, report, []);
    expect(stepOf(report, 'GET /v2/')?.detail).toContain(`Bearer realm=${token.url}/token service=registry`);
    expect(stepOf(report, 'login')?.detail).toContain('token for smoker');
  }, 120_000);

  test('without the upload data path: the streamed PATCH is skipped, chunks and direct parts pass', async () => {
    const report = await runSmoke({ url: functionsOnly.url, user: 'smoker', password: PASSWORD });
    await expectPassed(functionsOnly, report, ['large layer: streamed PATCH']);
    expect(stepOf(report, 'large layer: streamed PATCH')?.detail).toMatch(/^no upload data path .*413 SIZE_INVALID/);
    expect(stepOf(report, 'large layer: chunked PATCHes')?.detail).toMatch(/in 3 PATCHes$/);
    expect(stepOf(report, 'large layer: direct upload')?.detail).toMatch(/in 3 parts to the blob store$/);
  }, 120_000);

  test('basic mode: Basic credentials on every request to the registry', async () => {
    const report = await runSmoke({ url: basic.url, user: 'smoker', password: PASSWORD });
    await expectPassed(basic, report, []);
    expect(stepOf(report, 'GET /v2/')?.detail).toBe('401, Basic');
    expect(stepOf(report, 'login')?.detail).toBe('Basic as smoker');
  }, 120_000);

  test('the CLI prints the table and exits 0, reading the password from stdin', async () => {
    const run = await runAdminCli(
      ['smoke', token.url, '--user', 'smoker', '--password-stdin', '--repository', 'smoke/cli'],
      { ...process.env },
      `${PASSWORD}\n`,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(`${token.url}, repository smoke/cli`);
    expect(lines[2]).toMatch(/^STEP +STATUS +MS +DETAIL$/);
    for (const step of STEPS) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${step} +ok +\\d+ `)));
    expect(run.stdout).toMatch(/all steps passed in \d+ ms \(0 skipped\)/);
    await expectCleanedUp(token, 'smoke/cli');
  }, 120_000);

  test('wrong or missing credentials fail the login step with the token service answer', async () => {
    const wrong = await runSmoke({ url: token.url, user: 'smoker', password: 'not the password' });
    expect(wrong.ok).toBe(false);
    expect(wrong.steps.map((s) => s.status)).toEqual(['ok', 'failed']);
    expect(wrong.failure).toMatchObject({ step: 'login', message: 'the token service answered 401' });
    expect(wrong.failure?.exchange?.url).toContain(`${token.url}/token?service=registry&scope=repository`);
    // The report shows that Basic credentials were sent, never which.
    expect(wrong.failure?.exchange?.requestHeaders).toEqual({ Authorization: 'Basic …' });
    expect(JSON.stringify(wrong)).not.toContain(Buffer.from('smoker:not the password').toString('base64'));
    const none = await runSmoke({ url: token.url });
    expect(none.failure).toMatchObject({ step: 'login', message: expect.stringContaining('asks for bearer') });
  });

  test('reports show presigned URLs without their signature and session token', () => {
    const url = 'http://127.0.0.1:9000/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Security-Token=t0k&X-Amz-Signature=5ig&x=1';
    expect(redactUrl(url)).toBe(
      'http://127.0.0.1:9000/b/k?X-Amz-Credential=redacted&X-Amz-Security-Token=redacted&X-Amz-Signature=redacted&x=1',
    );
  });

  describe('behind a proxy that answers HEAD with Content-Length: 0', () => {
    let proxy: Server;
    let proxyUrl: string;
    beforeAll(async () => {
      proxy = zeroingHeadLengths(open.url);
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

    test('smoke fails at the blob HEAD, with the exchange, and still cleans up', async () => {
      const report = await runSmoke({ url: proxyUrl, repository: 'smoke/zeroed' });
      expect(report.ok).toBe(false);
      expect(report.steps.map((s) => s.status)).toEqual(['ok', 'skipped', 'ok', 'ok', 'ok', 'ok', 'failed']);
      expect(report.failure?.step).toBe('blob HEAD');
      expect(report.failure?.message).toMatch(/answers Content-Length 0 for \d+ bytes/);
      expect(report.failure?.exchange).toMatchObject({ method: 'HEAD', status: 200 });
      expect(report.failure?.exchange?.responseHeaders?.['content-length']).toBe('0');
      expect(report.leftovers).toEqual([]);
      await expectCleanedUp(open, 'smoke/zeroed');
    }, 120_000);

    test('the CLI exits 1 and prints the request and response that failed', async () => {
      const run = await runAdminCli(['smoke', proxyUrl], { ...process.env });
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        /^blob HEAD +FAILED +\d+ +HEAD of the image config answers Content-Length 0 for \d+ bytes$/m,
      );
      expect(run.stdout).not.toMatch(/^manifest HEAD/m);
      expect(run.stderr).toMatch(
        new RegExp(`^> HEAD ${proxyUrl}/v2/smoke/[0-9a-f]{8}/blobs/sha256:[0-9a-f]{64}$`, 'm'),
      );
      expect(run.stderr).toMatch(/^< 200$/m);
      expect(run.stderr).toMatch(/^< content-length: 0$/m);
      expect(run.stderr).toMatch(/^< docker-content-digest: sha256:/m);
      expect(run.stderr).toMatch(/serverless-oci-registry: smoke test failed at "blob HEAD"/);
    }, 120_000);
  });
});

/** A reverse proxy to `target` that sets Content-Length: 0 on every HEAD answer (a bodiless answer losing it). */
function zeroingHeadLengths(target: string): Server {
  return createServer((req, res) => {
    const upstream = request(
      new URL(req.url ?? '/', target),
      { method: req.method, headers: req.headers },
      (answer) => {
        const headers = { ...answer.headers, ...(req.method === 'HEAD' ? { 'content-length': '0' } : {}) };
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(upstream);
  });
}
