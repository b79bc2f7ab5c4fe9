/**
 * What the KMS token key adapters share, with no SDK import: the functions that only verify tokens
 * (kms-public-keys.ts) must not bundle the KMS client through it.
 */

/** Error names of a KMS that is busy rather than refusing the request. */
export const KMS_BUSY = new Set(['ThrottlingException', 'KMSInternalException', 'DependencyTimeoutException']);

/** The key id of a key ARN (`arn:aws:kms:<region>:<account>:key/<id>`), or a bare key id as is. */
export function keyIdOf(arnOrId: string): string {
  const id = /^arn:[^:]+:kms:[^:]*:[^:]*:key\/([^/]+)$/.exec(arnOrId)?.[1] ?? arnOrId;
  if (id === '' || /[:/]/.test(id)) throw new Error(`${arnOrId} is not a KMS key ARN or key id`);
  return id;
}

/** kid → the ARN or key id as configured (what is sent to KMS as KeyId), from key ARNs, signing key first. */
export function keysByKid(keyArns: readonly string[]): Map<string, string> {
  if (keyArns.length === 0) throw new Error('KmsTokenKeys needs at least one KMS key');
  return new Map(keyArns.map((arn) => [keyIdOf(arn), arn]));
}

/** GetPublicKey's answer, as far as token keys read it. */
export interface PublicKeyAnswer {
  readonly KeySpec?: string;
  /** The older name of `KeySpec`; some emulators (moto) send only this. */
  readonly CustomerMasterKeySpec?: string;
  readonly KeyUsage?: string;
}

/** Refuses a key that cannot sign tokens: ES256 needs an ECC_NIST_P256 key for SIGN_VERIFY. */
export function checkTokenKey(keyId: string, out: PublicKeyAnswer): void {
  const spec = out.KeySpec ?? out.CustomerMasterKeySpec;
  if (spec !== 'ECC_NIST_P256' || out.KeyUsage !== 'SIGN_VERIFY')
    throw new Error(
      `KMS key ${keyId} is ${spec ?? 'of unknown spec'} for ${out.KeyUsage ?? 'unknown usage'}; ` +
        'token keys must be ECC_NIST_P256 keys for SIGN_VERIFY',
    );
}

/**
 * Public keys never change for a key id, so each is fetched once per object (cold start); a failed
 * lookup (throttling, a key not yet usable) is forgotten, so it does not stick for the life of the
 * execution environment.
 */
export class PublicKeyCache {
  private readonly fetched = new Map<string, Promise<Uint8Array>>();

  get(kid: string, fetch: () => Promise<Uint8Array>): Promise<Uint8Array> {
    let spki = this.fetched.get(kid);
    if (!spki) {
      spki = fetch();
      this.fetched.set(kid, spki);
      spki.catch(() => this.fetched.delete(kid));
    }
    return spki;
  }
}
