import { keyIdOf, kmsTokenKeys } from '../../adapters/kms/kms-token-keys';
import type { TokenKeys } from '../../core/ports/token-keys';
import { TokenKeysOnFirstUse } from './on-first-use';

/**
 * The token keys in KMS, the client created for the first signature (the token service) or public
 * key (the functions that check tokens, once per key and execution environment). Undefined without
 * keys (auth off, or basic). A malformed key ARN fails here, when the services are composed.
 */
export function kmsTokenKeysOnFirstUse(keyArns: readonly string[]): TokenKeys | undefined {
  if (keyArns.length === 0) return undefined;
  return new TokenKeysOnFirstUse(keyArns.map(keyIdOf), () => kmsTokenKeys(keyArns));
}
