import { UnavailableError } from '../../core/errors';
import type { TokenKeys } from '../../core/ports/token-keys';
import { AwsJsonClient, AwsServiceError, type AwsJsonClientOptions } from '../aws-json/aws-json-client';
import { classifyOutage } from '../outage';
import { checkTokenKey, KMS_BUSY, keyIdOf, keysByKid, PublicKeyCache, type PublicKeyAnswer } from './kms-keys';

/** KMS as the JSON protocol names it. */
export const KMS_SERVICE = {
  signingName: 'kms',
  targetPrefix: 'TrentService',
  jsonVersion: '1.1',
  endpointEnvId: 'KMS',
} as const;

/**
 * The token keys in KMS as the code that only checks tokens sees them (every function but the token
 * service, and the uploader): their public keys, through `kms:GetPublicKey`, once per key and
 * execution environment, and no signing. It calls KMS with AwsJsonClient, so those functions bundle
 * no KMS client; the token service, which signs, keeps KmsTokenKeys and the SDK's.
 */
export class KmsPublicKeys implements TokenKeys {
  private readonly keys: Map<string, string>;
  private readonly signingKid: string;
  private readonly publicKeys = new PublicKeyCache();

  /** `keyArns`: key ARNs or bare key ids, signing key first, as KmsTokenKeys takes them. */
  constructor(
    private readonly kms: AwsJsonClient,
    keyArns: readonly string[],
  ) {
    this.keys = keysByKid(keyArns);
    this.signingKid = keyIdOf(keyArns[0] as string);
  }

  signingKeyId(): string {
    return this.signingKid;
  }

  async sign(): Promise<Uint8Array> {
    throw new Error('only the token service signs tokens: this code checks them with the public keys');
  }

  async publicKey(kid: string): Promise<Uint8Array | undefined> {
    const keyId = this.keys.get(kid);
    if (keyId === undefined) return undefined;
    return this.publicKeys.get(kid, () => this.fetchPublicKey(keyId));
  }

  private async fetchPublicKey(keyId: string): Promise<Uint8Array> {
    let out: PublicKeyAnswer & { PublicKey?: string };
    try {
      out = await this.kms.call('GetPublicKey', { KeyId: keyId });
    } catch (err) {
      // What the retries did not get past: KMS busy or not answering is worth a retry by the client.
      if ((err instanceof AwsServiceError && KMS_BUSY.has(err.name)) || classifyOutage(err))
        throw new UnavailableError('the key service is busy; retry shortly', 1, err);
      throw err;
    }
    checkTokenKey(keyId, out);
    if (!out.PublicKey) throw new Error(`KMS returned no public key for ${keyId}`);
    return new Uint8Array(Buffer.from(out.PublicKey, 'base64'));
  }
}

/** The public keys of `keyArns` through a client configured from the environment (region, credentials). */
export function kmsPublicKeys(keyArns: readonly string[], options?: AwsJsonClientOptions): KmsPublicKeys {
  return new KmsPublicKeys(new AwsJsonClient(KMS_SERVICE, options), keyArns);
}
