import { generateKeyPairSync, sign } from 'node:crypto';
import { FileTokenKeys } from '../../lambda/adapters/keyfile/file-token-keys';
import { signJwt } from '../../lambda/core/auth/jwt';
import { systemClock } from '../../lambda/core/ports/clock';
import type { TokenKeys } from '../../lambda/core/ports/token-keys';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { RegistryClient, sha256 } from '../support/http-client';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const PASSWORD = 'correct horse battery';

interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

/** Token auth in local mode, attacked: each attempt is refused with the right status and changes nothing. */
describe('token auth (local mode, DynamoDB Local, the local signing key)', () => {
  let registry: TestRegistry;
  let anonymous: RegistryClient;
  let admin: AccountAdmin;
  let keys: TokenKeys;

  beforeAll(async () => {
    registry = await startTestRegistry({
      uploader: false,
      auth: { mode: 'token', anonymousPull: ['public/*'], maxFailures: 5 },
    });
    anonymous = new RegistryClient(registry.url);
    admin = new AccountAdmin(registry.accounts, systemClock);
    keys = await FileTokenKeys.open(registry.dataDir);
    await admin.addUser('alice', { password: PASSWORD });
    await admin.grant('alice', 'alice/*', ['pull', 'push', 'delete']);
    await admin.grant('alice', 'shared/*', ['pull']);
    await admin.addUser('bob', { password: PASSWORD });
    await admin.grant('bob', 'bob/*', ['pull', 'push']);
    await admin.grant('bob', 'public/*', ['pull', 'push']);
    await admin.addUser('reader', { password: PASSWORD, readOnly: true });
    await admin.grant('reader', '*', ['pull', 'push', 'delete']);
    await admin.addUser('locked', { password: PASSWORD });
    await admin.grant('locked', 'locked/*', ['pull', 'push']);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  async function token(user: string | undefined, scopes: string[], extra = ''): Promise<TokenResponse> {
    const query = new URLSearchParams({ service: 'registry' });
    for (const s of scopes) query.append('scope', s);
    const res = await fetch(`${registry.url}/token?${query.toString()}${extra}`, {
      headers: user ? { Authorization: basic(user, PASSWORD) } : {},
    });
    expect(res.status).toBe(200);
    return (await res.json()) as TokenResponse;
  }

  const as = (t: string) => new RegistryClient(registry.url, { Authorization: `Bearer ${t}` });

  async function expectRefused(res: Response, status: number, code: string): Promise<void> {
    const text = await res.text();
    expect({ status: res.status, text }).toMatchObject({ status });
    if (res.status !== 429 && text) expect(JSON.parse(text).errors[0].code).toBe(code);
  }

  test('no token: /v2/ answers 401 with an absolute Bearer realm and the service', async () => {
    const res = await anonymous.request('GET', '/v2/');
    await expectRefused(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${registry.url}/token",service="registry"`);
  });

  test('no token: a pull names the scope it needs in the challenge', async () => {
    const res = await anonymous.request('GET', '/v2/alice/app/manifests/latest');
    await expectRefused(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toContain('scope="repository:alice/app:pull"');
    const push = await anonymous.request('POST', '/v2/alice/app/blobs/uploads/');
    await expectRefused(push, 401, 'UNAUTHORIZED');
    expect(push.headers.get('www-authenticate')).toContain('scope="repository:alice/app:pull,push"');
  });

  test('the token service grants the intersection of what was asked and what the user may do', async () => {
    const t = await token('alice', [
      'repository:alice/app:pull,push',
      'repository:bob/app:pull,push',
      'registry:catalog:*',
    ]);
    expect(t.expires_in).toBeGreaterThanOrEqual(60);
    expect(t.access_token).toBe(t.token);
    expect(t.refresh_token).toBeUndefined();
    const claims = JSON.parse(Buffer.from(t.token.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ iss: 'registry-token-service', sub: 'alice', aud: 'registry' });
    expect(claims.access).toEqual([
      { type: 'repository', name: 'alice/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'bob/app', actions: [] },
      { type: 'registry', name: 'catalog', actions: [] },
    ]);
    const header = JSON.parse(Buffer.from(t.token.split('.')[0]!, 'base64url').toString());
    expect(header).toEqual({ typ: 'JWT', alg: 'ES256', kid: keys.signingKeyId() });
  });

  test('a push with a push token works, and the blob redirect carries no credentials', async () => {
    const t = await token('alice', ['repository:alice/app:pull,push']);
    const client = as(t.token);
    const { digest } = await client.pushImage('alice/app', 'v1');
    const blob = await client.pushBlob('alice/app', 'some bytes');
    const res = await client.request('GET', `/v2/alice/app/blobs/${blob}`);
    expect(res.status).toBe(307);
    const location = res.headers.get('location') ?? '';
    expect(location).not.toContain(t.token.split('.')[2]!);
    expect(location.toLowerCase()).not.toContain('authorization');
    expect((await client.request('GET', `/v2/alice/app/manifests/${digest}`)).status).toBe(200);
  });

  test('bad credentials at the token service: 401 with a Basic challenge', async () => {
    const res = await fetch(`${registry.url}/token?service=registry`, {
      headers: { Authorization: basic('alice', 'wrong') },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const unknown = await fetch(`${registry.url}/token?service=registry`, {
      headers: { Authorization: basic('nobody', 'x') },
    });
    expect(unknown.status).toBe(401);
  });

  test('a token with alg "none" is refused', async () => {
    const claims = await realClaims();
    const forged = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    await expectRefused(await as(forged).request('GET', '/v2/alice/app/manifests/v1'), 401, 'UNAUTHORIZED');
  });

  test('a token signed by another key (claiming the real kid) is refused', async () => {
    const claims = await realClaims();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const input = `${b64({ alg: 'ES256', typ: 'JWT', kid: keys.signingKeyId() })}.${b64(claims)}`;
    const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    const forged = `${input}.${sig.toString('base64url')}`;
    await expectRefused(await as(forged).request('GET', '/v2/alice/app/manifests/v1'), 401, 'UNAUTHORIZED');
    const otherKid = `${b64({ alg: 'ES256', typ: 'JWT', kid: 'someone-else' })}.${b64(claims)}`;
    const sig2 = sign('sha256', Buffer.from(otherKid), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    await expectRefused(
      await as(`${otherKid}.${sig2.toString('base64url')}`).request('GET', '/v2/alice/app/manifests/v1'),
      401,
      'UNAUTHORIZED',
    );
  });

  test('a token with a changed payload (escalated access) fails its signature', async () => {
    const t = await token('alice', ['repository:alice/app:pull']);
    const [h, , s] = t.token.split('.');
    const claims = JSON.parse(Buffer.from(t.token.split('.')[1]!, 'base64url').toString());
    claims.access = [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push', 'delete'] }];
    const res = await as(`${h}.${b64(claims)}.${s}`).request('DELETE', '/v2/alice/app/manifests/v1');
    await expectRefused(res, 401, 'UNAUTHORIZED');
  });

  test('an expired token and a token for another audience are refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const access = [{ type: 'repository', name: 'alice/app', actions: ['pull'] }];
    const base = { iss: 'registry-token-service', sub: 'alice', access };
    const expired = await signJwt(keys, { ...base, aud: 'registry', iat: now - 3600, nbf: now - 3600, exp: now - 600 });
    const res = await as(expired).request('GET', '/v2/alice/app/manifests/v1');
    await expectRefused(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const otherAud = await signJwt(keys, { ...base, aud: 'other-registry', iat: now, nbf: now, exp: now + 300 });
    await expectRefused(await as(otherAud).request('GET', '/v2/alice/app/manifests/v1'), 401, 'UNAUTHORIZED');
    const otherIss = await signJwt(keys, { ...base, iss: 'evil', aud: 'registry', iat: now, nbf: now, exp: now + 300 });
    await expectRefused(await as(otherIss).request('GET', '/v2/alice/app/manifests/v1'), 401, 'UNAUTHORIZED');
  });

  test('a refresh token is not an access token', async () => {
    const t = await token('alice', ['repository:alice/app:pull'], '&offline_token=true&client_id=test');
    expect(t.refresh_token).toBeDefined();
    await expectRefused(await as(t.refresh_token!).request('GET', '/v2/alice/app/manifests/v1'), 401, 'UNAUTHORIZED');
  });

  test('scope escalation: a pull token cannot push, and nothing is stored', async () => {
    const t = await token('alice', ['repository:alice/app:pull']);
    const body = 'escalated';
    const res = await as(t.token).request('POST', `/v2/alice/app/blobs/uploads/?digest=${sha256(body)}`, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    await expectRefused(res, 403, 'DENIED');
    expect((await as(t.token).request('HEAD', `/v2/alice/app/blobs/${sha256(body)}`)).status).toBe(404);
  });

  test('a token for repository A cannot push to repository B', async () => {
    const t = await token('bob', ['repository:bob/app:pull,push']);
    const res = await as(t.token).request('POST', '/v2/alice/app/blobs/uploads/');
    await expectRefused(res, 403, 'DENIED');
    const manifest = await as(t.token).request('PUT', '/v2/alice/app/manifests/evil', {
      body: '{}',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    await expectRefused(manifest, 403, 'DENIED');
  });

  test('a mount from a repository the user cannot read falls back to an upload and reveals nothing', async () => {
    const bob = as((await token('bob', ['repository:bob/secret:pull,push'])).token);
    const secret = await bob.pushBlob('bob/secret', 'bob only');
    const t = await token('alice', ['repository:alice/app:pull,push', 'repository:bob/secret:pull']);
    const res = await as(t.token).request('POST', `/v2/alice/app/blobs/uploads/?mount=${secret}&from=bob/secret`);
    expect(res.status).toBe(202);
    expect((await as(t.token).request('HEAD', `/v2/alice/app/blobs/${secret}`)).status).toBe(404);
    // With pull on the source, the same mount succeeds.
    const own = await as(t.token).pushBlob('alice/app', 'alice mounts this');
    const t2 = await token('alice', ['repository:alice/other:pull,push', 'repository:alice/app:pull']);
    const ok = await as(t2.token).request('POST', `/v2/alice/other/blobs/uploads/?mount=${own}&from=alice/app`);
    expect(ok.status).toBe(201);
  });

  test('a read-only user cannot delete, and the manifest stays', async () => {
    const t = await token('alice', ['repository:alice/keep:pull,push']);
    const { digest } = await as(t.token).pushImage('alice/keep', 'v1');
    const r = await token('reader', ['repository:alice/keep:pull,push,delete']);
    const claims = JSON.parse(Buffer.from(r.token.split('.')[1]!, 'base64url').toString());
    expect(claims.access).toEqual([{ type: 'repository', name: 'alice/keep', actions: ['pull'] }]);
    await expectRefused(await as(r.token).request('DELETE', `/v2/alice/keep/manifests/${digest}`), 403, 'DENIED');
    expect((await as(r.token).request('GET', `/v2/alice/keep/manifests/${digest}`)).status).toBe(200);
  });

  test('path tricks in names are granted nothing and never served', async () => {
    const names = ['alice/../bob/secret', 'alice%2F..%2Fbob%2Fsecret', 'alice/App', `alice/${'a'.repeat(300)}`];
    const t = await token(
      'alice',
      names.map((n) => `repository:${n}:pull,push`),
    );
    const claims = JSON.parse(Buffer.from(t.token.split('.')[1]!, 'base64url').toString());
    for (const entry of claims.access) expect(entry.actions).toEqual([]);
    for (const name of names) {
      const res = await as(t.token).request('GET', `/v2/${name}/manifests/latest`);
      expect([400, 403, 404]).toContain(res.status);
    }
  });

  test('a token too large for one KMS signature is refused with 400, not issued broken', async () => {
    const query = new URLSearchParams({ service: 'registry' });
    for (let i = 0; i < 40; i++) query.append('scope', `repository:alice/${'x'.repeat(60)}-${i}:pull,push`);
    const res = await fetch(`${registry.url}/token?${query.toString()}`, {
      headers: { Authorization: basic('alice', PASSWORD) },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_description: string }).error_description).toContain('4096');
  });

  test('anonymous pull on chosen patterns only', async () => {
    const bob = as((await token('bob', ['repository:public/app:pull,push'])).token);
    const { digest } = await bob.pushImage('public/app', 'v1');
    expect((await anonymous.request('GET', `/v2/public/app/manifests/${digest}`)).status).toBe(200);
    const anon = await token(undefined, ['repository:public/app:pull,push', 'repository:alice/app:pull']);
    const claims = JSON.parse(Buffer.from(anon.token.split('.')[1]!, 'base64url').toString());
    expect(claims.access).toEqual([
      { type: 'repository', name: 'public/app', actions: ['pull'] },
      { type: 'repository', name: 'alice/app', actions: [] },
    ]);
    await expectRefused(await anonymous.request('POST', '/v2/public/app/blobs/uploads/'), 401, 'UNAUTHORIZED');
    // An anonymous token that falls short is a prompt to sign in (401), as in the reference registry.
    const res = await as(anon.token).request('GET', '/v2/alice/app/manifests/v1');
    await expectRefused(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect((await as(anon.token).request('GET', '/v2/')).status).toBe(200);
  });

  test('the catalog needs registry:catalog:*, which only pull on "*" grants', async () => {
    const alice = await token('alice', ['registry:catalog:*']);
    await expectRefused(await as(alice.token).request('GET', '/v2/_catalog'), 403, 'DENIED');
    const reader = await token('reader', ['registry:catalog:*']);
    expect((await as(reader.token).request('GET', '/v2/_catalog')).status).toBe(200);
  });

  test('OAuth2 POST: password grant with a refresh token, refresh grant, and a password change ends the refresh token', async () => {
    const form = (fields: Record<string, string>) =>
      fetch(`${registry.url}/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      });
    const first = await form({
      grant_type: 'password',
      username: 'bob',
      password: PASSWORD,
      service: 'registry',
      client_id: 'containerd',
      access_type: 'offline',
      scope: 'repository:bob/app:pull repository:bob/app:push',
    });
    expect(first.status).toBe(200);
    const body = (await first.json()) as TokenResponse & { scope: string };
    expect(body.refresh_token).toBeDefined();
    expect(body.scope).toBe('repository:bob/app:pull,push');
    const refreshed = await form({
      grant_type: 'refresh_token',
      refresh_token: body.refresh_token!,
      service: 'registry',
      client_id: 'x',
      scope: 'repository:bob/app:pull',
    });
    expect(refreshed.status).toBe(200);
    const t = ((await refreshed.json()) as TokenResponse).access_token;
    expect((await as(t).request('GET', '/v2/bob/app/tags/list')).status).not.toBe(401);
    const bad = await form({
      grant_type: 'password',
      username: 'bob',
      password: 'nope',
      service: 'registry',
      client_id: 'x',
    });
    expect(bad.status).toBe(401);
    expect((await form({ grant_type: 'client_credentials' })).status).toBe(400);
    await new Promise((r) => setTimeout(r, 1100));
    await admin.addUser('bob', { password: `${PASSWORD}!` });
    const after = await form({
      grant_type: 'refresh_token',
      refresh_token: body.refresh_token!,
      service: 'registry',
      client_id: 'x',
    });
    expect(after.status).toBe(401);
    await admin.addUser('bob', { password: PASSWORD });
  });

  test('robot tokens sign in as their user, read-only when made so, and stop when revoked', async () => {
    const { secret, record } = await admin.createToken('alice', { description: 'ci', readOnly: true });
    const res = await fetch(`${registry.url}/token?service=registry&scope=repository:alice/app:pull,push`, {
      headers: { Authorization: basic('alice', secret) },
    });
    expect(res.status).toBe(200);
    const claims = JSON.parse(
      Buffer.from(((await res.json()) as TokenResponse).token.split('.')[1]!, 'base64url').toString(),
    );
    expect(claims.access).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull'] }]);
    await admin.revokeToken('alice', record.id);
    const revoked = await fetch(`${registry.url}/token?service=registry`, {
      headers: { Authorization: basic('alice', secret) },
    });
    expect(revoked.status).toBe(401);
  });

  test('brute force: repeated failures lock the user name with 429 and Retry-After; robot tokens still work', async () => {
    const { secret } = await admin.createToken('locked');
    const attempt = (password: string) =>
      fetch(`${registry.url}/token?service=registry`, { headers: { Authorization: basic('locked', password) } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await attempt(`guess-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
    const locked = await attempt(PASSWORD);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await attempt(secret)).status).toBe(200);
    expect(
      (await fetch(`${registry.url}/token?service=registry`, { headers: { Authorization: basic('alice', PASSWORD) } }))
        .status,
    ).toBe(200);
  });

  test('credential checks take as long for unknown users as for wrong passwords', async () => {
    const time = async (user: string) => {
      const start = process.hrtime.bigint();
      await fetch(`${registry.url}/token?service=registry`, {
        headers: { Authorization: basic(user, 'wrong-password') },
      });
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      await admin.addUser('timing', { password: PASSWORD }); // resets nothing but keeps the user present
      known.push(await time('timing'));
      unknown.push(await time(`ghost-${i}`));
    }
    // Both pay a full scrypt (tens of ms); an early return for unknown users would be ~1 ms.
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.4);
  });

  async function realClaims() {
    const t = await token('alice', ['repository:alice/app:pull,push,delete']);
    return JSON.parse(Buffer.from(t.token.split('.')[1]!, 'base64url').toString());
  }
});

describe('Basic auth (local mode)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false, auth: { mode: 'basic' } });
    const admin = new AccountAdmin(registry.accounts, systemClock);
    await admin.addUser('ci', { password: PASSWORD });
    await admin.grant('ci', 'ci/*', ['pull', 'push']);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('/v2/ answers 401 with a Basic challenge to anonymous callers and 200 with valid credentials', async () => {
    const res = await new RegistryClient(registry.url).request('GET', '/v2/');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
    expect(
      (await new RegistryClient(registry.url, { Authorization: basic('ci', PASSWORD) }).request('GET', '/v2/')).status,
    ).toBe(200);
    expect(
      (await new RegistryClient(registry.url, { Authorization: basic('ci', 'nope') }).request('GET', '/v2/')).status,
    ).toBe(401);
  });

  test('push and pull with Basic credentials; other repositories are denied', async () => {
    const ci = new RegistryClient(registry.url, { Authorization: basic('ci', PASSWORD) });
    const { digest } = await ci.pushImage('ci/app', 'v1');
    expect((await ci.request('GET', `/v2/ci/app/manifests/${digest}`)).status).toBe(200);
    expect((await ci.request('POST', '/v2/other/app/blobs/uploads/')).status).toBe(403);
    expect((await ci.request('DELETE', `/v2/ci/app/manifests/${digest}`)).status).toBe(403);
  });

  test('the token endpoint is not served in Basic mode', async () => {
    expect((await fetch(`${registry.url}/token`)).status).toBe(404);
  });
});
