import { isValidName } from '../names';

/**
 * What a request may do, in the terms of the Docker token spec: resource scopes
 * (`repository:<name>:<actions>`, `registry:catalog:*`), the rules that grant them per repository
 * pattern, and the intersection the token service hands out.
 * @see https://distribution.github.io/distribution/spec/auth/scope/
 */

/** Repository actions a rule can grant. */
export const REPOSITORY_ACTIONS = ['pull', 'push', 'delete'] as const;
export type RepositoryAction = (typeof REPOSITORY_ACTIONS)[number];

/** One entry of a token's `access` claim. */
export interface AccessEntry {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** A permission rule: the actions granted on every repository whose name matches the pattern. */
export interface AccessRule {
  /** A repository name where `*` stands for any run of characters, `/` included (`team/*`, `*`). */
  readonly pattern: string;
  readonly actions: readonly RepositoryAction[];
}

/** The catalog lists every repository, so only a rule that may pull everything grants it. */
export const CATALOG: AccessEntry = { type: 'registry', name: 'catalog', actions: ['*'] };

const SCOPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?:(.+):([a-z*]+(?:,[a-z*]+)*)$/;

/**
 * Parses one scope; names may contain a `:` (a host with a port), so the actions are taken from the
 * last `:` and the type from the first. Unknown forms yield undefined and are ignored, as the spec
 * asks of registries and token services alike.
 */
export function parseScope(scope: string): AccessEntry | undefined {
  const m = SCOPE.exec(scope);
  if (!m) return undefined;
  const [, type, , name, actions] = m as unknown as [string, string, string | undefined, string, string];
  return { type, name, actions: [...new Set(actions.split(','))] };
}

/** Parses every scope of `scope` query parameters, which may each hold several separated by spaces. */
export function parseScopes(values: readonly string[]): AccessEntry[] {
  return values.flatMap((v) => v.split(' ')).flatMap((s) => parseScope(s) ?? []);
}

export function formatScope(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}

/** True when the pattern covers the repository name. */
export function matchesPattern(pattern: string, name: string): boolean {
  const parts = pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`).test(name);
}

/** The repository actions the rules grant on one name. */
export function actionsFor(rules: readonly AccessRule[], name: string): Set<RepositoryAction> {
  const granted = new Set<RepositoryAction>();
  for (const rule of rules) if (matchesPattern(rule.pattern, name)) for (const a of rule.actions) granted.add(a);
  return granted;
}

/**
 * The part of each requested entry the rules allow; entries left with no action are kept empty.
 * Names outside the OCI grammar (`..`, `%2F`, uppercase, over-long) are granted nothing.
 */
export function intersect(requested: readonly AccessEntry[], rules: readonly AccessRule[]): AccessEntry[] {
  const merged = new Map<string, Set<string>>();
  for (const entry of requested) {
    const key = `${entry.type}:${entry.name}`;
    const actions = merged.get(key) ?? new Set<string>();
    merged.set(key, actions);
    if (entry.type === 'repository' && isValidName(entry.name)) {
      const allowed = actionsFor(rules, entry.name);
      for (const a of entry.actions) if (allowed.has(a as RepositoryAction)) actions.add(a);
    } else if (entry.type === CATALOG.type && entry.name === CATALOG.name && canListCatalog(rules)) {
      for (const a of entry.actions) if (a === '*') actions.add(a);
    }
  }
  return [...merged].map(([key, actions]) => {
    const i = key.indexOf(':');
    return { type: key.slice(0, i), name: key.slice(i + 1), actions: [...actions] };
  });
}

function canListCatalog(rules: readonly AccessRule[]): boolean {
  return rules.some((r) => r.pattern === '*' && r.actions.includes('pull'));
}

/** What a request holds: checked against what its route needs. */
export interface Grant {
  allows(entry: AccessEntry, action: string): boolean;
  /**
   * For a token: whether it names the resource at all. A token that does not was not asked for it,
   * and the client may fetch one that is; a token that names it with fewer actions is the answer.
   */
  mentions?(entry: AccessEntry): boolean;
}

/** A grant from a token's `access` claim. */
export function grantOf(entries: readonly AccessEntry[]): Grant {
  return {
    allows: (needed, action) =>
      entries.some((e) => e.type === needed.type && e.name === needed.name && e.actions.includes(action)),
    mentions: (needed) => entries.some((e) => e.type === needed.type && e.name === needed.name),
  };
}

/** A grant straight from rules (Basic auth, anonymous access, auth off). */
export function grantFromRules(rules: readonly AccessRule[]): Grant {
  return {
    allows: (needed, action) => intersect([{ ...needed, actions: [action] }], rules)[0]!.actions.length > 0,
  };
}

/** Rules that allow everything: the registry with auth off. */
export const ALLOW_ALL: readonly AccessRule[] = [{ pattern: '*', actions: [...REPOSITORY_ACTIONS] }];

/** Keeps only pull: what a read-only user or token may ever do. */
export function readOnly(rules: readonly AccessRule[]): AccessRule[] {
  return rules.flatMap((r) => (r.actions.includes('pull') ? [{ pattern: r.pattern, actions: ['pull' as const] }] : []));
}
