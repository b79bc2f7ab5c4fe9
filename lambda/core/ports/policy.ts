import type { RegistryPolicy } from '../policy';

/** Where the admin CLI keeps its additions to the lifecycle policy (one item of the metadata table). */
export interface PolicyStore {
  get(): Promise<Partial<RegistryPolicy> | undefined>;
  put(policy: Partial<RegistryPolicy>): Promise<void>;
}
