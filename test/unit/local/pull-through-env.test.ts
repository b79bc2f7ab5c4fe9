import { pullThroughRuleProblem } from '../../../lambda/config/pull-through';
import {
  describePullThrough,
  localSecretArn,
  pullThroughContext,
  pullThroughFromEnv,
  pullThroughSecrets,
} from '../../../tools/local/stack/pull-through';

const ARNS = { region: 'us-east-1', account: '000000000000' };
const files = (contents: Record<string, string>) => (path: string) => {
  const text = contents[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
};

describe('npm start: pull-through rules from the environment', () => {
  test('no REGISTRY_PULL_THROUGH: no rules', () => {
    expect(pullThroughFromEnv({})).toBeUndefined();
    expect(pullThroughFromEnv({ REGISTRY_PULL_THROUGH: ' ' })).toBeUndefined();
  });

  test('prefix=upstream pairs, with credentials from the file and one tag TTL', () => {
    const rules = pullThroughFromEnv(
      {
        REGISTRY_PULL_THROUGH: 'hub=https://registry-1.docker.io/, ghcr=https://ghcr.io,local=http://127.0.0.1:5001',
        REGISTRY_PULL_THROUGH_CREDENTIALS: '/creds',
        REGISTRY_PULL_THROUGH_TAG_TTL: '600',
      },
      files({ '/creds': '# upstream accounts\n\nhub  alice   a pass with spaces  \r\nlocal bob s3cret\n' }),
    );
    expect(rules).toEqual([
      {
        prefix: 'hub',
        upstream: 'https://registry-1.docker.io',
        tagTtlSeconds: 600,
        credentials: { username: 'alice', password: 'a pass with spaces' },
      },
      { prefix: 'ghcr', upstream: 'https://ghcr.io', tagTtlSeconds: 600 },
      {
        prefix: 'local',
        upstream: 'http://127.0.0.1:5001',
        tagTtlSeconds: 600,
        credentials: { username: 'bob', password: 's3cret' },
      },
    ]);
  });

  test('the root mirror rule *', () => {
    expect(pullThroughFromEnv({ REGISTRY_PULL_THROUGH: '*=https://mirror.gcr.io' })).toEqual([
      { prefix: '*', upstream: 'https://mirror.gcr.io' },
    ]);
  });

  test.each([
    [{ REGISTRY_PULL_THROUGH: 'https://registry-1.docker.io' }, /^REGISTRY_PULL_THROUGH: expected prefix=upstream/],
    [{ REGISTRY_PULL_THROUGH: 'Hub=https://x.example' }, /^REGISTRY_PULL_THROUGH: prefix must be/],
    [{ REGISTRY_PULL_THROUGH: 'hub=ftp://x.example' }, /^REGISTRY_PULL_THROUGH: upstream must be/],
    [{ REGISTRY_PULL_THROUGH: 'hub=https://a.example,hub=https://b.example' }, /prefix hub has a rule already/],
    [{ REGISTRY_PULL_THROUGH: ',' }, /^REGISTRY_PULL_THROUGH: no rule/],
    [{ REGISTRY_PULL_THROUGH: 'hub=https://a.example', REGISTRY_PULL_THROUGH_TAG_TTL: '1h' }, /TAG_TTL must be whole/],
    [
      { REGISTRY_PULL_THROUGH: 'hub=https://a.example', REGISTRY_PULL_THROUGH_TAG_TTL: '2678401' },
      /TAG_TTL must be whole seconds from 0 to 2678400/,
    ],
    [{ REGISTRY_PULL_THROUGH_TAG_TTL: '60' }, /TAG_TTL is set but REGISTRY_PULL_THROUGH is not/],
    [{ REGISTRY_PULL_THROUGH_CREDENTIALS: '/creds' }, /CREDENTIALS is set but REGISTRY_PULL_THROUGH is not/],
    [
      { REGISTRY_PULL_THROUGH: 'hub=https://a.example', REGISTRY_PULL_THROUGH_CREDENTIALS: '/missing' },
      /^REGISTRY_PULL_THROUGH_CREDENTIALS: cannot read \/missing: ENOENT$/,
    ],
  ])('%j is refused in one line', (env, message) => {
    let error: unknown;
    try {
      pullThroughFromEnv(env, files({}));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  test.each([
    ['hub alice', /line 1: expected "<prefix> <username> <password>"/],
    ['# ok\nghcr alice secret-pw', /line 2: prefix ghcr has no rule in REGISTRY_PULL_THROUGH/],
    ['hub alice one\nhub bob two', /line 2: prefix hub has credentials already/],
  ])('a credentials file %j is refused, without its password', (text, message) => {
    const read = () =>
      pullThroughFromEnv(
        { REGISTRY_PULL_THROUGH: 'hub=https://a.example', REGISTRY_PULL_THROUGH_CREDENTIALS: '/creds' },
        files({ '/creds': text }),
      );
    expect(read).toThrow(message);
    expect(read).toThrow(/^REGISTRY_PULL_THROUGH_CREDENTIALS \/creds line \d+: /);
    try {
      read();
    } catch (err) {
      expect((err as Error).message).not.toMatch(/secret-pw|one|two/);
    }
  });

  test('the start-up lines name each rule and user, never a password', () => {
    const lines = describePullThrough([
      { prefix: 'hub', upstream: 'https://registry-1.docker.io', credentials: { username: 'alice', password: 'pw-1' } },
      { prefix: '*', upstream: 'https://mirror.gcr.io', tagTtlSeconds: 60, allow: ['library/*'] },
    ]);
    expect(lines).toEqual([
      'pull-through: hub/… -> https://registry-1.docker.io as alice',
      'pull-through: * (root mirror) -> https://mirror.gcr.io, anonymous, allow library/*, tag TTL 60 s',
    ]);
  });
});

describe('local pull-through secrets and the synth context', () => {
  const rules = [
    { prefix: 'hub', upstream: 'https://registry-1.docker.io', credentials: { username: 'alice', password: 'pw' } },
    { prefix: '*', upstream: 'https://mirror.gcr.io', credentials: { username: 'bob', password: 'pw2' } },
    { prefix: 'open', upstream: 'http://127.0.0.1:5001', tagTtlSeconds: 5, allow: ['library/*'] },
  ];

  test('each rule with credentials gets a deterministic full secret ARN; * gets a valid name', () => {
    const hub = localSecretArn('hub', ARNS);
    expect(hub).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:pull-through\/hub-[A-Za-z0-9]{6}$/);
    expect(localSecretArn('hub', ARNS)).toBe(hub);
    expect(localSecretArn('*', ARNS)).toMatch(/:secret:pull-through\/_root-[A-Za-z0-9]{6}$/);
    expect(localSecretArn('*', ARNS)).not.toBe(hub);
  });

  test('the context is what bin/registry.ts reads, with ARNs and no password; each rule passes the stack’s check', () => {
    const context = pullThroughContext(rules, ARNS);
    expect(context).not.toMatch(/pw|alice|bob/);
    const parsed = JSON.parse(context) as Record<string, unknown>[];
    expect(parsed).toEqual([
      { prefix: 'hub', upstream: 'https://registry-1.docker.io', credentialsSecretArn: localSecretArn('hub', ARNS) },
      { prefix: '*', upstream: 'https://mirror.gcr.io', credentialsSecretArn: localSecretArn('*', ARNS) },
      { prefix: 'open', upstream: 'http://127.0.0.1:5001', allow: ['library/*'], tagTtlSeconds: 5 },
    ]);
    for (const { credentialsSecretArn, ...rule } of parsed) {
      expect(pullThroughRuleProblem({ ...rule, credentialsSecret: credentialsSecretArn })).toBeUndefined();
    }
  });

  test('the stand-in is seeded with each secret as {"username","password"}', () => {
    expect([...pullThroughSecrets(rules, ARNS)]).toEqual([
      [localSecretArn('hub', ARNS), '{"username":"alice","password":"pw"}'],
      [localSecretArn('*', ARNS), '{"username":"bob","password":"pw2"}'],
    ]);
  });
});
