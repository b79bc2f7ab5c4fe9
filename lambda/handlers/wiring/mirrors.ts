import type { RegistryConfig } from '../../config/config';
import type { Services } from '../../http/services';

/** The rules as `GET /` lists them (`mirrors`), without credentials. */
export function registryMirrors(config: Pick<RegistryConfig, 'pullThrough'>): Pick<Services, 'mirrors'> {
  const rules = config.pullThrough?.rules;
  if (!rules?.length) return {};
  return {
    mirrors: rules.map((r) => ({
      repositories: r.prefix === '*' ? '*' : `${r.prefix}/*`,
      upstream: r.upstream,
      ...(r.allow ? { allow: r.allow } : {}),
    })),
  };
}
