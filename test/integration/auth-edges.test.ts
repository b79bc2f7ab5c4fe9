import { FileTokenKeys } from '../../lambda/adapters/keyfile/file-token-keys';
import { signJwt } from '../../lambda/core/auth/jwt';
import { systemClock } from '../../lambda/core/ports/clock';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { RegistryClient } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const PASSWORD = 'correct horse battery';
/** Over DynamoDB's 2,048-byte partition key limit once it is part of a key. */
const LONG_NAME = 'u'.repeat(2100);

async function expectUnauthorized(res: Response, challenge: RegExp): Promise<void> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status: 401 });
  expect((JSON.parse(text) as { errors: { code: string }[] }).errors[0]?.code).toBe('UNAUTHORIZED');
  expect(res.headers.get('www-authenticate')).toMatch(challenge);
}

/**
 * Credentials no account can have (an empty or over-long user name) and tokens no clock can have
 * issued: bad credentials, answered 401 with the challenge like a wrong password, never a 500.
 */
describe('token auth edges (local mode)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false, auth: { mode: 'token', anonymousPull: ['public/*'] } });
    const admin = new AccountAdmin(registry.accounts, systemClock);
    await admin.addUser('alice', { password: PASSWORD });
    await admin.grant('alice', 'alice/*', ['pull', 'push']);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const postToken = (form: Record<string, string>) =>
    fetch(`${registry.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });

  test('a method the token service does not serve is 405 with Allow and an OCI error body', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${registry.url}/token`, { method });
      const text = await res.text();
      expect({ method, status: res.status, allow: res.headers.get('allow') }).toEqual({
        method,
        status: 405,
        allow: 'GET, POST',
      });
      expect((JSON.parse(text) as { errors: { code: string }[] }).errors[0]?.code).toBe('UNSUPPORTED');
    }
  });

  test('an over-long user name at the token service is bad credentials: 401 with a Basic challenge', async () => {
    const res = await fetch(`${registry.url}/token?service=registry&scope=repository:alice/app:pull`, {
      headers: { Authorization: basic(LONG_NAME, PASSWORD) },
    });
    await expectUnauthorized(res, /^Basic realm=/);
    const robotShaped = await fetch(`${registry.url}/token?service=registry`, {
      headers: { Authorization: basic(LONG_NAME, `rt_${'0'.repeat(24)}_${'A'.repeat(43)}`) },
    });
    await expectUnauthorized(robotShaped, /^Basic realm=/);
  });

  test('an over-long or empty user name in the OAuth2 password grant is bad credentials too', async () => {
    for (const username of [LONG_NAME, '']) {
      const res = await postToken({ grant_type: 'password', service: 'registry', username, password: PASSWORD });
      await expectUnauthorized(res, /^Basic realm=/);
    }
    const ok = await postToken({ grant_type: 'password', service: 'registry', username: 'alice', password: PASSWORD });
    expect(ok.status).toBe(200);
  });

  test('a name no account can have costs the same decoy scrypt as an unknown user', async () => {
    const time = async (user: string) => {
      const start = process.hrtime.bigint();
      await fetch(`${registry.url}/token?service=registry`, { headers: { Authorization: basic(user, 'wrong') } });
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const unknown: number[] = [];
    const impossible: number[] = [];
    for (let i = 0; i < 3; i++) {
      unknown.push(await time(`ghost-${i}`));
      impossible.push(await time(`${LONG_NAME}${i}`));
    }
    // Both pay a full scrypt (tens of ms); an early return would be about 1 ms.
    expect(median(impossible)).toBeGreaterThan(median(unknown) * 0.4);
  });

  test('the admin commands treat a name or token id no account can have as unknown, without a lookup', async () => {
    const admin = new AccountAdmin(registry.accounts, systemClock);
    await expect(admin.removeUser(LONG_NAME)).rejects.toThrow(`no user "${LONG_NAME}"`);
    await expect(admin.grant(LONG_NAME, 'x/*', ['pull'])).rejects.toThrow('no user');
    await expect(admin.revokeToken('alice', 'f'.repeat(1100))).rejects.toThrow('has no token');
    await expect(admin.revokeToken(LONG_NAME, 'f'.repeat(24))).rejects.toThrow('has no token');
    await expect(admin.listTokens(LONG_NAME)).resolves.toEqual([]);
  });

  test('a token issued in the future beyond the clock skew is refused with the challenge', async () => {
    const keys = await FileTokenKeys.open(registry.dataDir);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: 'registry-token-service',
      sub: 'alice',
      aud: 'registry',
      access: [{ type: 'repository', name: 'alice/app', actions: ['pull'] }],
    };
    const future = await signJwt(keys, { ...claims, iat: now + 600, nbf: now, exp: now + 900 });
    const client = (token: string) => new RegistryClient(registry.url, { Authorization: `Bearer ${token}` });
    const res = await client(future).request('GET', '/v2/alice/app/tags/list');
    await expectUnauthorized(res, /^Bearer realm=.*error="invalid_token"/);
    // Within the skew the token stands: the repository is simply unknown.
    const skewed = await signJwt(keys, { ...claims, iat: now + 10, nbf: now, exp: now + 300 });
    expect((await client(skewed).request('GET', '/v2/alice/app/tags/list')).status).toBe(404);
  });
});

describe('Basic auth edges (local mode)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false, auth: { mode: 'basic', anonymousPull: ['public/*'] } });
    const admin = new AccountAdmin(registry.accounts, systemClock);
    await admin.addUser('ci', { password: PASSWORD });
    await admin.grant('ci', 'ci/*', ['pull', 'push']);
    await admin.grant('ci', 'public/*', ['pull', 'push']);
    await new RegistryClient(registry.url, { Authorization: basic('ci', PASSWORD) }).pushImage('public/app', 'v1');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('an over-long user name is bad credentials on every endpoint, anonymously readable ones included', async () => {
    const long = new RegistryClient(registry.url, { Authorization: basic(LONG_NAME, PASSWORD) });
    for (const [method, path] of [
      ['GET', '/v2/'],
      ['GET', '/v2/ci/app/tags/list'],
      ['POST', '/v2/ci/app/blobs/uploads/'],
      ['GET', '/v2/public/app/tags/list'],
      ['GET', '/v2/public/app/manifests/v1'],
    ] as const) {
      const res = await long.request(method, path);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 401 });
      await expectUnauthorized(res, /^Basic realm=/);
    }
    // Without the header the same repository is readable anonymously.
    expect((await new RegistryClient(registry.url).request('GET', '/v2/public/app/manifests/v1')).status).toBe(200);
  });

  test('a wrong password on an anonymously readable repository is answered the same way', async () => {
    const wrong = new RegistryClient(registry.url, { Authorization: basic('ci', 'not the password') });
    await expectUnauthorized(await wrong.request('GET', '/v2/public/app/manifests/v1'), /^Basic realm=/);
  });
});
