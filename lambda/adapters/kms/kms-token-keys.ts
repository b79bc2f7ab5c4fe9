import { GetPublicKeyCommand, KMSClient, KMSServiceException, SignCommand } from '@aws-sdk/client-kms';
import { derToJose } from 'ecdsa-sig-formatter';
import { UnavailableError } from '../../core/errors';
import type { TokenKeys } from '../../core/ports/token-keys';
import { checkTokenKey, KMS_BUSY, keyIdOf, keysByKid, PublicKeyCache } from './kms-keys';

export { keyIdOf } from './kms-keys';

/** KMS signs at most this many bytes as a RAW message; a longer signing input would need DIGEST. */
const MAX_RAW_MESSAGE = 4096;

/**
 * The token keys in KMS: ECC_NIST_P256 keys with usage SIGN_VERIFY, whose private halves never
 * leave KMS. The first key signs; the others are older keys still trusted while tokens they signed
 * are alive, so a rotation is "prepend the new key, drop the oldest later". A `kid` is the key id
 * (the UUID of the key ARN), which names the key without revealing the account.
 * https://docs.aws.amazon.com/kms/latest/developerguide/symmetric-asymmetric.html
 */
export class KmsTokenKeys implements TokenKeys {
  /** kid → the ARN or key id as configured, which is what is sent to KMS as KeyId. */
  private readonly keys: Map<string, string>;
  private readonly signingKid: string;
  private readonly publicKeys = new PublicKeyCache();

  /** `keyArns`: key ARNs or bare key ids, signing key first. Aliases cannot serve as a `kid`. */
  constructor(
    private readonly client: KMSClient,
    keyArns: readonly string[],
  ) {
    this.keys = keysByKid(keyArns);
    this.signingKid = keyIdOf(keyArns[0] as string);
  }

  signingKeyId(): string {
    return this.signingKid;
  }

  async sign(kid: string, signingInput: Uint8Array): Promise<Uint8Array> {
    const keyId = this.keys.get(kid);
    if (keyId === undefined) throw new Error(`no configured KMS key has the id ${kid}`);
    if (signingInput.length > MAX_RAW_MESSAGE)
      throw new Error(`a token of ${signingInput.length} bytes is over the ${MAX_RAW_MESSAGE} bytes KMS signs`);
    const out = await call(() =>
      this.client.send(
        new SignCommand({
          KeyId: keyId,
          Message: signingInput,
          MessageType: 'RAW',
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      ),
    );
    if (!out.Signature) throw new Error('KMS returned no signature');
    // KMS answers with the DER form of (r, s); JWS wants both as fixed 32-byte big-endian integers.
    // derToJose needs a Buffer: it reads a Uint8Array as a base64 string.
    return Buffer.from(derToJose(Buffer.from(out.Signature), 'ES256'), 'base64url');
  }

  async publicKey(kid: string): Promise<Uint8Array | undefined> {
    const keyId = this.keys.get(kid);
    if (keyId === undefined) return undefined;
    return this.publicKeys.get(kid, () => this.fetchPublicKey(keyId));
  }

  private async fetchPublicKey(keyId: string): Promise<Uint8Array> {
    const out = await call(() => this.client.send(new GetPublicKeyCommand({ KeyId: keyId })));
    checkTokenKey(keyId, out);
    if (!out.PublicKey) throw new Error(`KMS returned no public key for ${keyId}`);
    return out.PublicKey;
  }
}

/** Runs one KMS call; throttling becomes UnavailableError so the client retries. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof KMSServiceException && KMS_BUSY.has(err.name))
      throw new UnavailableError('the key service is busy; retry shortly', 1);
    throw err;
  }
}

/** Token keys in KMS through a client configured from the environment (region, credentials). */
export function kmsTokenKeys(keyArns: readonly string[]): KmsTokenKeys {
  return new KmsTokenKeys(new KMSClient({}), keyArns);
}
