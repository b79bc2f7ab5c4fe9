import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_REGION } from '../../tools/local/emulators';
import { LOCAL_ENDPOINTS_FILE, type LocalEndpoints } from '../../tools/local/endpoints-file';
import { operatorEnv, runAdminCli, type CliRun } from '../support/admin-cli';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const PASSWORD = 'correct horse battery';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const cli = (args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> =>
  runAdminCli(args, options.env ?? operatorEnv(), options.stdin);

/** Expects success and returns stdout. */
async function ok(args: string[], options?: { stdin?: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  const run = await cli(args, options);
  expect({ args, ...run }).toMatchObject({ code: 0 });
  return run.stdout;
}

describe('admin CLI (bin/admin.ts) on the accounts table of a token-mode registry', () => {
  let registry: TestRegistry;
  let table: string[];

  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false, auth: { mode: 'token' } });
    table = ['--table', registry.config.auth.accountsTable];
  });
  afterAll(async () => {
    await registry?.stop();
  });

  async function registryToken(user: string, secret: string, scope: string): Promise<Response> {
    const query = new URLSearchParams({ service: 'registry', scope });
    return fetch(`${registry.url}/token?${query.toString()}`, { headers: { Authorization: basic(user, secret) } });
  }

  async function access(res: Response): Promise<unknown> {
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).access;
  }

  test('--table: user add, grant, list, token create → the secret signs in; revoke and remove end it', async () => {
    const [added, unknown] = await Promise.all([
      ok(['user', 'add', 'alice', '--password-stdin', ...table], { stdin: `${PASSWORD}\n` }),
      cli(['grant', 'nobody', 'team/*', 'pull', ...table]),
    ]);
    expect(added).toContain('user alice saved');
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr.trim().split('\n')).toEqual([expect.stringContaining('no user "nobody"')]);

    expect(await ok(['grant', 'alice', 'team/*', 'pull,push', ...table])).toContain('team/*:pull,push');

    const [list, created, createdReadOnly] = await Promise.all([
      ok(['user', 'list', ...table]),
      cli(['token', 'create', 'alice', '--description', 'ci', '--expires-days', '30', ...table]),
      ok(['token', 'create', 'alice', '--read-only', '--json', ...table]),
    ]);
    const [header, row, ...more] = list.trim().split('\n');
    expect(header).toMatch(/^NAME\s+READ-ONLY\s+CREATED\s+RULES$/);
    expect(row).toMatch(/^alice\s+no\s+\d{4}-\d\d-\d\dT\d\d:\d\dZ\s+team\/\*:pull,push$/);
    expect(more).toEqual([]);
    expect(created.code).toBe(0);
    expect(created.stderr).toContain('shown only once');
    const id = /token ([0-9a-f]+) for alice/.exec(created.stderr)?.[1];
    const secret = created.stdout.trim();
    expect(secret).toMatch(new RegExp(`^rt_${id}_\\S+$`));
    const readOnly = JSON.parse(createdReadOnly) as Record<string, unknown> & { secret: string };
    expect(readOnly).toEqual({
      id: expect.any(String),
      user: 'alice',
      description: '',
      readOnly: true,
      createdAt: expect.any(String),
      expiresAt: null,
      secret: expect.stringMatching(/^rt_/),
    });

    // The secret is the password of `docker login -u alice`; so is the password read from stdin.
    const scope = 'repository:team/app:pull,push';
    const granted = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];
    const [byToken, byReadOnlyToken, byPassword, tokens] = await Promise.all([
      registryToken('alice', secret, scope).then(access),
      registryToken('alice', readOnly.secret, scope).then(access),
      registryToken('alice', PASSWORD, scope).then(access),
      ok(['token', 'list', 'alice', ...table]),
    ]);
    expect(byToken).toEqual(granted);
    expect(byReadOnlyToken).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    expect(byPassword).toEqual(granted);

    const lines = tokens.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+READ-ONLY\s+CREATED\s+EXPIRES\s+DESCRIPTION$/);
    expect(lines).toHaveLength(3);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${id}\\s+no\\s+\\S+\\s+\\d{4}-\\S+\\s+ci$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${readOnly.id}\\s+yes\\s+\\S+\\s+never$`)));
    for (const stored of await registry.accounts.listTokens('alice')) expect(tokens).not.toContain(stored.secretHash);
    expect(tokens).not.toContain(secret);

    expect(await ok(['token', 'revoke', 'alice', id!, ...table])).toContain('revoked');
    expect((await registryToken('alice', secret, scope)).status).toBe(401);
    expect((await registryToken('alice', readOnly.secret, scope)).status).toBe(200);

    expect(await ok(['user', 'remove', 'alice', ...table])).toContain('removed');
    expect((await registryToken('alice', readOnly.secret, scope)).status).toBe(401);
    expect(await registry.accounts.getUser('alice')).toBeUndefined();
  });

  test('usage errors exit 2 with a pointer to --help; --help exits 0', async () => {
    const runs = await Promise.all([
      cli([]),
      cli(['user', 'list']), // neither --local nor --table (nor REGISTRY_ACCOUNTS_TABLE)
      cli(['user', 'add', 'bob', ...table]), // no --password-stdin and no terminal
      cli(['grant', 'bob', 'team/*', 'pull,fly', ...table]),
      cli(['token', 'create', 'bob', '--bogus', ...table]),
      cli(['token', 'create', 'bob', '--help']),
    ]);
    const [none, missingTarget, noPassword, badActions, badOption, help] = runs;
    for (const run of [none, missingTarget, noPassword, badActions, badOption]) expect(run!.code).toBe(2);
    expect(none!.stderr).toContain('Usage: serverless-oci-registry <command>');
    expect(missingTarget!.stderr).toContain('--local');
    expect(noPassword!.stderr).toContain('--password-stdin');
    expect(badActions!.stderr).toContain('pull,fly');
    expect(badOption!.stderr).toContain("'--bogus'");
    expect(badOption!.stderr).toContain('token create --help');
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help!.stdout).toContain('Usage: serverless-oci-registry token create <user>');
    expect(help!.stdout).toContain('--expires-days <n>');
    expect(await registry.accounts.getUser('bob')).toBeUndefined();
  });

  test("maintenance on a stack's metadata table: on, status, off; a missing table is one line; --parameter points to the table", async () => {
    const target = ['--metadata-table', registry.config.table];
    expect(await ok(['maintenance', 'on', ...target])).toContain(
      `maintenance mode on (table ${registry.config.table})`,
    );
    expect(JSON.parse(await ok(['maintenance', 'status', '--json', ...target]))).toEqual({
      mode: 'read-only',
      maintenance: true,
      target: `table ${registry.config.table}`,
    });
    expect(await ok(['maintenance', 'off', ...target])).toContain('maintenance mode off');
    expect(await ok(['maintenance', 'status', ...target])).toContain('read-write: maintenance mode is off');
    const [missing, parameter] = await Promise.all([
      cli(['maintenance', 'status', '--metadata-table', `${registry.config.table}-typo`]),
      cli(['maintenance', 'on', '--parameter', '/registry/mode']),
    ]);
    expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining('does not exist') });
    expect(parameter).toMatchObject({ code: 2, stderr: expect.stringContaining('--metadata-table') });
  });

  test('--local --data-dir finds DynamoDB through local-endpoints.json; a missing file or table is one line', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'admin-cli-'));
    const empty = mkdtempSync(join(tmpdir(), 'admin-cli-'));
    const endpoints: LocalEndpoints = {
      registryUrl: registry.url,
      dynamodbEndpoint:
        process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT ??
        process.env.AWS_ENDPOINT_URL_DYNAMODB ??
        process.env.AWS_ENDPOINT_URL ??
        '',
      region: process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT ? LOCAL_REGION : (process.env.AWS_REGION ?? LOCAL_REGION),
      table: registry.config.table,
      accountsTable: registry.config.auth.accountsTable,
    };
    writeFileSync(join(dataDir, LOCAL_ENDPOINTS_FILE), JSON.stringify(endpoints));
    // No AWS settings at all: everything comes from the file.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    const local = ['--local', '--data-dir', dataDir];

    const [added, missing, noTable] = await Promise.all([
      ok(['user', 'add', 'carol', '--read-only', '--password-stdin', ...local], { stdin: PASSWORD, env }),
      cli(['user', 'list', '--local', '--data-dir', empty], { env }),
      cli(['user', 'list', '--table', 'no-such-table']),
    ]);
    expect(noTable.code).toBe(1);
    expect(noTable.stderr.trim()).toBe(
      'serverless-oci-registry: table no-such-table does not exist' +
        " (check --table, the stack's accounts table output, and the region)",
    );
    expect(added).toContain('user carol saved (read-only)');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('start the registry with npm start first');
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);

    const users = JSON.parse(await ok(['user', 'list', '--json', ...local], { env })) as { name: string }[];
    expect(users.find((u) => u.name === 'carol')).toMatchObject({ readOnly: true, rules: [] });
    expect((await registry.accounts.getUser('carol'))?.passwordHash).toMatch(/^scrypt\$/);
  });
});
