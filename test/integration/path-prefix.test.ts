import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { systemClock } from '../../lambda/core/ports/clock';
import { sha256 } from '../support/http-client';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';

/**
 * The synthesized stack served under a path prefix (`-c pathPrefix=/reg`), as behind a reverse
 * proxy that strips it: the paths it answers with (upload sessions, pushed blobs and manifests,
 * pagination) and the token realm carry the prefix, so a client that only follows what it is told
 * stays under it. (The conformance suite runs under a prefix too, without auth.)
 */
describe('a registry under a path prefix', () => {
  let stack: TestStack;
  const user = { name: 'prefixed', password: 'a long prefixed password' };
  beforeAll(async () => {
    stack = await startTestStack({ auth: { mode: 'token' }, pathPrefix: '/reg' });
    if (!stack.accounts) throw new Error('token mode has an accounts table');
    const admin = new AccountAdmin(stack.accounts, systemClock);
    await admin.addUser(user.name, { password: user.password });
    await admin.grant(user.name, 'team/*', ['pull', 'push']);
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await stack?.stop();
  });

  const origin = () => `http://${stack.host}`;

  test('the token realm carries the prefix, and a push and a pull follow only the paths given', async () => {
    expect(stack.url).toBe(`${origin()}/reg`);
    const challenge = await fetch(`${origin()}/reg/v2/`);
    expect(challenge.status).toBe(401);
    const realm = /realm="([^"]+)"/.exec(challenge.headers.get('www-authenticate') ?? '')?.[1];
    expect(realm).toBe(`${origin()}/reg/token`);

    const basic = Buffer.from(`${user.name}:${user.password}`).toString('base64');
    const issued = await fetch(`${realm}?service=registry&scope=repository:team/app:pull,push`, {
      headers: { Authorization: `Basic ${basic}` },
    });
    expect(issued.status).toBe(200);
    const { token } = (await issued.json()) as { token: string };
    const auth = { Authorization: `Bearer ${token}` };

    const started = await fetch(`${origin()}/reg/v2/team/app/blobs/uploads/`, { method: 'POST', headers: auth });
    expect(started.status).toBe(202);
    const session = started.headers.get('location') ?? '';
    expect(session).toMatch(/^\/reg\/v2\/team\/app\/blobs\/uploads\/[0-9a-f-]+$/);
    const blob = Buffer.from(`prefixed layer ${Math.random()}`);
    const digest = sha256(blob);
    const put = await fetch(`${origin()}${session}?digest=${digest}`, {
      method: 'PUT',
      body: blob,
      headers: { ...auth, 'Content-Type': 'application/octet-stream' },
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('location')).toBe(`/reg/v2/team/app/blobs/${digest}`);
    const pulled = await fetch(`${origin()}${put.headers.get('location')}`, { headers: auth, redirect: 'manual' });
    expect(pulled.status).toBe(307);
    const bytes = await fetch(pulled.headers.get('location') ?? '');
    expect(Buffer.from(await bytes.arrayBuffer()).equals(blob)).toBe(true);

    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: blob.length }],
    });
    await fetch(`${origin()}/reg/v2/team/app/blobs/uploads/?digest=${sha256('{}')}`, {
      method: 'POST',
      body: '{}',
      headers: { ...auth, 'Content-Type': 'application/octet-stream' },
    });
    for (const tag of ['a', 'b']) {
      const pushed = await fetch(`${origin()}/reg/v2/team/app/manifests/${tag}`, {
        method: 'PUT',
        body: manifest,
        headers: { ...auth, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(pushed.status).toBe(201);
      expect(pushed.headers.get('location')).toBe(`/reg/v2/team/app/manifests/${sha256(manifest)}`);
    }
    const page = await fetch(`${origin()}/reg/v2/team/app/tags/list?n=1`, { headers: auth });
    expect(page.status).toBe(200);
    expect(page.headers.get('link')).toMatch(/^<\/reg\/v2\/team\/app\/tags\/list\?/);
  });

  test('paths outside the prefix are not the registry; its root under the prefix is the metadata document', async () => {
    expect((await fetch(`${origin()}/v2/`)).status).toBe(404);
    const root = await fetch(`${origin()}/reg/`);
    expect(root.status).toBe(200);
    expect(((await root.json()) as { api: unknown }).api).toEqual({
      'oci-distribution': { url: 'v2/', version: 'v1.1' },
    });
  });
});
