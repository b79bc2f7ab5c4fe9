import { matchesPattern } from './auth/access';

/** Tags of matching repositories that may not be moved once set (they may still be deleted). */
export interface ImmutableTagRule {
  readonly repository: string;
  readonly tag: string;
}

/** Keep the newest `keepLast` tags matching `tag` in repositories matching `repository`. */
export interface TagRetentionRule {
  readonly repository: string;
  readonly tag: string;
  readonly keepLast: number;
}

/**
 * The registry's lifecycle policy: stack props give the defaults, the admin CLI stores additions in
 * the metadata table, and both apply (rules are the union; a stored untagged retention or not-pulled age wins).
 */
export interface RegistryPolicy {
  readonly immutableTags: readonly ImmutableTagRule[];
  readonly tagRetention: readonly TagRetentionRule[];
  /** Days an untagged manifest is kept; null keeps untagged manifests forever. */
  readonly untaggedRetentionDays: number | null;
  /**
   * Manifests (tagged or not) neither pulled nor pushed for this many days go, with their tags; null:
   * no such rule.
   */
  readonly notPulledForDays: number | null;
}

export const EMPTY_POLICY: RegistryPolicy = {
  immutableTags: [],
  tagRetention: [],
  untaggedRetentionDays: null,
  notPulledForDays: null,
};

/** Defaults and stored additions as one policy. */
export function mergePolicy(defaults: RegistryPolicy, stored: Partial<RegistryPolicy> | undefined): RegistryPolicy {
  return {
    immutableTags: [...defaults.immutableTags, ...(stored?.immutableTags ?? [])],
    tagRetention: [...defaults.tagRetention, ...(stored?.tagRetention ?? [])],
    untaggedRetentionDays:
      stored?.untaggedRetentionDays !== undefined ? stored.untaggedRetentionDays : defaults.untaggedRetentionDays,
    notPulledForDays: stored?.notPulledForDays !== undefined ? stored.notPulledForDays : defaults.notPulledForDays,
  };
}

export function isImmutable(policy: RegistryPolicy, repository: string, tag: string): boolean {
  return policy.immutableTags.some((r) => matchesPattern(r.repository, repository) && matchesPattern(r.tag, tag));
}
