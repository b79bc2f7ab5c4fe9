import { mergePolicy, type RegistryPolicy } from '../policy';
import type { Clock } from '../ports/clock';
import type { PolicyStore } from '../ports/policy';

/**
 * The policy in force: the configured defaults merged with the stored additions, re-read at most
 * once per `ttlMs` per execution environment (a CLI change applies within that time).
 */
export class PolicySource {
  private cached?: { policy: RegistryPolicy; until: number };

  constructor(
    private readonly defaults: RegistryPolicy,
    private readonly store: PolicyStore | undefined,
    private readonly clock: Clock,
    private readonly ttlMs = 60_000,
  ) {}

  async get(): Promise<RegistryPolicy> {
    const now = this.clock.now();
    if (this.cached && this.cached.until > now) return this.cached.policy;
    const policy = mergePolicy(this.defaults, await this.store?.get());
    this.cached = { policy, until: now + this.ttlMs };
    return policy;
  }
}
