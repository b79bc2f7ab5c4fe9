import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pullThroughRuleProblem } from '../../../lambda/config/pull-through';

/**
 * A pull-through cache in local mode (docs/pull-through-cache.md): the rules `npm start` reads from
 * its environment, the synth context that gives them to the stack (`-c pullThroughCache`, as a
 * deployment would be given them), and the Secrets Manager secrets the stand-in holds for their
 * credentials. The template names each secret by a local ARN; its value never enters the context,
 * the template or the disk.
 */
export interface LocalPullThroughRule {
  readonly prefix: string;
  readonly upstream: string;
  readonly allow?: readonly string[];
  readonly tagTtlSeconds?: number;
  /** Upstream credentials; the stand-in holds them as the rule's secret. */
  readonly credentials?: { readonly username: string; readonly password: string };
}

/** Where local ARNs point. */
export interface LocalArns {
  readonly region: string;
  readonly account: string;
}

/**
 * The ARN of a rule's credentials secret in local mode:
 * `arn:aws:secretsmanager:<region>:<account>:secret:pull-through/<prefix>-<6 characters>`, the six
 * characters derived from the name as Secrets Manager appends six of its own. The `*` rule's secret
 * is `pull-through/_root` (no rule's prefix starts with `_`). It does not depend on the stack's name
 * prefix: secrets live in each local stack's own stand-in, so stacks cannot collide, and test stacks
 * with names of their own share one synthesized assembly.
 */
export function localSecretArn(prefix: string, arns: LocalArns): string {
  const name = `pull-through/${prefix === '*' ? '_root' : prefix}`;
  const suffix = createHash('sha256')
    .update(name)
    .digest('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 6);
  return `arn:aws:secretsmanager:${arns.region}:${arns.account}:secret:${name}-${suffix}`;
}

/** The synth context's `pullThroughCache`: the rules as bin/registry.ts reads them, secrets by ARN. */
export function pullThroughContext(rules: readonly LocalPullThroughRule[], arns: LocalArns): string {
  return JSON.stringify(
    rules.map((rule) => ({
      prefix: rule.prefix,
      upstream: rule.upstream,
      ...(rule.allow ? { allow: rule.allow } : {}),
      ...(rule.tagTtlSeconds !== undefined ? { tagTtlSeconds: rule.tagTtlSeconds } : {}),
      ...(rule.credentials ? { credentialsSecretArn: localSecretArn(rule.prefix, arns) } : {}),
    })),
  );
}

/** The secrets the stand-in holds before the functions start: ARN → `SecretString`. */
export function pullThroughSecrets(rules: readonly LocalPullThroughRule[], arns: LocalArns): Map<string, string> {
  return new Map(
    rules.flatMap((rule) =>
      rule.credentials
        ? [
            [
              localSecretArn(rule.prefix, arns),
              JSON.stringify({ username: rule.credentials.username, password: rule.credentials.password }),
            ] as const,
          ]
        : [],
    ),
  );
}

/** The variables `npm start` reads. */
export const PULL_THROUGH_ENV = {
  rules: 'REGISTRY_PULL_THROUGH',
  credentials: 'REGISTRY_PULL_THROUGH_CREDENTIALS',
  tagTtl: 'REGISTRY_PULL_THROUGH_TAG_TTL',
} as const;

/**
 * The rules from `npm start`'s environment, or undefined without `REGISTRY_PULL_THROUGH`:
 * - `REGISTRY_PULL_THROUGH=hub=https://registry-1.docker.io[,prefix=url…]`;
 * - `REGISTRY_PULL_THROUGH_CREDENTIALS=<file>`, lines `<prefix> <username> <password>` (the
 *   password is the rest of the line; blank lines and `#` lines are skipped), each for a rule;
 * - `REGISTRY_PULL_THROUGH_TAG_TTL=<seconds>` for every rule.
 * A malformed value throws an Error whose message is one line naming the variable (never a password).
 */
export function pullThroughFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): LocalPullThroughRule[] | undefined {
  const raw = env[PULL_THROUGH_ENV.rules]?.trim();
  if (!raw) {
    for (const name of [PULL_THROUGH_ENV.credentials, PULL_THROUGH_ENV.tagTtl]) {
      if (env[name]?.trim())
        throw new Error(`${name} is set but ${PULL_THROUGH_ENV.rules} is not: no rule to apply it to`);
    }
    return undefined;
  }
  const tagTtlSeconds = tagTtl(env[PULL_THROUGH_ENV.tagTtl]);
  const rules = new Map<string, { prefix: string; upstream: string }>();
  for (const item of raw.split(',')) {
    const entry = item.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      throw new Error(
        `${PULL_THROUGH_ENV.rules}: expected prefix=upstream[,prefix=upstream…] such as hub=https://registry-1.docker.io, got "${entry}"`,
      );
    }
    const prefix = entry.slice(0, eq).trim();
    const upstream = entry
      .slice(eq + 1)
      .trim()
      .replace(/\/+$/, '');
    if (rules.has(prefix)) throw new Error(`${PULL_THROUGH_ENV.rules}: prefix ${prefix} has a rule already`);
    const problem = pullThroughRuleProblem({ prefix, upstream });
    if (problem) throw new Error(`${PULL_THROUGH_ENV.rules}: ${problem}`);
    rules.set(prefix, { prefix, upstream });
  }
  if (rules.size === 0) throw new Error(`${PULL_THROUGH_ENV.rules}: no rule in "${raw}"`);
  const credentials = credentialsFile(env[PULL_THROUGH_ENV.credentials], rules, readFile);
  return [...rules.values()].map((rule) => ({
    ...rule,
    ...(tagTtlSeconds !== undefined ? { tagTtlSeconds } : {}),
    ...(credentials.has(rule.prefix) ? { credentials: credentials.get(rule.prefix) } : {}),
  }));
}

/** One line per rule, for the start-up log: no password. */
export function describePullThrough(rules: readonly LocalPullThroughRule[]): string[] {
  return rules.map(
    (rule) =>
      `pull-through: ${rule.prefix === '*' ? '* (root mirror)' : `${rule.prefix}/…`} -> ${rule.upstream}` +
      (rule.credentials ? ` as ${rule.credentials.username}` : ', anonymous') +
      (rule.allow?.length ? `, allow ${rule.allow.join(' ')}` : '') +
      (rule.tagTtlSeconds !== undefined ? `, tag TTL ${rule.tagTtlSeconds} s` : ''),
  );
}

function tagTtl(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || seconds > 31 * 86_400) {
    throw new Error(`${PULL_THROUGH_ENV.tagTtl} must be whole seconds from 0 to 2678400 (31 days), got "${value}"`);
  }
  return seconds;
}

function credentialsFile(
  path: string | undefined,
  rules: ReadonlyMap<string, unknown>,
  readFile: (path: string) => string,
): Map<string, { username: string; password: string }> {
  const found = new Map<string, { username: string; password: string }>();
  if (path === undefined || path.trim() === '') return found;
  const name = PULL_THROUGH_ENV.credentials;
  let text: string;
  try {
    text = readFile(path.trim());
  } catch (err) {
    throw new Error(`${name}: cannot read ${path.trim()}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const content = line.trim();
    if (content === '' || content.startsWith('#')) continue;
    const where = `${name} ${path.trim()} line ${i + 1}`;
    const m = /^(\S+)\s+(\S+)\s+(.+)$/.exec(content);
    if (!m) throw new Error(`${where}: expected "<prefix> <username> <password>"`);
    const [, prefix = '', username = '', password = ''] = m;
    if (!rules.has(prefix)) {
      throw new Error(`${where}: prefix ${prefix} has no rule in ${PULL_THROUGH_ENV.rules}`);
    }
    if (found.has(prefix)) throw new Error(`${where}: prefix ${prefix} has credentials already`);
    found.set(prefix, { username, password });
  }
  return found;
}
