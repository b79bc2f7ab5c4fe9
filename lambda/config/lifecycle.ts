/**
 * Lifecycle settings as environment variables and CLI arguments carry them. No imports, so `lib/`
 * may use it.
 */

export interface LifecycleConfig {
  /** Seconds garbage collection leaves anything written or referenced alone. */
  readonly gcGraceSeconds: number;
  /** Days untagged manifests are kept; null keeps them forever. */
  readonly untaggedRetentionDays: number | null;
  readonly immutableTags: readonly { readonly repository: string; readonly tag: string }[];
  readonly tagRetention: readonly { readonly repository: string; readonly tag: string; readonly keepLast: number }[];
  /** Days after which a manifest neither pulled nor pushed goes; null: no such rule. */
  readonly notPulledForDays: number | null;
}

export const LIFECYCLE_DEFAULTS: LifecycleConfig = {
  gcGraceSeconds: 86_400,
  untaggedRetentionDays: 7,
  immutableTags: [],
  tagRetention: [],
  notPulledForDays: null,
};

/**
 * A not-pulled age as the environment and the CLI write it: a whole number of days, at least 1, or
 * `off` (also an empty value) for no such rule.
 * @throws Error saying what is expected.
 */
export function parseNotPulledDays(text: string): number | null {
  if (text === '' || text === 'off') return null;
  const days = Number(text);
  if (!/^\d+$/.test(text) || days < 1) throw new Error(`a number of days (at least 1) or "off", got "${text}"`);
  return days;
}

const RULE = /^([a-z0-9*][a-z0-9._/*-]*):([A-Za-z0-9_*][A-Za-z0-9._*-]*)(?:=(\d+))?$/;

/**
 * Parses rules written as `<repository pattern>:<tag pattern>[=<keep last N>]`, comma-separated,
 * e.g. `prod/*:v*` (immutable tags) or `ci/*:build-*=10` (keep the newest 10).
 * @throws Error naming the rule that does not parse.
 */
export function parseRules(text: string): { repository: string; tag: string; keepLast?: number }[] {
  return text
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean)
    .map((rule) => {
      const m = RULE.exec(rule);
      if (!m) throw new Error(`"${rule}" is not a rule of the form <repository pattern>:<tag pattern>[=<keep last>]`);
      return { repository: m[1]!, tag: m[2]!, ...(m[3] !== undefined ? { keepLast: Number(m[3]) } : {}) };
    });
}

/** Reads the lifecycle variables; problems are appended to `problems`. */
export function loadLifecycle(
  env: Readonly<Record<string, string | undefined>>,
  names: { grace: string; untagged: string; immutable: string; retention: string; notPulled?: string },
  problems: string[],
): LifecycleConfig {
  const rules = (name: string) => {
    try {
      return parseRules(env[name] ?? '');
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
      return [];
    }
  };
  const graceRaw = env[names.grace];
  const grace = graceRaw ? Number(graceRaw) : LIFECYCLE_DEFAULTS.gcGraceSeconds;
  if (!Number.isInteger(grace) || grace < 3600) {
    problems.push(`${names.grace} must be a whole number of seconds, at least 3600, got "${graceRaw}"`);
  }
  const untaggedRaw = env[names.untagged];
  let untagged: number | null = LIFECYCLE_DEFAULTS.untaggedRetentionDays;
  if (untaggedRaw === 'never') untagged = null;
  else if (untaggedRaw) {
    untagged = Number(untaggedRaw);
    if (!Number.isInteger(untagged) || untagged < 0) {
      problems.push(`${names.untagged} must be a number of days or "never", got "${untaggedRaw}"`);
    }
  }
  const retention = rules(names.retention);
  for (const r of retention) {
    if (r.keepLast === undefined) problems.push(`${names.retention}: "${r.repository}:${r.tag}" needs =<keep last>`);
  }
  let notPulled = LIFECYCLE_DEFAULTS.notPulledForDays;
  if (names.notPulled) {
    try {
      notPulled = parseNotPulledDays(env[names.notPulled] ?? '');
    } catch (err) {
      problems.push(`${names.notPulled} must be ${(err as Error).message}`);
    }
  }
  return {
    gcGraceSeconds: grace,
    untaggedRetentionDays: untagged,
    immutableTags: rules(names.immutable).map(({ repository, tag }) => ({ repository, tag })),
    tagRetention: retention.map((r) => ({ repository: r.repository, tag: r.tag, keepLast: r.keepLast ?? 0 })),
    notPulledForDays: notPulled,
  };
}
