import { keyIdOf } from '../../adapters/kms/kms-keys';
import { kmsPublicKeys } from '../../adapters/kms/kms-public-keys';
import { kmsTokenKeys } from '../../adapters/kms/kms-token-keys';
import type { TokenKeys } from '../../core/ports/token-keys';
import { TokenKeysOnFirstUse } from './on-first-use';

/**
 * The token keys in KMS as the code that checks tokens needs them (every function but the token
 * service, and the uploader): public keys only, the KMS call made for the first public key (once
 * per key and execution environment), with no KMS client in the bundle (adapters/kms/kms-public-keys.ts).
 * Undefined without keys (auth off, or basic). A malformed key ARN fails here, when the services
 * are composed.
 */
export function kmsTokenKeysOnFirstUse(keyArns: readonly string[]): TokenKeys | undefined {
  if (keyArns.length === 0) return undefined;
  return new TokenKeysOnFirstUse(keyArns.map(keyIdOf), () => kmsPublicKeys(keyArns));
}

/**
 * The token keys in KMS as the token service needs them: it signs (`kms:Sign`) as well, through the
 * SDK's KMS client, created for the first signature or public key.
 */
export function kmsSigningKeysOnFirstUse(keyArns: readonly string[]): TokenKeys | undefined {
  if (keyArns.length === 0) return undefined;
  return new TokenKeysOnFirstUse(keyArns.map(keyIdOf), () => kmsTokenKeys(keyArns));
}
