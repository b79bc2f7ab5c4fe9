import type { AwsClients } from '../../lambda/adapters/aws-clients';
import { REPOSITORY_ACTIONS } from '../../lambda/core/auth/access';
import { isValidName } from '../../lambda/core/names';
import type { TokenRecord, UserRecord } from '../../lambda/core/ports/accounts';
import { systemClock } from '../../lambda/core/ports/clock';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { LOCAL_CREDENTIALS } from '../local/emulators';
import { CliError, parseDays, parseHours, readLocalEndpoints, UsageError, type CliValues } from './cli-support';

/**
 * The admin CLI's commands (bin/admin.ts parses the command line and runs them): finding the
 * accounts table (local mode's or a deployed stack's), reading passwords, and printing records
 * without any secret or hash.
 */

export type AdminTarget =
  { readonly kind: 'local'; readonly dataDir: string } | { readonly kind: 'table'; readonly table: string };

export interface AdminSession {
  readonly admin: AccountAdmin;
  /** Where the commands go, for messages: `table X of the local registry http://…`. */
  readonly where: string;
  /** The registry's host, when known (local mode), for `docker login` hints. */
  readonly registryHost?: string;
  /** Turns the SDK's failures (no table, nothing listening) into a CliError naming the target. */
  explain(err: unknown): unknown;
  close(): void;
}

/** Opens the accounts table of local mode (from its endpoints file) or of a deployed stack. */
export async function openAdmin(target: AdminTarget): Promise<AdminSession> {
  // Loaded here so that --help and usage errors answer without loading the SDK.
  const [{ createAwsClients }, { DynamoDbAccounts }] = await Promise.all([
    import('../../lambda/adapters/aws-clients'),
    import('../../lambda/adapters/dynamodb/dynamodb-accounts'),
  ]);
  let clients: AwsClients;
  let table: string;
  let where: string;
  let registryHost: string | undefined;
  if (target.kind === 'local') {
    const endpoints = await readLocalEndpoints(target.dataDir);
    clients = createAwsClients({
      region: endpoints.region,
      credentials: LOCAL_CREDENTIALS,
      dynamodbEndpoint: endpoints.dynamodbEndpoint,
    });
    if (!endpoints.accountsTable) {
      throw new CliError(
        `the local registry ${endpoints.registryUrl} is open (no access control), so it has no users: start it with REGISTRY_AUTH_MODE=token (or basic) to manage users`,
      );
    }
    table = endpoints.accountsTable;
    where = `table ${table} of the local registry ${endpoints.registryUrl} (DynamoDB ${endpoints.dynamodbEndpoint})`;
    registryHost = URL.canParse(endpoints.registryUrl) ? new URL(endpoints.registryUrl).host : undefined;
  } else {
    clients = createAwsClients();
    table = target.table;
    where = `table ${table}`;
  }
  const admin = new AccountAdmin(new DynamoDbAccounts(clients.dynamodb, table), systemClock);
  return {
    admin,
    where,
    ...(registryHost ? { registryHost } : {}),
    explain: (err) => {
      const name = err instanceof Error ? err.name : '';
      const code = (err as { code?: unknown } | undefined)?.code;
      if (name === 'ResourceNotFoundException') {
        return new CliError(
          `${where} does not exist` +
            (target.kind === 'table' ? " (check --table, the stack's accounts table output, and the region)" : ''),
        );
      }
      if (target.kind === 'table' && /region is missing/i.test(String(err))) {
        return new CliError('no AWS region: set AWS_REGION (or a profile with a region)');
      }
      if (target.kind === 'local' && (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String(err)))) {
        return new CliError(`nothing answers for ${where}: start the registry with npm start first`);
      }
      return err;
    },
    close: () => {
      clients.dynamodb.destroy();
      clients.s3.destroy();
    },
  };
}

/** `pull,push` → the actions; `none` → no actions (the rule is removed). */
export function parseActions(text: string): string[] {
  if (text === 'none') return [];
  const actions = text.split(',').map((a) => a.trim());
  if (actions.some((a) => !(REPOSITORY_ACTIONS as readonly string[]).includes(a))) {
    throw new UsageError(
      `actions are a comma-separated list of ${REPOSITORY_ACTIONS.join(', ')}, or none; got "${text}"`,
    );
  }
  return actions;
}

const when = (ms: number) => new Date(ms).toISOString().slice(0, 16) + 'Z';

/** What `user list` shows: never the password hash. */
export function userView(user: UserRecord) {
  return {
    name: user.name,
    readOnly: user.readOnly,
    rules: user.rules.map((r) => ({ pattern: r.pattern, actions: [...r.actions] })),
    createdAt: new Date(user.createdAt).toISOString(),
  };
}

/** What `token list` and `token create` show: never the secret's hash. */
export function tokenView(token: TokenRecord) {
  return {
    id: token.id,
    user: token.user,
    description: token.description,
    readOnly: token.readOnly,
    createdAt: new Date(token.createdAt).toISOString(),
    expiresAt: token.expiresAt !== undefined ? new Date(token.expiresAt).toISOString() : null,
  };
}

export function userTable(users: readonly UserRecord[]): string {
  return table(
    ['NAME', 'READ-ONLY', 'CREATED', 'RULES'],
    users.map((u) => [
      u.name,
      u.readOnly ? 'yes' : 'no',
      when(u.createdAt),
      u.rules.map((r) => `${r.pattern}:${r.actions.join(',')}`).join(' ') || '(none)',
    ]),
  );
}

export function tokenTable(tokens: readonly TokenRecord[], now = Date.now()): string {
  return table(
    ['ID', 'READ-ONLY', 'CREATED', 'EXPIRES', 'DESCRIPTION'],
    [...tokens]
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((t) => [
        t.id,
        t.readOnly ? 'yes' : 'no',
        when(t.createdAt),
        t.expiresAt === undefined ? 'never' : `${when(t.expiresAt)}${t.expiresAt <= now ? ' (expired)' : ''}`,
        t.description,
      ]),
  );
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** All of stdin, less one trailing newline (as `docker login --password-stdin` reads it). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Asks for a password on the terminal, twice, without echo. */
export async function promptPassword(): Promise<string> {
  const first = await promptHidden('Password: ');
  const second = await promptHidden('Repeat password: ');
  if (first !== second) throw new CliError('the passwords do not match');
  return first;
}

function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((ok, fail) => {
    let value = '';
    const finish = (outcome: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      outcome();
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(() => ok(value));
        if (ch === '\u0003') return finish(() => fail(new CliError('interrupted')));
        value = ch === '\u007f' || ch === '\b' ? value.slice(0, -1) : value + ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** A command-line option, as `parseArgs` takes it, with its help. */
export interface CliOption {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  /** Shown after the flag in help: `<dir>`. */
  readonly value?: string;
  readonly short?: string;
}

export interface CliCommand {
  /** Positional arguments, all required: `<name>`. */
  readonly args: readonly string[];
  readonly summary: string;
  /** More help, shown by `<command> --help`. */
  readonly details?: string;
  readonly options: Record<string, CliOption>;
  /** Rejects bad values with a UsageError before anything is read or changed. */
  check?(args: string[], values: CliValues): void;
  run(session: AdminSession, args: string[], values: CliValues): Promise<void>;
  readonly storage?: false;
  readonly http?: false;
}

/**
 * A command on the registry's bucket and metadata table rather than its accounts (`uploads purge`):
 * it finds its own target (`--local`, or `--metadata-table` and `--bucket`) and opens no accounts table.
 */
export interface StorageCliCommand extends Omit<CliCommand, 'run' | 'storage'> {
  readonly storage: true;
  /** Its target besides `--local` in `--help`. @default '--metadata-table and --bucket above' */
  readonly targetHelp?: string;
  run(args: string[], values: CliValues): Promise<void>;
}

/**
 * A command on a registry's HTTP API (`smoke`): the registry's URL is its argument, so it opens no
 * table and needs no AWS credentials.
 */
export interface HttpCliCommand extends Omit<CliCommand, 'run' | 'http'> {
  readonly http: true;
  run(args: string[], values: CliValues): Promise<void>;
}

const JSON_OPTION: CliOption = { type: 'boolean', help: 'print JSON' };
const print = (value: unknown) => console.log(typeof value === 'string' ? value : JSON.stringify(value, null, 2));
const rules = (user: UserRecord) => user.rules.map((r) => `${r.pattern}:${r.actions.join(',')}`).join(' ');
const str = (value: string | boolean | undefined) => (typeof value === 'string' ? value : undefined);
const PASSWORD_SOURCES = ['password', 'password-stdin', 'no-password'];

/** The admin commands, by name (`user add`); bin/admin.ts parses the command line and runs one. */
export const COMMANDS: Record<string, CliCommand | StorageCliCommand | HttpCliCommand> = {
  'user add': {
    args: ['<name>'],
    summary: "add a user, or change a user's password and read-only flag",
    details:
      'The password is read from stdin with --password-stdin, else asked twice on the terminal. ' +
      "Changing a user's password keeps their rules and tokens; they sign in again.",
    options: {
      'password-stdin': { type: 'boolean', help: 'read the password from stdin (one trailing newline is dropped)' },
      password: { type: 'string', value: '<p>', help: "the password on the command line (unsafe: shells' history)" },
      'no-password': { type: 'boolean', help: 'no password: a robot that signs in with tokens only' },
      'read-only': { type: 'boolean', help: 'pull only, whatever the rules say' },
    },
    check(_args, values) {
      const given = PASSWORD_SOURCES.filter((o) => values[o] !== undefined);
      if (given.length > 1) throw new UsageError(`use only one of ${given.map((o) => `--${o}`).join(', ')}`);
      if (given.length === 0 && !process.stdin.isTTY) {
        throw new UsageError('no terminal to ask for the password on: use --password-stdin');
      }
    },
    async run(session, [name], values) {
      const password =
        str(values.password) ??
        (values['password-stdin'] ? await readStdin() : values['no-password'] ? undefined : await promptPassword());
      const user = await session.admin.addUser(name!, {
        ...(password !== undefined ? { password } : {}),
        readOnly: Boolean(values['read-only']),
      });
      print(
        `user ${user.name} saved${user.readOnly ? ' (read-only)' : ''}; ` +
          `rules: ${rules(user) || `none yet (add some with: grant ${user.name} <pattern> <actions>)`}`,
      );
    },
  },
  'user remove': {
    args: ['<name>'],
    summary: 'remove a user and all of their tokens',
    options: {},
    async run(session, [name]) {
      await session.admin.removeUser(name!);
      print(`user ${name} removed`);
    },
  },
  'user list': {
    args: [],
    summary: 'list the users: read-only flag, creation date, rules (pattern:actions)',
    options: { json: JSON_OPTION },
    async run(session, _args, values) {
      const users = await session.admin.listUsers();
      print(values.json ? users.map(userView) : userTable(users));
    },
  },
  grant: {
    args: ['<user>', '<pattern>', '<actions>'],
    summary: "set a user's actions on the repositories matching a pattern",
    details:
      'A pattern is a repository name in which * matches anything, / included (team/*, *). Actions are ' +
      "a comma-separated list of pull, push, delete; they replace the pattern's earlier rule, and none removes it.",
    options: {},
    check(args) {
      parseActions(args[2]!);
    },
    async run(session, [name, pattern, actions]) {
      const user = await session.admin.grant(name!, pattern!, parseActions(actions!));
      print(`${user.name}: ${rules(user) || 'no rules'}`);
    },
  },
  'token create': {
    args: ['<user>'],
    summary: 'create a robot token, the password for `docker login -u <user>`',
    details:
      'The secret goes to stdout alone (notes to stderr) and is shown only once: only its hash is kept. ' +
      'Revoking the token, or removing the user, ends it.',
    options: {
      description: { type: 'string', value: '<text>', help: 'what the token is for' },
      'read-only': { type: 'boolean', help: 'pull only, even if the user may push' },
      'expires-days': { type: 'string', value: '<n>', help: 'expire after n days (default: never)' },
      json: { type: 'boolean', help: 'print the token and its secret as JSON' },
    },
    check(_args, values) {
      if (values['expires-days'] !== undefined) parseDays(String(values['expires-days']));
    },
    async run(session, [name], values) {
      const days = str(values['expires-days']);
      const description = str(values.description);
      const { secret, record } = await session.admin.createToken(name!, {
        ...(description !== undefined ? { description } : {}),
        readOnly: Boolean(values['read-only']),
        ...(days !== undefined ? { expiresInDays: parseDays(days) } : {}),
      });
      if (values.json) return print({ ...tokenView(record), secret });
      console.error(`token ${record.id} for ${name}; this secret is shown only once, store it now:`);
      print(secret);
      console.error(`sign in with: docker login -u ${name} --password-stdin ${session.registryHost ?? '<registry>'}`);
    },
  },
  'token revoke': {
    args: ['<user>', '<id>'],
    summary: 'revoke a robot token (see token list for ids)',
    options: {},
    async run(session, [name, id]) {
      await session.admin.revokeToken(name!, id!);
      print(`token ${id} of ${name} revoked`);
    },
  },
  'token list': {
    args: ['<user>'],
    summary: "list a user's robot tokens (never their secrets)",
    options: { json: JSON_OPTION },
    async run(session, [name], values) {
      const tokens = await session.admin.listTokens(name!);
      print(values.json ? tokens.map(tokenView) : tokenTable(tokens));
    },
  },
  'uploads purge': {
    storage: true,
    args: [],
    summary: 'remove expired upload sessions with their staged chunks and multipart uploads',
    details:
      'What the scheduled upload sweeper does, now: sessions that expired (more than 15 minutes ago) are ' +
      'removed, each only if no request changed it meanwhile, and their bytes freed. Committed blobs are never ' +
      'touched. Target: --local, or a stack with --metadata-table and --bucket (default $REGISTRY_TABLE and ' +
      '$REGISTRY_BUCKET; region and credentials from the environment).',
    options: {
      'dry-run': { type: 'boolean', help: 'only count what would be removed' },
      'older-than': {
        type: 'string',
        value: '<hours>',
        help: 'also sessions opened more than <hours> ago, expired or not (uploads still in progress fail)',
      },
      'metadata-table': { type: 'string', value: '<table>', help: "a deployed stack's metadata table" },
      bucket: { type: 'string', value: '<bucket>', help: "a deployed stack's blob bucket" },
      json: { type: 'boolean', help: 'print the totals as JSON' },
    },
    check(_args, values) {
      if (values['older-than'] !== undefined) parseHours(String(values['older-than']));
    },
    async run(_args, values) {
      const { purgeUploads } = await import('./uploads-cli');
      await purgeUploads(values);
    },
  },
  gc: storageCommand({
    summary: 'collect garbage now: what no tag reaches, after the grace period (docs/garbage-collection.md)',
    details:
      'Online: pushes, pulls and deletes go on meanwhile, and any push that touches what the run would delete ' +
      'wins. --dry-run shows what would go and how many bytes, and lists the manifests the not-pulled rule ' +
      'would remove with the day each was last pulled.',
    options: {
      'dry-run': { type: 'boolean', help: 'only count what would be removed' },
      'grace-hours': { type: 'string', value: '<hours>', help: 'leave alone anything newer (default 24, at least 1)' },
    },
    run: async (values) => (await import('./lifecycle-cli')).runGc(values),
  }),
  du: storageCommand({
    summary: 'storage per repository (shared blobs count in each; EXCLUSIVE is what deleting it would free)',
    options: {},
    run: async (values) => (await import('./lifecycle-cli')).runDu(values),
  }),
  verify: storageCommand({
    summary: 're-hash stored blobs and report any whose bytes do not match their digest (exit 1 if any)',
    options: { sample: { type: 'string', value: '<n>', help: 'check a random sample of n blobs instead of all' } },
    run: async (values) => (await import('./lifecycle-cli')).runVerify(values),
  }),
  'policy show': storageCommand({
    summary: 'show the lifecycle rules stored by `policy set` (the stack adds its own)',
    options: {},
    run: async (values) => (await import('./lifecycle-cli')).runPolicy('show', values),
  }),
  'policy set': storageCommand({
    summary: 'store lifecycle rules: immutable tags, tag retention, untagged retention, not pulled for N days',
    details:
      'Rules are <repository pattern>:<tag pattern>, comma-separated; retention rules end in =<keep last>. ' +
      "Example: --immutable 'prod/*:v*' --retention 'ci/*:build-*=20' --untagged-days 14 --not-pulled-days 90. " +
      'Each option given replaces that list; the functions pick changes up within a minute.',
    options: {
      immutable: { type: 'string', value: '<rules>', help: 'tags that may be set once and never moved' },
      retention: { type: 'string', value: '<rules>', help: 'keep the newest N matching tags; older ones are untagged' },
      'untagged-days': { type: 'string', value: '<days|never>', help: 'how long untagged manifests are kept' },
      'not-pulled-days': {
        type: 'string',
        value: '<days|off>',
        help: 'remove manifests (and their tags) neither pulled nor pushed for this many days',
      },
    },
    run: async (values) => (await import('./lifecycle-cli')).runPolicy('set', values),
  }),
  'maintenance on': maintenanceCommand('on', 'maintenance (read-only) mode: pushes and deletes answer 503, pulls work'),
  'maintenance off': maintenanceCommand('off', 'back to read-write: pushes and deletes work again'),
  'maintenance status': maintenanceCommand('status', 'show whether maintenance (read-only) mode is on'),
  smoke: {
    http: true,
    args: ['<registry-url>'],
    summary: 'smoke-test a running registry through its HTTP API: push, pull, referrers, tags, delete',
    details:
      "Runs against the URL (a stack's RegistryUrl output, or http://localhost:5000) with plain HTTP requests: " +
      '/v2/ and its challenge, sign-in, a small image pushed by tag, a layer of about 10 MiB through each upload path ' +
      "(one streamed PATCH, 4 MiB chunks, the push helper's direct upload), HEADs with their Content-Length, " +
      'pulls by tag and digest through the blob redirect, a ranged read, referrers, tag list pages and deletes. ' +
      'Prints a table of the steps and stops at the first failure with the exchange that failed (exit 1). ' +
      'It removes what it pushed.',
    options: {
      user: { type: 'string', value: '<name>', help: 'sign in as this user when the registry asks for credentials' },
      'password-stdin': { type: 'boolean', help: "read the user's password or robot token from stdin" },
      repository: {
        type: 'string',
        value: '<name>',
        help: 'where to push (default smoke/<random suffix>); the user needs pull, push and delete on it',
      },
      json: { type: 'boolean', help: 'print the report as JSON' },
    },
    check([url], values) {
      const misplaced = ['local', 'table', 'data-dir'].find((o) => values[o] !== undefined);
      if (misplaced) throw new UsageError(`smoke tests the registry at <registry-url>; --${misplaced} does not apply`);
      if (!/^https?:\/\/[^/]/i.test(url!) || !URL.canParse(url!)) {
        throw new UsageError(`<registry-url> is http(s)://<host>[:<port>], got "${url}"`);
      }
      if ((values.user === undefined) !== (values['password-stdin'] === undefined)) {
        throw new UsageError('--user and --password-stdin go together');
      }
      const repository = str(values.repository);
      if (repository !== undefined && !isValidName(repository)) {
        throw new UsageError(`--repository takes a repository name (lowercase, a/b), got "${repository}"`);
      }
    },
    async run([url], values) {
      const password = values['password-stdin'] ? await readStdin() : undefined;
      const [{ runSmoke }, { formatFailure, formatTable }] = await Promise.all([
        import('../smoke/smoke'),
        import('../smoke/report'),
      ]);
      const user = str(values.user);
      const repository = str(values.repository);
      const report = await runSmoke({
        url: url!,
        ...(user !== undefined && password !== undefined ? { user, password } : {}),
        ...(repository !== undefined ? { repository } : {}),
      });
      print(values.json ? report : formatTable(report));
      if (!report.ok) {
        if (!values.json) console.error(`\n${formatFailure(report)}`);
        throw new CliError(`smoke test failed at "${report.failure?.step}": ${report.failure?.message}`);
      }
    },
  },
};

/**
 * `maintenance on|off|status`: the registry's mode, an item of the metadata table, so (like
 * `uploads purge`) it finds its own target: `--local`, or `--metadata-table` with a stack's
 * `MetadataTable` output.
 */
function maintenanceCommand(action: 'on' | 'off' | 'status', summary: string): StorageCliCommand {
  return {
    storage: true,
    args: [],
    summary,
    details:
      'The functions and the uploader read the mode at most once per 30 s, so a switch takes effect within ' +
      "30 s without a deployment. Target: --local (the local stack's metadata table; with npm run dev the file " +
      "maintenance-mode in the data directory), or a stack's metadata table with --metadata-table (default " +
      '$REGISTRY_TABLE; region and credentials from the environment; needs dynamodb:PutItem on it to switch, ' +
      'dynamodb:GetItem for status).',
    targetHelp: '--metadata-table above',
    options: {
      'metadata-table': {
        type: 'string',
        value: '<table>',
        help: "a deployed stack's metadata table (output MetadataTable)",
      },
      // Stacks deployed before the mode moved into the table output ModeParameter; say where it went.
      parameter: { type: 'string', value: '<name>', help: 'no longer used: the mode is in the metadata table' },
      ...(action === 'status' ? { json: JSON_OPTION } : {}),
    },
    check(_args, values) {
      checkModeTarget(values);
    },
    async run(_args, values) {
      const { runMaintenance } = await import('./maintenance-cli');
      await runMaintenance(action, values);
    },
  };
}

/** The target checks of `maintenance` commands, without loading them. */
function checkModeTarget(values: CliValues): void {
  const table = typeof values['metadata-table'] === 'string' ? values['metadata-table'] : undefined;
  if (values.parameter !== undefined) {
    throw new UsageError(
      "the registry's mode is an item of its metadata table now, not an SSM parameter: --metadata-table <the stack's MetadataTable output> (docs/operations.md)",
    );
  }
  if (values.table !== undefined) {
    throw new UsageError('--table names an accounts table; maintenance takes --local or --metadata-table <table>');
  }
  if (values.local && table) throw new UsageError('use either --local or --metadata-table, not both');
  if (values['data-dir'] !== undefined && !values.local) throw new UsageError('--data-dir goes with --local');
  if (!values.local && !table && !process.env.REGISTRY_TABLE) {
    throw new UsageError(
      "which registry? --local (local mode's data directory) or --metadata-table <the stack's MetadataTable output>",
    );
  }
}

/** A command on the registry's table and bucket (`gc`, `du`, `verify`, `policy`), targeted like `uploads purge`. */
function storageCommand(spec: {
  summary: string;
  details?: string;
  options: Record<string, CliOption>;
  run: (values: CliValues) => Promise<void>;
}): StorageCliCommand {
  return {
    storage: true,
    args: [],
    summary: spec.summary,
    details:
      `${spec.details ? `${spec.details} ` : ''}Target: --local, or a stack with --metadata-table and --bucket ` +
      '(default $REGISTRY_TABLE and $REGISTRY_BUCKET; region and credentials from the environment).',
    options: {
      ...spec.options,
      'metadata-table': { type: 'string', value: '<table>', help: "a deployed stack's metadata table" },
      bucket: { type: 'string', value: '<bucket>', help: "a deployed stack's blob bucket" },
      json: JSON_OPTION,
    },
    run: (_args, values) => spec.run(values),
  };
}
