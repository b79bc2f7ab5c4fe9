/**
 * Pull-through cache rules (docs/pull-through-cache.md): the contract between the CDK stack, which
 * writes them into `REGISTRY_PULL_THROUGH` as JSON, and the functions and the uploader, which read
 * them. No imports beyond this folder's, so `lib/` may use it.
 */

/** One upstream registry mirrored under a prefix of our name space. */
export interface PullThroughRule {
  /**
   * The first component of our repository names that this rule serves (`hub` serves
   * `hub/library/nginx` from the upstream's `library/nginx`), or `*` to mirror the upstream at the
   * root of the name space (the Docker daemon's `registry-mirrors`), for names no repository of ours has.
   */
  readonly prefix: string;
  /** The upstream registry's origin, `https://registry-1.docker.io`. */
  readonly upstream: string;
  /** Upstream repository patterns that may be fetched (`library/*`); absent: any. */
  readonly allow?: readonly string[];
  /** How long a tag is served without asking the upstream. @default 3600 */
  readonly tagTtlSeconds?: number;
  /**
   * ARN of a Secrets Manager secret whose `SecretString` is `{"username": …, "password": …}`, the
   * upstream credentials; absent: anonymous pulls.
   */
  readonly credentialsSecret?: string;
}

export const DEFAULT_TAG_TTL_SECONDS = 3600;

/** Docker Hub's registry host: a one-component repository there is `library/<name>`. */
export const DOCKER_HUB_HOSTS: readonly string[] = ['registry-1.docker.io', 'index.docker.io', 'docker.io'];

const PREFIX = /^(\*|[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)$/;
const PATTERN = /^[a-z0-9*._\-/]+$/;

/**
 * Parses and checks `REGISTRY_PULL_THROUGH`; each problem is pushed to `problems` (the config's
 * one-line error). Undefined or empty: no rules.
 */
export function parsePullThroughRules(raw: string | undefined, problems: string[]): PullThroughRule[] {
  if (raw === undefined || raw.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    problems.push('REGISTRY_PULL_THROUGH must be a JSON array of rules');
    return [];
  }
  if (!Array.isArray(value)) {
    problems.push('REGISTRY_PULL_THROUGH must be a JSON array of rules');
    return [];
  }
  const rules: PullThroughRule[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of value.entries()) {
    const where = `REGISTRY_PULL_THROUGH[${i}]`;
    const problem = pullThroughRuleProblem(entry);
    if (problem) {
      problems.push(`${where}: ${problem}`);
      continue;
    }
    const rule = entry as PullThroughRule;
    if (seen.has(rule.prefix)) problems.push(`${where}: prefix ${rule.prefix} has a rule already`);
    seen.add(rule.prefix);
    rules.push({ ...rule, upstream: rule.upstream.replace(/\/+$/, '') });
  }
  return rules;
}

/** What is wrong with one rule, or undefined; shared with the stack's prop validation. */
export function pullThroughRuleProblem(entry: unknown): string | undefined {
  if (typeof entry !== 'object' || entry === null) return 'a rule is an object';
  const rule = entry as Record<string, unknown>;
  if (typeof rule.prefix !== 'string' || !PREFIX.test(rule.prefix)) {
    return `prefix must be one repository name component (lower-case letters, digits, separators) or *, got ${JSON.stringify(rule.prefix)}`;
  }
  if (typeof rule.upstream !== 'string' || !/^https?:\/\/[^/?#\s]+\/?$/.test(rule.upstream)) {
    return `upstream must be an http(s) origin such as https://registry-1.docker.io, got ${JSON.stringify(rule.upstream)}`;
  }
  if (
    rule.allow !== undefined &&
    (!Array.isArray(rule.allow) || rule.allow.some((p) => typeof p !== 'string' || !PATTERN.test(p)))
  ) {
    return 'allow must be a list of repository patterns such as library/*';
  }
  const ttl = rule.tagTtlSeconds;
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > 31 * 86_400)) {
    return 'tagTtlSeconds must be an integer from 0 to 2678400 (31 days)';
  }
  if (
    rule.credentialsSecret !== undefined &&
    (typeof rule.credentialsSecret !== 'string' ||
      !/^arn:[^:]+:secretsmanager:[^:]*:\d*:secret:.+$/.test(rule.credentialsSecret))
  ) {
    return 'credentialsSecret must be a Secrets Manager secret ARN';
  }
  return undefined;
}
